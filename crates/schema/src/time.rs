//! [`Timestamp`]: microseconds since the Unix epoch, written as RFC 3339.
//!
//! The calendar arithmetic is Howard Hinnant's `days_from_civil` /
//! `civil_from_days` (proleptic Gregorian, no leap seconds), written out here
//! so the crate needs no date library for one conversion.

use std::fmt;
use std::str::FromStr;

use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

const MICROS_PER_SECOND: i64 = 1_000_000;
const MICROS_PER_DAY: i64 = 86_400 * MICROS_PER_SECOND;
/// Days from 0000-03-01 to 1970-01-01, the shift in Hinnant's algorithms.
const EPOCH_SHIFT_DAYS: i64 = 719_468;
const DAYS_PER_ERA: i64 = 146_097;

/// Why a time could not be represented or parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TimeError {
    /// The instant falls outside years 0000..=9999, which RFC 3339 cannot
    /// write.
    #[error("{micros} us since the epoch is outside RFC 3339 years 0000..=9999")]
    OutOfRange {
        /// The rejected microseconds since the epoch.
        micros: i64,
    },
    /// The text is not `YYYY-MM-DDTHH:MM:SS[.f{1,6}]Z` naming a real instant.
    #[error("not an RFC 3339 UTC time ({reason}): {text:?}")]
    Malformed {
        /// The rejected text.
        text: String,
        /// Which rule it broke.
        reason: &'static str,
    },
}

/// An instant in UTC, microseconds since 1970-01-01T00:00:00Z, without leap
/// seconds, limited to years 0000..=9999.
///
/// The limit is enforced at construction so that every `Timestamp` has an
/// RFC 3339 form and formatting cannot fail.
///
/// Human-readable formats (JSON) carry it as `"2026-11-27T23:15:00.123456Z"`,
/// always with six fractional digits; binary formats (postcard) carry the
/// `i64` itself, which is what thin links want.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(i64);

impl Timestamp {
    /// 1970-01-01T00:00:00Z.
    pub const UNIX_EPOCH: Timestamp = Timestamp(0);
    /// 0000-01-01T00:00:00.000000Z, the earliest representable instant.
    pub const MIN: Timestamp = Timestamp(-62_167_219_200 * MICROS_PER_SECOND);
    /// 9999-12-31T23:59:59.999999Z, the latest representable instant.
    pub const MAX: Timestamp = Timestamp(253_402_300_800 * MICROS_PER_SECOND - 1);

    /// The instant `micros` microseconds after the Unix epoch (negative is
    /// before it).
    pub const fn from_unix_micros(micros: i64) -> Result<Self, TimeError> {
        if micros < Self::MIN.0 || micros > Self::MAX.0 {
            return Err(TimeError::OutOfRange { micros });
        }
        Ok(Timestamp(micros))
    }

    /// Microseconds since the Unix epoch.
    pub const fn as_unix_micros(self) -> i64 {
        self.0
    }

    /// This instant moved by `micros`, clamped to [`Self::MIN`]..=[`Self::MAX`].
    pub const fn saturating_add_micros(self, micros: i64) -> Self {
        let moved = self.0.saturating_add(micros);
        if moved < Self::MIN.0 {
            Self::MIN
        } else if moved > Self::MAX.0 {
            Self::MAX
        } else {
            Timestamp(moved)
        }
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Hinnant).
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let (month, day) = (i64::from(month), i64::from(day));
    // Counting years from March puts the leap day last, so a year's length
    // only matters at its very end.
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year.rem_euclid(400);
    let day_of_year = (153 * (if month > 2 { month - 3 } else { month + 9 }) + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * DAYS_PER_ERA + day_of_era - EPOCH_SHIFT_DAYS
}

/// The proleptic Gregorian (year, month, day) of a day count since
/// 1970-01-01 (Hinnant).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let shifted = days + EPOCH_SHIFT_DAYS;
    let era = shifted.div_euclid(DAYS_PER_ERA);
    let day_of_era = shifted.rem_euclid(DAYS_PER_ERA);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_from_march = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_from_march + 2) / 5 + 1;
    let month = if month_from_march < 10 {
        month_from_march + 3
    } else {
        month_from_march - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    // Both are small by construction: month 1..=12, day 1..=31.
    (year, month as u32, day as u32)
}

