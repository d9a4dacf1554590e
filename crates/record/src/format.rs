//! The on-disk layout: segment header and record framing (tables in the
//! crate docs). Pure functions over byte slices; no I/O here.

/// First eight bytes of every segment. PNG-style: a high byte (caught by
/// 7-bit transfers), `PKR`, CR LF (caught by newline conversion), ^Z, LF.
pub const MAGIC: [u8; 8] = [0x89, b'P', b'K', b'R', 0x0D, 0x0A, 0x1A, 0x0A];
/// The format version this build writes and reads.
pub const FORMAT_VERSION: u32 = 1;
/// Bytes of the segment header.
pub const HEADER_LEN: usize = 24;
/// Bytes before the body: `len` and `crc`.
pub const RECORD_PREFIX_LEN: usize = 8;
/// Fixed part of the body: seq, time, kind, source length.
pub const BODY_FIXED_LEN: usize = 8 + 8 + 1 + 2;
/// Largest body accepted, on write and on read. A serial read is at most a
/// few KiB and an MQTT payload is capped by the broker; anything larger on
/// read is a corrupt length, and the cap keeps a corrupt length from
/// making the reader allocate gigabytes.
pub const MAX_BODY_LEN: usize = 16 * 1024 * 1024;
/// Longest source name (its length is a `u16`).
pub const MAX_SOURCE_LEN: usize = u16::MAX as usize;

/// CRC-32C (Castagnoli), as picket-wire frames and the outbox use.
///
/// Every byte of a recording is checksummed on write, on open and again on
/// read, so this is most of the reader's cost. The `crc32c` crate uses the
/// CPU's CRC-32C instruction (SSE 4.2 on x86-64, the CRC extension on
/// AArch64), checked at run time, and falls back to a slice-by-8 table
/// elsewhere (armv7). Against the `crc` crate's slice-by-16 table it took
/// the replay bench's reader (open, then read, both checking every CRC)
/// from 26.4 to 19.4 ms on the bench's x86-64 machine.
#[inline]
pub(crate) fn crc32c(bytes: &[u8]) -> u32 {
    crc32c::crc32c(bytes)
}

/// What a record holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum RecordKind {
    /// One read from a serial port; the source is the port name.
    Serial = 1,
    /// One MQTT message payload; the source is the topic.
    Mqtt = 2,
    /// An engine tick (`Engine::handle_tick(now)` with `now` = the record
    /// time); no source, no payload.
    Tick = 3,
    /// An engine flush (`Engine::flush()`, at a clean shutdown); no source,
    /// no payload. Replay flushes exactly where the daemon did, so a
    /// recording of a crashed daemon replays without the final flush, as it
    /// happened.
    Flush = 4,
    /// An engine release (`Engine::handle_release(now)` with `now` = the
    /// record time: the reorder buffer lets out what its lag allows, between
    /// inputs and ticks); no source, no payload.
    Release = 5,
}

impl RecordKind {
    /// The kind of a stored byte, if known.
    pub fn from_byte(byte: u8) -> Option<Self> {
        match byte {
            1 => Some(Self::Serial),
            2 => Some(Self::Mqtt),
            3 => Some(Self::Tick),
            4 => Some(Self::Flush),
            5 => Some(Self::Release),
            _ => None,
        }
    }

    /// Lower-case name, as `picket inspect` prints it.
    pub fn name(self) -> &'static str {
        match self {
            Self::Serial => "serial",
            Self::Mqtt => "mqtt",
            Self::Tick => "tick",
            Self::Flush => "flush",
            Self::Release => "release",
        }
    }
}

/// What the caller hands [`Recorder::append`](crate::Recorder::append): a
/// record without its sequence number, which the recorder assigns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry<'a> {
    /// Host time, microseconds since the Unix epoch (the raw input's receive
    /// time, or the tick's `now`).
    pub time_us: i64,
    /// What the record holds.
    pub kind: RecordKind,
    /// Serial port name or MQTT topic; empty for ticks, flushes and releases.
    pub source: &'a str,
    /// The raw bytes; empty for ticks and flushes.
    pub payload: &'a [u8],
}

