//! Cursor-on-Target (CoT 2.0) rendering of tracks for TAK users.
//!
//! | track field | CoT |
//! |---|---|
//! | site, track id | `uid="<prefix>.<site>.track.<id>"`, stable for the track's life |
//! | class | `type`, see [`cot_type`] |
//! | status | `how`: `m-p` (machine, predicted) while coasting, else `m-f` (machine, fused) |
//! | `time` | `time` and `start` |
//! | `time` + stale period | `stale`; a deleted track is stale at once, so TAK drops it |
//! | `position` | `<point lat lon hae>`; `hae` 9999999.0 (CoT's "unknown") without altitude |
//! | `position_covariance` | `ce`: 1-sigma semi-major axis, metres (CoT defines `ce` as a 1-sigma circular error) |
//! | (no vertical error) | `le="9999999.0"` |
//! | `course_deg`, `speed_mps` | `<track course speed>` |
//! | status, class, radiation | `<remarks>` text, and `<contact callsign>` |

use std::fmt::Write;

use crate::message::{TargetClass, TrackMessage, TrackStatus};

/// CoT's value for "unknown" heights and errors.
const UNKNOWN: f64 = 9_999_999.0;

/// The CoT type of a track's class.
///
/// Affiliation is always `u` (unknown): friend or foe is an operator's call,
/// not a sensor's. Dimension is `G` (ground). Within the MIL-STD-2525 tree
/// that CoT types follow:
///
/// | class | type | 2525 meaning |
/// |---|---|---|
/// | person | `a-u-G-U-C-I` | ground unit, combat, infantry: the symbol TAK shows for people on foot |
/// | vehicle | `a-u-G-E-V` | ground equipment, vehicle |
/// | animal | `a-u-G` | ground track (2525 has no animal symbol) |
/// | unknown | `a-u-G` | ground track |
pub const fn cot_type(class: TargetClass) -> &'static str {
    match class {
        TargetClass::Person => "a-u-G-U-C-I",
        TargetClass::Vehicle => "a-u-G-E-V",
        TargetClass::Animal | TargetClass::Unknown => "a-u-G",
    }
}

/// Renders `track` as a standalone CoT `<event>` document.
///
/// `uid_prefix` names the system in the uid (e.g. `"picket"`); it is
/// escaped, like every text from the message. The event goes stale
/// `stale_after_s` seconds after the track's time, so a track that stops
/// being published fades from TAK maps instead of freezing there.
pub fn track_event(track: &TrackMessage, uid_prefix: &str, stale_after_s: u32) -> String {
    let stale = if track.status == TrackStatus::Deleted {
        track.time
    } else {
        track
            .time
            .saturating_add_micros(i64::from(stale_after_s) * 1_000_000)
    };
    let hae = track.position.alt_m.unwrap_or(UNKNOWN);
    let ce = track.position_covariance.semi_major_sigma_m();
    // A coasting track is a prediction with no fresh detection behind it.
    let how = if track.status == TrackStatus::Coasting {
        "m-p"
    } else {
        "m-f"
    };
    let uid = format!("{uid_prefix}.{}.track.{}", track.site, track.track_id);
    let callsign = format!("{} T{}", track.site, track.track_id);

    let mut xml = String::with_capacity(768);
    // `write!` into a String cannot fail; the results are discarded for that
    // reason, not to hide errors.
    xml.push_str(r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>"#);
    let _ = write!(
        xml,
        r#"<event version="2.0" uid="{}" type="{}" how="{how}" time="{}" start="{}" stale="{}">"#,
        escape(&uid),
        cot_type(track.classification.class),
        track.time,
        track.time,
        stale,
    );
    let _ = write!(
        xml,
        r#"<point lat="{:.7}" lon="{:.7}" hae="{hae:.1}" ce="{ce:.1}" le="{UNKNOWN:.1}"/>"#,
        track.position.lat, track.position.lon,
    );
    let _ = write!(
        xml,
        r#"<detail><contact callsign="{}"/><track course="{:.1}" speed="{:.2}"/><remarks>{}</remarks></detail></event>"#,
        escape(&callsign),
        track.course_deg,
        track.speed_mps,
        escape(&remarks(track)),
    );
    xml
}

/// One line for TAK's details pane; radiation first, as it is why anyone
/// would open it.
fn remarks(track: &TrackMessage) -> String {
    let radiation = if track.radiation.flagged {
        let detectors: Vec<&str> = track
            .radiation
            .evidence
            .iter()
            .map(|evidence| evidence.detector.as_str())
            .collect();
        format!("RADIATION ALARM ({})", detectors.join(", "))
    } else {
        "radiation: none".to_owned()
    };
    let status = match track.status {
        TrackStatus::Tentative => "tentative",
        TrackStatus::Confirmed => "confirmed",
        TrackStatus::Coasting => "coasting",
        TrackStatus::Deleted => "deleted",
    };
    let class = match track.classification.class {
        TargetClass::Person => "person",
        TargetClass::Vehicle => "vehicle",
        TargetClass::Animal => "animal",
        TargetClass::Unknown => "unknown",
    };
    format!(
        "{radiation}; picket track {} {status}; class {class} ({:.0}%); sensors: {}",
        track.track_id,
        track.classification.confidence * 100.0,
        track
            .sensors
            .iter()
            .map(|sensor| sensor.as_str())
            .collect::<Vec<_>>()
            .join(", "),
    )
}

/// Escapes text for XML attribute values and element content alike.
fn escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for ch in text.chars() {
        match ch {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&apos;"),
            other => escaped.push(other),
        }
    }
    escaped
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_characters() {
        assert_eq!(
            escape(r#"<a href="x">Tom & 'Jerry'</a>"#),
            "&lt;a href=&quot;x&quot;&gt;Tom &amp; &apos;Jerry&apos;&lt;/a&gt;"
        );
        assert_eq!(escape("plain"), "plain");
    }

    #[test]
    fn every_class_has_a_ground_unknown_type() {
        for class in [
            TargetClass::Person,
            TargetClass::Vehicle,
            TargetClass::Animal,
            TargetClass::Unknown,
        ] {
            assert!(cot_type(class).starts_with("a-u-G"));
        }
    }
}