fn is_leap_year(year: i64) -> bool {
    year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
}

fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        2 if is_leap_year(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Length of the RFC 3339 form, `YYYY-MM-DDTHH:MM:SS.ffffffZ`.
const RFC3339_LEN: usize = 27;

/// Writes `value` as `field.len()` decimal digits, zero-padded (the
/// callers' fields are wide enough by construction).
fn put_digits(field: &mut [u8], mut value: i64) {
    for byte in field.iter_mut().rev() {
        *byte = b'0' + (value % 10) as u8;
        value /= 10;
    }
}

impl Timestamp {
    /// The RFC 3339 form as ASCII, written digit by digit into a fixed
    /// buffer: every JSON message carries timestamps, and going through
    /// `fmt` with padded integers (and serde_json's `collect_str`, which
    /// escapes each formatted piece) cost a third of encoding a track
    /// message.
    fn rfc3339(self) -> [u8; RFC3339_LEN] {
        let days = self.0.div_euclid(MICROS_PER_DAY);
        let micros_of_day = self.0.rem_euclid(MICROS_PER_DAY);
        let (year, month, day) = civil_from_days(days);
        let seconds_of_day = micros_of_day / MICROS_PER_SECOND;
        let mut text = *b"0000-00-00T00:00:00.000000Z";
        // Construction keeps the year in 0..=9999, so four digits hold it.
        put_digits(&mut text[0..4], year);
        put_digits(&mut text[5..7], i64::from(month));
        put_digits(&mut text[8..10], i64::from(day));
        put_digits(&mut text[11..13], seconds_of_day / 3600);
        put_digits(&mut text[14..16], seconds_of_day / 60 % 60);
        put_digits(&mut text[17..19], seconds_of_day % 60);
        put_digits(&mut text[20..26], micros_of_day % MICROS_PER_SECOND);
        text
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = self.rfc3339();
        // Always ASCII, so never the error.
        f.pad(std::str::from_utf8(&text).map_err(|_| fmt::Error)?)
    }
}

/// Reads a fixed-width run of ASCII digits.
fn digits(text: &[u8], range: std::ops::Range<usize>) -> Option<u32> {
    let field = text.get(range)?;
    field.iter().try_fold(0u32, |value, &byte| {
        byte.is_ascii_digit()
            .then(|| value * 10 + u32::from(byte - b'0'))
    })
}

impl FromStr for Timestamp {
    type Err = TimeError;

    /// Parses `YYYY-MM-DDTHH:MM:SS[.f]Z` with 1 to 6 fractional digits.
    ///
    /// Strict on purpose: only `Z` (publishers work in UTC, so an offset
    /// means a bug upstream), upper-case `T` and `Z`, no leap second, no
    /// sub-microsecond digits that would be silently dropped.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let malformed = |reason| TimeError::Malformed {
            text: text.to_owned(),
            reason,
        };
        let bytes = text.as_bytes();
        let separators = [(4, b'-'), (7, b'-'), (10, b'T'), (13, b':'), (16, b':')];
        if bytes.len() < 20 || separators.iter().any(|&(at, sep)| bytes[at] != sep) {
            return Err(malformed("layout"));
        }
        let field = |range| digits(bytes, range).ok_or_else(|| malformed("non-digit"));
        let (year, month, day) = (field(0..4)?, field(5..7)?, field(8..10)?);
        let (hour, minute, second) = (field(11..13)?, field(14..16)?, field(17..19)?);
        let year = i64::from(year);
        if !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month) {
            return Err(malformed("no such date"));
        }
        if hour > 23 || minute > 59 || second > 59 {
            return Err(malformed("no such time of day"));
        }
        let fraction_micros = match &bytes[19..] {
            b"Z" => 0,
            [b'.', fraction @ .., b'Z'] if (1..=6).contains(&fraction.len()) => {
                let value = digits(fraction, 0..fraction.len())
                    .ok_or_else(|| malformed("non-digit fraction"))?;
                // Scale "5" (tenths) up to 500000 microseconds.
                value * 10u32.pow(6 - fraction.len() as u32)
            }
            _ => return Err(malformed("fraction or zone")),
        };
        let seconds = days_from_civil(year, month, day) * 86_400
            + i64::from(hour * 3600 + minute * 60 + second);
        Timestamp::from_unix_micros(seconds * MICROS_PER_SECOND + i64::from(fraction_micros))
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if serializer.is_human_readable() {
            let text = self.rfc3339();
            // Always ASCII; the error arm only satisfies the type.
            let text = std::str::from_utf8(&text).map_err(serde::ser::Error::custom)?;
            serializer.serialize_str(text)
        } else {
            serializer.serialize_i64(self.0)
        }
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        if deserializer.is_human_readable() {
            deserializer.deserialize_str(Rfc3339Visitor)
        } else {
            let micros = i64::deserialize(deserializer)?;
            Timestamp::from_unix_micros(micros).map_err(de::Error::custom)
        }
    }
}