/// A record read back, borrowing the reader's buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordRef<'a> {
    /// Sequence number: +1 per record, across segments and restarts.
    pub seq: u64,
    /// Everything else, as appended.
    pub entry: Entry<'a>,
}

/// An owned record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// Sequence number.
    pub seq: u64,
    /// Host time, microseconds since the Unix epoch.
    pub time_us: i64,
    /// What the record holds.
    pub kind: RecordKind,
    /// Serial port name or MQTT topic; empty for ticks, flushes and releases.
    pub source: String,
    /// The raw bytes.
    pub payload: Vec<u8>,
}

impl RecordRef<'_> {
    /// An owned copy.
    pub fn to_owned(&self) -> Record {
        Record {
            seq: self.seq,
            time_us: self.entry.time_us,
            kind: self.entry.kind,
            source: self.entry.source.to_owned(),
            payload: self.entry.payload.to_vec(),
        }
    }
}

/// Why bytes at some offset are not a valid record or header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Defect {
    /// The file ends inside the header or inside the record the length
    /// announces.
    #[error("incomplete (file ends inside it)")]
    Incomplete,
    /// The header's magic bytes are wrong: not a picket recording segment.
    #[error("bad segment magic")]
    Magic,
    /// The header's checksum does not match.
    #[error("header checksum mismatch")]
    HeaderChecksum,
    /// The header's first sequence number disagrees with the file name.
    #[error("header says first seq {header}, file name says {name}")]
    NameMismatch {
        /// From the header.
        header: u64,
        /// From the file name.
        name: u64,
    },
    /// The length field is outside what a record can be.
    #[error("impossible record length {0}")]
    Length(u32),
    /// The record's checksum does not match its bytes.
    #[error("record checksum mismatch")]
    Checksum,
    /// The checksum matched but the kind byte is unknown.
    #[error("unknown record kind {0}")]
    Kind(u8),
    /// The checksum matched but the source name overruns the record or is
    /// not UTF-8.
    #[error("malformed source name")]
    Source,
    /// A valid record with the wrong sequence number.
    #[error("sequence {found} where {expected} was expected")]
    Sequence {
        /// The next number in order.
        expected: u64,
        /// What the record holds.
        found: u64,
    },
    /// A segment whose first sequence number is not after the previous
    /// segment's last.
    #[error("segment starts at seq {first}, not after the previous segment's {previous_last}")]
    Overlap {
        /// This segment's first sequence number.
        first: u64,
        /// The previous segment's last.
        previous_last: u64,
    },
}

/// Header bytes of a segment whose first record will be `first_seq`.
pub fn encode_header(first_seq: u64) -> [u8; HEADER_LEN] {
    let mut header = [0u8; HEADER_LEN];
    header[..8].copy_from_slice(&MAGIC);
    header[8..12].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
    header[12..20].copy_from_slice(&first_seq.to_le_bytes());
    let crc = crc32c(&header[..20]);
    header[20..].copy_from_slice(&crc.to_le_bytes());
    header
}

/// A checked header: `Ok((version, first_seq))`. The version is returned,
/// not checked, so that the caller can tell "newer format" (an error for
/// the operator) from "damaged" (quarantine).
pub fn decode_header(data: &[u8]) -> Result<(u32, u64), Defect> {
    let header = data.get(..HEADER_LEN).ok_or(Defect::Incomplete)?;
    if header[..8] != MAGIC {
        return Err(Defect::Magic);
    }
    if crc32c(&header[..20]) != le_u32(&header[20..24]) {
        return Err(Defect::HeaderChecksum);
    }
    Ok((le_u32(&header[8..12]), le_u64(&header[12..20])))
}

/// Bytes the record of `entry` takes on disk.
pub fn encoded_len(entry: &Entry<'_>) -> usize {
    RECORD_PREFIX_LEN + BODY_FIXED_LEN + entry.source.len() + entry.payload.len()
}

