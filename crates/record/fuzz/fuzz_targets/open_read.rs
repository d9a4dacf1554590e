//! Arbitrary segment files must never panic the recording's open, repair
//! and read paths, and what they report must hold together: the cursor
//! reads exactly the records the open counted, in increasing sequence
//! order; a read-only open predicts exactly what a repairing open keeps; a
//! repaired recording opens clean; and a recorder opened on it appends
//! after every number it saw.
//!
//! The input is turned into one or two segment files. Random bytes almost
//! never carry a valid CRC-32C, so the first byte can ask for a valid
//! header to be put in front and for every record's checksum to be fixed
//! up: that is what lets the fuzzer reach sequence breaks, resync and
//! torn-tail logic rather than stopping at the first checksum.
#![no_main]

use std::path::{Path, PathBuf};
use std::time::Duration;

use crc::{CRC_32_ISCSI, Crc};
use libfuzzer_sys::fuzz_target;
use picket_record::{
    Damage, Entry, FsyncPolicy, Reader, RecordError, RecordKind, Recorder, RecorderConfig,
    Retention,
};

const CRC32C: Crc<u32> = Crc::<u32>::new(&CRC_32_ISCSI);
const MAGIC: [u8; 8] = [0x89, b'P', b'K', b'R', 0x0D, 0x0A, 0x1A, 0x0A];
const HEADER_LEN: usize = 24;
const BODY_FIXED_LEN: usize = 19;

/// Flags in the first input byte.
const WITH_HEADER: u8 = 1;
const FIX_CRCS: u8 = 2;
const TWO_SEGMENTS: u8 = 4;
const APPEND: u8 = 8;
const NAME_MISMATCH: u8 = 16;
const SECOND_QUARANTINED: u8 = 32;

fn header(first_seq: u64) -> [u8; HEADER_LEN] {
    let mut header = [0u8; HEADER_LEN];
    header[..8].copy_from_slice(&MAGIC);
    header[8..12].copy_from_slice(&1u32.to_le_bytes());
    header[12..20].copy_from_slice(&first_seq.to_le_bytes());
    let crc = CRC32C.checksum(&header[..20]);
    header[20..].copy_from_slice(&crc.to_le_bytes());
    header
}

fn le_u64(bytes: &[u8]) -> Option<u64> {
    Some(u64::from_le_bytes(bytes.get(..8)?.try_into().ok()?))
}

/// Rewrites the checksum of every record that fits, walking the records
/// back to back after the header.
fn fix_crcs(segment: &mut [u8]) {
    let mut pos = HEADER_LEN;
    while let Some(prefix) = segment.get(pos..pos + 8) {
        let len = u32::from_le_bytes([prefix[0], prefix[1], prefix[2], prefix[3]]) as usize;
        if len < BODY_FIXED_LEN || pos + 8 + len > segment.len() {
            return;
        }
        let crc = CRC32C.checksum(&segment[pos + 8..pos + 8 + len]);
        segment[pos + 4..pos + 8].copy_from_slice(&crc.to_le_bytes());
        pos += 8 + len;
    }
}

/// One segment file's bytes and the sequence number in its name.
fn segment(body: &[u8], flags: u8) -> (Vec<u8>, u64) {
    let mut bytes = Vec::with_capacity(HEADER_LEN + body.len());
    if flags & WITH_HEADER != 0 {
        // The header names the first record's number, as a recorder would.
        let first = le_u64(body.get(8..).unwrap_or(&[])).unwrap_or(0);
        bytes.extend_from_slice(&header(first));
    }
    bytes.extend_from_slice(body);
    if flags & FIX_CRCS != 0 {
        fix_crcs(&mut bytes);
    }
    let mut name_seq = le_u64(bytes.get(12..).unwrap_or(&[])).unwrap_or(0);
    if flags & NAME_MISMATCH != 0 {
        name_seq = name_seq.wrapping_add(1);
    }
    (bytes, name_seq)
}

fn segment_path(dir: &Path, seq: u64) -> PathBuf {
    dir.join(format!("segment-{seq:020}.pkr"))
}

/// Every record through a cursor: (count, sequence numbers increasing).
fn read_all(reader: &Reader) -> Result<u64, RecordError> {
    let mut cursor = reader.cursor();
    let mut count = 0u64;
    let mut last: Option<u64> = None;
    while let Some(record) = cursor.next()? {
        assert!(
            last.is_none_or(|last| record.seq > last),
            "sequence numbers go backwards: {last:?} then {}",
            record.seq
        );
        last = Some(record.seq);
        count += 1;
    }
    Ok(count)
}