struct Rfc3339Visitor;

impl Visitor<'_> for Rfc3339Visitor {
    type Value = Timestamp;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an RFC 3339 UTC time such as \"2026-11-27T23:15:00.123456Z\"")
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<Timestamp, E> {
        text.parse().map_err(E::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn at(text: &str) -> Timestamp {
        text.parse().unwrap()
    }

    #[test]
    fn known_instants_format_and_parse() {
        let cases = [
            (0, "1970-01-01T00:00:00.000000Z"),
            (1_795_821_300_123_456, "2026-11-27T23:15:00.123456Z"),
            (951_782_400_000_000, "2000-02-29T00:00:00.000000Z"),
            (-1, "1969-12-31T23:59:59.999999Z"),
            (-2_208_988_800_000_000, "1900-01-01T00:00:00.000000Z"),
            (-5_364_662_400_000_000, "1800-01-01T00:00:00.000000Z"),
            (Timestamp::MIN.0, "0000-01-01T00:00:00.000000Z"),
            (Timestamp::MAX.0, "9999-12-31T23:59:59.999999Z"),
            (4_107_542_400_000_000, "2100-03-01T00:00:00.000000Z"),
        ];
        for (micros, text) in cases {
            let time = Timestamp::from_unix_micros(micros).unwrap();
            assert_eq!(time.to_string(), text, "{micros}");
            assert_eq!(at(text), time, "{text}");
        }
    }

    #[test]
    fn leap_days_exist_only_in_leap_years() {
        for year in ["2000", "2024", "1600", "0000", "2400"] {
            assert!(
                format!("{year}-02-29T00:00:00Z")
                    .parse::<Timestamp>()
                    .is_ok()
            );
        }
        for year in ["1900", "2100", "2023", "1700"] {
            assert!(
                format!("{year}-02-29T00:00:00Z")
                    .parse::<Timestamp>()
                    .is_err()
            );
        }
        // The day after a leap day is March 1st, in both directions.
        let leap_day = at("2024-02-29T12:00:00Z");
        let next = leap_day.saturating_add_micros(MICROS_PER_DAY);
        assert_eq!(next.to_string(), "2024-03-01T12:00:00.000000Z");
    }

    #[test]
    fn short_fractions_scale_to_microseconds() {
        assert_eq!(
            at("2026-01-01T00:00:00.5Z"),
            at("2026-01-01T00:00:00.500000Z")
        );
        assert_eq!(
            at("2026-01-01T00:00:00.000001Z").0 - at("2026-01-01T00:00:00Z").0,
            1
        );
    }

    #[test]
    fn rejects_loose_or_impossible_text() {
        for text in [
            "",
            "2026-11-27",
            "2026-11-27T23:15:00",
            "2026-11-27t23:15:00Z",
            "2026-11-27T23:15:00z",
            "2026-11-27 23:15:00Z",
            "2026-11-27T23:15:00+00:00",
            "2026-11-27T23:15:00.Z",
            "2026-11-27T23:15:00.1234567Z",
            "2026-11-27T23:15:60Z",
            "2026-11-27T24:00:00Z",
            "2026-13-01T00:00:00Z",
            "2026-00-01T00:00:00Z",
            "2026-04-31T00:00:00Z",
            "2026-11-00T00:00:00Z",
            "+2026-11-27T23:15:00Z",
            "2026-1a-27T23:15:00Z",
            "2026-11-27T23:15:00.12a4Z",
            "2026-11-27T23:15:00Zjunk",
            "２026-11-27T23:15:00Z",
        ] {
            assert!(text.parse::<Timestamp>().is_err(), "accepted {text:?}");
        }
    }

    #[test]
    fn range_is_enforced_at_construction_and_by_saturation() {
        assert!(Timestamp::from_unix_micros(Timestamp::MAX.0 + 1).is_err());
        assert!(Timestamp::from_unix_micros(Timestamp::MIN.0 - 1).is_err());
        assert!(Timestamp::from_unix_micros(i64::MIN).is_err());
        assert_eq!(
            Timestamp::MAX.saturating_add_micros(i64::MAX),
            Timestamp::MAX
        );
        assert_eq!(
            Timestamp::MIN.saturating_add_micros(i64::MIN),
            Timestamp::MIN
        );
    }

    #[test]
    fn json_uses_text_and_postcard_uses_the_integer() {
        let time = at("2026-11-27T23:15:00.123456Z");
        let json = serde_json::to_string(&time).unwrap();
        assert_eq!(json, "\"2026-11-27T23:15:00.123456Z\"");
        assert_eq!(serde_json::from_str::<Timestamp>(&json).unwrap(), time);

        let bytes = postcard::to_stdvec(&time).unwrap();
        assert_eq!(bytes, postcard::to_stdvec(&time.0).unwrap());
        assert_eq!(postcard::from_bytes::<Timestamp>(&bytes).unwrap(), time);

        let beyond = postcard::to_stdvec(&(Timestamp::MAX.0 + 1)).unwrap();
        assert!(postcard::from_bytes::<Timestamp>(&beyond).is_err());
        assert!(serde_json::from_str::<Timestamp>("1795821300123456").is_err());
    }

    #[test]
    fn display_honours_width_and_alignment() {
        let time = at("2026-11-27T23:15:00.123456Z");
        assert_eq!(format!("[{time:>29}]"), "[  2026-11-27T23:15:00.123456Z]");
        assert_eq!(format!("[{time:<28}]"), "[2026-11-27T23:15:00.123456Z ]");
    }

    proptest! {
        #[test]
        fn text_round_trips(micros in Timestamp::MIN.0..=Timestamp::MAX.0) {
            let time = Timestamp::from_unix_micros(micros).unwrap();
            prop_assert_eq!(time.to_string().parse::<Timestamp>().unwrap(), time);
            prop_assert_eq!(serde_json::to_string(&time).unwrap(), format!("\"{time}\""));
        }

        #[test]
        fn civil_round_trips_daily(days in -800_000i64..3_000_000) {
            let (year, month, day) = civil_from_days(days);
            prop_assert!((1..=12).contains(&month));
            prop_assert!(day >= 1 && day <= days_in_month(year, month));
            prop_assert_eq!(days_from_civil(year, month, day), days);
        }

        #[test]
        fn text_order_is_time_order(a in Timestamp::MIN.0..=Timestamp::MAX.0,
                                    b in Timestamp::MIN.0..=Timestamp::MAX.0) {
            let (a, b) = (Timestamp(a), Timestamp(b));
            prop_assert_eq!(a.cmp(&b), a.to_string().cmp(&b.to_string()));
        }
    }
}