/// Appends the record `(seq, entry)` to `out`. The caller has checked the
/// source and body limits ([`check_entry`]).
pub fn encode_record(out: &mut Vec<u8>, seq: u64, entry: &Entry<'_>) {
    let start = out.len();
    let body_len = BODY_FIXED_LEN + entry.source.len() + entry.payload.len();
    // Lengths were checked against MAX_BODY_LEN, which fits u32 and u16.
    out.extend_from_slice(&(body_len as u32).to_le_bytes());
    out.extend_from_slice(&[0; 4]);
    out.extend_from_slice(&seq.to_le_bytes());
    out.extend_from_slice(&entry.time_us.to_le_bytes());
    out.push(entry.kind as u8);
    out.extend_from_slice(&(entry.source.len() as u16).to_le_bytes());
    out.extend_from_slice(entry.source.as_bytes());
    out.extend_from_slice(entry.payload);
    let crc = crc32c(&out[start + RECORD_PREFIX_LEN..]);
    out[start + 4..start + 8].copy_from_slice(&crc.to_le_bytes());
}

/// `Err((what, len))` if `entry` breaks a size limit.
pub fn check_entry(entry: &Entry<'_>) -> Result<(), (&'static str, usize)> {
    if entry.source.len() > MAX_SOURCE_LEN {
        return Err(("source name", entry.source.len()));
    }
    let body = BODY_FIXED_LEN + entry.source.len() + entry.payload.len();
    if body > MAX_BODY_LEN {
        return Err(("record body", body));
    }
    Ok(())
}

/// The outcome of parsing at one offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Parsed<'a> {
    /// A valid record and its total length on disk.
    Record(RecordRef<'a>, usize),
    /// No valid record here.
    Bad(Defect),
}

/// Parses the record at the start of `data`.
pub fn parse_record(data: &[u8]) -> Parsed<'_> {
    let Some(prefix) = data.get(..RECORD_PREFIX_LEN) else {
        return Parsed::Bad(Defect::Incomplete);
    };
    let len = le_u32(&prefix[..4]);
    let body_len = len as usize;
    if !(BODY_FIXED_LEN..=MAX_BODY_LEN).contains(&body_len) {
        return Parsed::Bad(Defect::Length(len));
    }
    let Some(body) = data.get(RECORD_PREFIX_LEN..RECORD_PREFIX_LEN + body_len) else {
        return Parsed::Bad(Defect::Incomplete);
    };
    if crc32c(body) != le_u32(&prefix[4..8]) {
        return Parsed::Bad(Defect::Checksum);
    }
    let seq = le_u64(&body[..8]);
    let time_us = le_u64(&body[8..16]) as i64;
    let Some(kind) = RecordKind::from_byte(body[16]) else {
        return Parsed::Bad(Defect::Kind(body[16]));
    };
    let source_len = usize::from(u16::from_le_bytes([body[17], body[18]]));
    let Some(source) = body.get(BODY_FIXED_LEN..BODY_FIXED_LEN + source_len) else {
        return Parsed::Bad(Defect::Source);
    };
    let Ok(source) = std::str::from_utf8(source) else {
        return Parsed::Bad(Defect::Source);
    };
    let payload = &body[BODY_FIXED_LEN + source_len..];
    Parsed::Record(
        RecordRef {
            seq,
            entry: Entry {
                time_us,
                kind,
                source,
                payload,
            },
        },
        RECORD_PREFIX_LEN + body_len,
    )
}

/// The sequence number of a record at `data`, read without any check: the
/// resync scan uses it to skip offsets cheaply before computing a CRC.
pub fn peek_seq(data: &[u8]) -> Option<u64> {
    data.get(RECORD_PREFIX_LEN..RECORD_PREFIX_LEN + 8)
        .map(le_u64)
}

fn le_u32(bytes: &[u8]) -> u32 {
    let mut buf = [0u8; 4];
    buf.copy_from_slice(&bytes[..4]);
    u32::from_le_bytes(buf)
}