fn torn_tails(damage: &[Damage]) -> usize {
    damage
        .iter()
        .filter(|d| matches!(d, Damage::TornTail { .. } | Damage::Corrupt { .. }))
        .count()
}

fn scratch_dir() -> PathBuf {
    // tmpfs when there is one: the target writes, renames and truncates
    // files on every run.
    let base = if Path::new("/dev/shm").is_dir() {
        PathBuf::from("/dev/shm")
    } else {
        std::env::temp_dir()
    };
    base.join(format!("picket-record-fuzz-{}", std::process::id()))
}

fuzz_target!(|data: &[u8]| {
    let Some((&flags, rest)) = data.split_first() else {
        return;
    };
    let dir = scratch_dir();
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch dir");

    // Split point for the second segment from the next two bytes.
    let (first_body, second_body) = if flags & TWO_SEGMENTS != 0 && rest.len() >= 2 {
        let split = usize::from(u16::from_le_bytes([rest[0], rest[1]]));
        let body = &rest[2..];
        let split = split.min(body.len());
        (&body[..split], Some(&body[split..]))
    } else {
        (rest, None)
    };
    let (bytes, name_seq) = segment(first_body, flags);
    std::fs::write(segment_path(&dir, name_seq), &bytes).expect("write segment");
    if let Some(body) = second_body {
        let (bytes, seq) = segment(body, flags & !NAME_MISMATCH);
        // Never overwrite the first file: a later name sorts after it.
        let seq = seq.max(name_seq.saturating_add(1));
        let mut path = segment_path(&dir, seq);
        if flags & SECOND_QUARANTINED != 0 {
            path.set_extension("pkr.corrupt");
        }
        std::fs::write(path, &bytes).expect("write segment");
    }

    // Read-only: changes nothing, reads exactly what it counted.
    let read_only = Reader::open_read_only(&dir);
    if let Ok(reader) = &read_only {
        let count = read_all(reader).expect("unchanged files read without error");
        assert_eq!(count, reader.report().records(), "{:?}", reader.report());
    }

    // Repair: keeps what the read-only open predicted.
    let repaired = Reader::open(&dir);
    match (&read_only, &repaired) {
        (Ok(ro), Ok(rw)) => {
            assert_eq!(ro.report().records(), rw.report().records());
            assert_eq!(ro.report().last_seq(), rw.report().last_seq());
            let count = read_all(rw).expect("repaired files read without error");
            assert_eq!(count, rw.report().records());
        }
        (Err(_), Err(_)) => {}
        (ro, rw) => {
            // Both opens run the same checks; only I/O may differ.
            let io = |r: &Result<Reader, RecordError>| {
                matches!(r, Err(RecordError::Io { .. } | RecordError::Locked { .. }))
            };
            assert!(io(ro) || io(rw), "read-only {ro:?} but repair {rw:?}");
        }
    }
    let Ok(repaired) = repaired else {
        let _ = std::fs::remove_dir_all(&dir);
        return;
    };

    // A repaired recording has nothing left to repair.
    let again = Reader::open_read_only(&dir).expect("repaired recording opens");
    assert_eq!(
        torn_tails(&again.report().damage),
        0,
        "after repair: {:?}",
        again.report().damage
    );
    assert_eq!(again.report().records(), repaired.report().records());

    // A recorder continues above every number it saw.
    if flags & APPEND != 0 {
        let config = RecorderConfig {
            fsync: FsyncPolicy::Interval(Duration::from_secs(3600)),
            max_segment_bytes: 1024 * 1024,
            retention: Retention {
                max_total_bytes: u64::MAX,
                max_age: None,
            },
            write_buffer_bytes: 4096,
        };
        if let Ok((mut recorder, _)) = Recorder::open(&dir, config, 0) {
            let entry = Entry {
                time_us: 0,
                kind: RecordKind::Mqtt,
                source: "s/1",
                payload: b"x",
            };
            if let Ok(seq) = recorder.append(&entry) {
                assert!(
                    repaired.report().last_seq().is_none_or(|last| seq > last),
                    "appended {seq} after {:?}",
                    repaired.report().last_seq()
                );
                if recorder.close().is_ok() {
                    let after = Reader::open_read_only(&dir).expect("reopens after append");
                    assert_eq!(after.report().last_seq(), Some(seq));
                }
            }
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
});