fn le_u64(bytes: &[u8]) -> u64 {
    let mut buf = [0u8; 8];
    buf.copy_from_slice(&bytes[..8]);
    u64::from_le_bytes(buf)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    /// One record, byte for byte, both ways: the layout table in the crate
    /// docs is this test written out.
    #[test]
    fn exact_bytes_of_one_record() {
        let entry = Entry {
            time_us: 0x0102_0304_0506_0708,
            kind: RecordKind::Mqtt,
            source: "s/1",
            payload: &[0xAA, 0xBB],
        };
        let mut out = Vec::new();
        encode_record(&mut out, 0x1122_3344_5566_7788, &entry);
        let body: Vec<u8> = [
            &[0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11][..], // seq
            &[0x08, 0x07, 0x06, 0x05, 0x04, 0x03, 0x02, 0x01],     // time_us
            &[0x02],                                               // kind: MQTT
            &[0x03, 0x00],                                         // source length
            b"s/1",                                                // source
            &[0xAA, 0xBB],                                         // payload
        ]
        .concat();
        assert_eq!(body.len(), 24);
        let crc = crc32c(&body);
        // CRC-32C of the body above, computed independently of the crc crate
        // so that a swapped algorithm would fail here.
        assert_eq!(crc, crc32c_bitwise(&body));
        let mut expected = vec![24, 0, 0, 0];
        expected.extend_from_slice(&crc.to_le_bytes());
        expected.extend_from_slice(&body);
        assert_eq!(out, expected);
        assert_eq!(out.len(), encoded_len(&entry));

        match parse_record(&expected) {
            Parsed::Record(record, len) => {
                assert_eq!(len, expected.len());
                assert_eq!(record.seq, 0x1122_3344_5566_7788);
                assert_eq!(record.entry, entry);
            }
            Parsed::Bad(defect) => panic!("{defect}"),
        }
    }

    #[test]
    fn exact_bytes_of_a_header() {
        let header = encode_header(7);
        assert_eq!(
            &header[..8],
            &[0x89, b'P', b'K', b'R', 0x0D, 0x0A, 0x1A, 0x0A]
        );
        assert_eq!(&header[8..12], &[1, 0, 0, 0]);
        assert_eq!(&header[12..20], &[7, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(
            u32::from_le_bytes(header[20..].try_into().unwrap()),
            crc32c_bitwise(&header[..20])
        );
        assert_eq!(decode_header(&header), Ok((1, 7)));
        let mut bad = header;
        bad[13] ^= 1;
        assert_eq!(decode_header(&bad), Err(Defect::HeaderChecksum));
        assert_eq!(decode_header(&header[..23]), Err(Defect::Incomplete));
    }

    #[test]
    fn every_defect_is_named() {
        let entry = Entry {
            time_us: 1,
            kind: RecordKind::Serial,
            source: "p",
            payload: b"x",
        };
        let mut good = Vec::new();
        encode_record(&mut good, 3, &entry);
        assert_eq!(parse_record(&good[..5]), Parsed::Bad(Defect::Incomplete));
        assert_eq!(
            parse_record(&good[..good.len() - 1]),
            Parsed::Bad(Defect::Incomplete)
        );
        assert_eq!(parse_record(&[0; 16]), Parsed::Bad(Defect::Length(0)));
        let mut flipped = good.clone();
        flipped[20] ^= 0x10;
        assert_eq!(parse_record(&flipped), Parsed::Bad(Defect::Checksum));
        // A kind byte we do not know, with a matching CRC: a newer writer or
        // a bug, never silently accepted.
        let mut kind = good.clone();
        kind[24] = 9;
        let crc = crc32c(&kind[8..]);
        kind[4..8].copy_from_slice(&crc.to_le_bytes());
        assert_eq!(parse_record(&kind), Parsed::Bad(Defect::Kind(9)));
        let mut source = good.clone();
        source[25] = 200;
        let crc = crc32c(&source[8..]);
        source[4..8].copy_from_slice(&crc.to_le_bytes());
        assert_eq!(parse_record(&source), Parsed::Bad(Defect::Source));
    }

    /// Bit-at-a-time CRC-32C (reflected polynomial 0x82F63B78).
    fn crc32c_bitwise(data: &[u8]) -> u32 {
        let mut crc = !0u32;
        for &byte in data {
            crc ^= u32::from(byte);
            for _ in 0..8 {
                crc = if crc & 1 == 1 {
                    (crc >> 1) ^ 0x82F6_3B78
                } else {
                    crc >> 1
                };
            }
        }
        !crc
    }
}
