//! Round trips, torn tails, corruption, retention: the recording's promises
//! checked on real files.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use picket_record::{
    Damage, Defect, Entry, FsyncPolicy, Reader, Record, RecordError, RecordKind, Recorder,
    RecorderConfig, Retention,
};
use proptest::prelude::*;

fn config(max_segment_bytes: u64) -> RecorderConfig {
    RecorderConfig {
        fsync: FsyncPolicy::EveryRecords(1000),
        max_segment_bytes,
        retention: Retention {
            max_total_bytes: u64::MAX,
            max_age: None,
        },
        write_buffer_bytes: 1024,
    }
}

/// Record `i` of a test recording: every kind, varied sizes.
fn sample(i: u64, payload_len: usize) -> Record {
    let kind = [
        RecordKind::Serial,
        RecordKind::Mqtt,
        RecordKind::Tick,
        RecordKind::Flush,
        RecordKind::Release,
    ][(i % 5) as usize];
    let data = matches!(kind, RecordKind::Serial | RecordKind::Mqtt);
    Record {
        seq: i,
        time_us: 1_700_000_000_000_000 + i as i64 * 1_000,
        kind,
        source: if data {
            format!("src/{}", i % 3)
        } else {
            String::new()
        },
        payload: if data {
            (0..payload_len).map(|b| (b as u64 + i) as u8).collect()
        } else {
            Vec::new()
        },
    }
}

fn append_all(recorder: &mut Recorder, records: &[Record]) {
    for record in records {
        let seq = recorder
            .append(&Entry {
                time_us: record.time_us,
                kind: record.kind,
                source: &record.source,
                payload: &record.payload,
            })
            .unwrap();
        assert_eq!(seq, record.seq);
    }
}

fn write(dir: &Path, records: &[Record], max_segment_bytes: u64) {
    let (mut recorder, _) = Recorder::open(dir, config(max_segment_bytes), 0).unwrap();
    append_all(&mut recorder, records);
    recorder.close().unwrap();
}

fn read(dir: &Path) -> (Reader, Vec<Record>) {
    let reader = Reader::open(dir).unwrap();
    let records = reader.records().collect::<Result<Vec<_>, _>>().unwrap();
    (reader, records)
}

fn segments(dir: &Path) -> Vec<PathBuf> {
    let mut paths: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "pkr"))
        .collect();
    paths.sort();
    paths
}

fn copy_dir(from: &Path, to: &Path) {
    for entry in fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
    }
}

#[test]
fn round_trip_across_segments_and_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let records: Vec<Record> = (0..300)
        .map(|i| sample(i, (i as usize * 37) % 700))
        .collect();
    write(dir.path(), &records[..120], 4096);
    // A restart continues the sequence in the same directory.
    write(dir.path(), &records[120..], 4096);
    let (reader, back) = read(dir.path());
    assert_eq!(back, records);
    let report = reader.report();
    assert!(report.damage.is_empty(), "{:?}", report.damage);
    assert!(
        report.segments.len() > 10,
        "{} segments",
        report.segments.len()
    );
    assert_eq!(report.records(), 300);
    assert_eq!(report.first_seq(), Some(0));
    assert_eq!(report.last_seq(), Some(299));
    assert_eq!(
        report.time_span_us(),
        Some((records[0].time_us, records[299].time_us))
    );
    // The cursor (zero-copy) agrees with the owned iterator.
    let mut cursor = reader.cursor();
    let mut n = 0;
    while let Some(record) = cursor.next().unwrap() {
        assert_eq!(record.to_owned(), records[n]);
        n += 1;
    }
    assert_eq!(n, 300);
}

#[test]
fn empty_recording_reads_as_empty() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), &[], 4096);
    let (reader, back) = read(dir.path());
    assert!(back.is_empty());
    assert_eq!(reader.report().segments.len(), 1);
    assert_eq!(reader.report().time_span_us(), None);
}

#[test]
fn torn_tail_at_every_byte_of_the_last_record_keeps_every_complete_record() {
    let source = tempfile::tempdir().unwrap();
    let records: Vec<Record> = (0..6).map(|i| sample(i, 40)).collect();
    write(source.path(), &records, 1 << 20);
    let segment = segments(source.path()).pop().unwrap();
    let full = fs::metadata(&segment).unwrap().len();
    let last_len = 27 + records[5].source.len() as u64 + records[5].payload.len() as u64;
    let last_start = full - last_len;
    for cut in last_start..full {
        let dir = tempfile::tempdir().unwrap();
        copy_dir(source.path(), dir.path());
        let torn = dir.path().join(segment.file_name().unwrap());
        fs::OpenOptions::new()
            .write(true)
            .open(&torn)
            .unwrap()
            .set_len(cut)
            .unwrap();
        let (reader, back) = read(dir.path());
        assert_eq!(back, records[..5], "cut at {cut}");
        assert_eq!(reader.report().truncated_bytes(), cut - last_start);
        assert_eq!(fs::metadata(&torn).unwrap().len(), last_start);
        // The recorder continues where the complete records end.
        let (mut recorder, report) = Recorder::open(dir.path(), config(1 << 20), 0).unwrap();
        assert!(report.damage.is_empty(), "repaired already");
        append_all(&mut recorder, &records[5..]);
        recorder.close().unwrap();
        assert_eq!(read(dir.path()).1, records);
    }
}

#[test]
fn zeroed_or_garbage_tail_is_torn_not_corrupt() {
    // A power cut can leave allocated but unwritten blocks: zeros (or old
    // data) after the last complete record, with nothing valid beyond.
    for tail in [vec![0u8; 4096], (0..999).map(|i| (i * 7) as u8).collect()] {
        let dir = tempfile::tempdir().unwrap();
        let records: Vec<Record> = (0..4).map(|i| sample(i, 10)).collect();
        write(dir.path(), &records, 1 << 20);
        let segment = segments(dir.path()).pop().unwrap();
        let mut bytes = fs::read(&segment).unwrap();
        bytes.extend_from_slice(&tail);
        fs::write(&segment, &bytes).unwrap();
        let (reader, back) = read(dir.path());
        assert_eq!(back, records);
        assert!(matches!(
            reader.report().damage[..],
            [Damage::TornTail { repaired: true, .. }]
        ));
    }
}

#[test]
fn torn_header_of_a_new_last_segment_is_removed() {
    let dir = tempfile::tempdir().unwrap();
    let records: Vec<Record> = (0..3).map(|i| sample(i, 10)).collect();
    write(dir.path(), &records, 1 << 20);
    // A crash right after creating the next segment, mid-header.
    let next = dir.path().join("segment-00000000000000000003.pkr");
    fs::write(&next, [0x89, b'P', b'K']).unwrap();
    let (reader, back) = read(dir.path());
    assert_eq!(back, records);
    assert_eq!(reader.report().truncated_bytes(), 3);
    assert!(!next.exists());
}

fn flip(path: &Path, offset: u64) {
    let mut bytes = fs::read(path).unwrap();
    bytes[offset as usize] ^= 0x20;
    fs::write(path, bytes).unwrap();
}

#[test]
fn flipped_bit_mid_last_segment_is_quarantined_not_truncated() {
    let dir = tempfile::tempdir().unwrap();
    let records: Vec<Record> = (0..200).map(|i| sample(i, 60)).collect();
    write(dir.path(), &records, 4096);
    let all = segments(dir.path());
    let last = all.last().unwrap().clone();
    let before: u64 = read_only_count(dir.path()) - records_in(&last);
    // Inside the time field of the segment's first record.
    flip(&last, 24 + 8 + 10);

    // Read-only: reported, skipped, nothing moved.
    let read_only = Reader::open_read_only(dir.path()).unwrap();
    assert!(matches!(
        read_only.report().damage[..],
        [Damage::Corrupt {
            quarantined_as: None,
            defect: Defect::Checksum,
            offset: 24,
            ..
        }]
    ));
    assert!(last.exists());

    let (reader, back) = read(dir.path());
    assert_eq!(back.len() as u64, before);
    assert_eq!(back[..], records[..before as usize]);
    let quarantined = match &reader.report().damage[..] {
        [
            Damage::Corrupt {
                segment,
                quarantined_as: Some(q),
                records_before: 0,
                ..
            },
        ] => {
            assert_eq!(segment, &last);
            q.clone()
        }
        other => panic!("{other:?}"),
    };
    assert!(quarantined.to_string_lossy().ends_with(".pkr.corrupt"));
    assert!(quarantined.exists() && !last.exists());

    // Later opens keep listing it; a recorder continues after the highest
    // sequence number ever seen, including the quarantined segment's.
    let (mut recorder, report) = Recorder::open(dir.path(), config(4096), 0).unwrap();
    assert!(matches!(report.damage[..], [Damage::Quarantined { .. }]));
    assert_eq!(recorder.next_seq(), 200);
    recorder
        .append(&Entry {
            time_us: 0,
            kind: RecordKind::Tick,
            source: "",
            payload: &[],
        })
        .unwrap();
    recorder.close().unwrap();
    let (reader, _) = read(dir.path());
    assert!(
        reader
            .report()
            .damage
            .iter()
            .any(|d| matches!(d, Damage::SequenceGap { next: 200, .. }))
    );
}

fn read_only_count(dir: &Path) -> u64 {
    Reader::open_read_only(dir).unwrap().report().records()
}

fn records_in(segment: &Path) -> u64 {
    let dir = tempfile::tempdir().unwrap();
    fs::copy(segment, dir.path().join(segment.file_name().unwrap())).unwrap();
    read_only_count(dir.path())
}

#[test]
fn any_defect_in_an_earlier_segment_quarantines_it_and_leaves_a_gap() {
    let dir = tempfile::tempdir().unwrap();
    let records: Vec<Record> = (0..400).map(|i| sample(i, 60)).collect();
    write(dir.path(), &records, 4096);
    let all = segments(dir.path());
    assert!(all.len() >= 4);
    let victim = &all[1];
    let victim_len = fs::metadata(victim).unwrap().len();
    // Even a cut at the very end, which in the last segment would be a torn
    // tail: an earlier segment was fsynced whole, so this is damage.
    fs::OpenOptions::new()
        .write(true)
        .open(victim)
        .unwrap()
        .set_len(victim_len - 1)
        .unwrap();
    let (reader, back) = read(dir.path());
    let report = reader.report();
    let first_lost = records_in_dir_prefix(&all[..1]);
    assert!(matches!(
        report.damage[0],
        Damage::Corrupt {
            defect: Defect::Incomplete,
            quarantined_as: Some(_),
            ..
        }
    ));
    assert!(matches!(
        report.damage[1],
        Damage::SequenceGap { after, .. } if after == first_lost - 1
    ));
    assert_eq!(report.quarantined().len(), 1);
    // Everything else reads, in order, around the hole.
    assert_eq!(back[..first_lost as usize], records[..first_lost as usize]);
    assert_eq!(back.last(), records.last());
    assert!(back.windows(2).all(|w| w[0].seq < w[1].seq));
}

fn records_in_dir_prefix(segments: &[PathBuf]) -> u64 {
    segments.iter().map(|s| records_in(s)).sum()
}

#[test]
fn a_newer_format_version_is_an_error_not_damage() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), &[sample(0, 1)], 4096);
    let segment = segments(dir.path()).pop().unwrap();
    let mut bytes = fs::read(&segment).unwrap();
    bytes[8] = 2;
    let crc = crc::Crc::<u32>::new(&crc::CRC_32_ISCSI).checksum(&bytes[..20]);
    bytes[20..24].copy_from_slice(&crc.to_le_bytes());
    fs::write(&segment, bytes).unwrap();
    assert!(matches!(
        Reader::open(dir.path()),
        Err(RecordError::UnsupportedVersion { found: 2, .. })
    ));
    assert!(segment.exists());
}

#[test]
fn retention_by_size_deletes_oldest_whole_segments() {
    let dir = tempfile::tempdir().unwrap();
    let config = RecorderConfig {
        retention: Retention {
            max_total_bytes: 16 * 1024,
            max_age: None,
        },
        ..config(4096)
    };
    let (mut recorder, _) = Recorder::open(dir.path(), config, 0).unwrap();
    let records: Vec<Record> = (0..1000).map(|i| sample(i, 100)).collect();
    append_all(&mut recorder, &records);
    // Over by at most one segment, checked at rotation.
    assert!(recorder.total_bytes() <= 16 * 1024 + 4096);
    recorder.close().unwrap();
    let on_disk: u64 = segments(dir.path())
        .iter()
        .map(|p| fs::metadata(p).unwrap().len())
        .sum();
    assert!(on_disk <= 16 * 1024 + 4096, "{on_disk}");
    let (reader, back) = read(dir.path());
    assert!(reader.report().damage.is_empty());
    // What is left is the newest records, contiguous.
    let first = back[0].seq as usize;
    assert!(first > 0);
    assert_eq!(back[..], records[first..]);
}

#[test]
fn retention_by_age_uses_the_given_clock() {
    let dir = tempfile::tempdir().unwrap();
    let hour = 3_600_000_000i64;
    let config = RecorderConfig {
        retention: Retention {
            max_total_bytes: u64::MAX,
            max_age: Some(Duration::from_secs(24 * 3600)),
        },
        ..config(4096)
    };
    let t0 = 1_700_000_000_000_000i64;
    let (mut recorder, _) = Recorder::open(dir.path(), config, t0).unwrap();
    // 48 hours of records, one every ten minutes, 60 records per segment-ish.
    for i in 0..288i64 {
        recorder
            .append(&Entry {
                time_us: t0 + i * hour / 6,
                kind: RecordKind::Mqtt,
                source: "t",
                payload: &[0; 200],
            })
            .unwrap();
    }
    let now = t0 + 48 * hour;
    recorder.enforce_retention(now).unwrap();
    recorder.close().unwrap();
    let (reader, back) = read(dir.path());
    // Every segment left has a record within the last 24 h; the oldest
    // record left is at most a segment's span older than that.
    for segment in &reader.report().segments {
        assert!(now - segment.max_time_us.unwrap() <= 24 * hour);
    }
    assert!(back[0].time_us < now - 23 * hour);
    assert!(back[0].time_us >= now - 26 * hour);

    // Retention at open, with a clock a week later: all but the segment
    // a recorder writes to go.
    let (recorder, _) = Recorder::open(dir.path(), config, now + 7 * 24 * hour).unwrap();
    assert_eq!(recorder.segment_count(), 1);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Random record sizes and a random cut anywhere in the last segment:
    /// exactly the records that end before the cut come back.
    #[test]
    fn random_sizes_random_truncation(
        sizes in proptest::collection::vec(0usize..3000, 1..60),
        cut_fraction in 0.0f64..1.0,
    ) {
        let dir = tempfile::tempdir().unwrap();
        let records: Vec<Record> = sizes
            .iter()
            .enumerate()
            .map(|(i, &n)| sample(i as u64, n))
            .collect();
        write(dir.path(), &records, 16 * 1024);
        let all = segments(dir.path());
        let last = all.last().unwrap();
        let len = fs::metadata(last).unwrap().len();
        let cut = ((len as f64) * cut_fraction) as u64;
        fs::OpenOptions::new().write(true).open(last).unwrap().set_len(cut).unwrap();
        let kept_before: u64 = records_in_dir_prefix(&all[..all.len() - 1]);
        // Records wholly inside the last segment's first `cut` bytes.
        let mut end = 24u64;
        let mut kept = kept_before;
        for record in &records[kept_before as usize..] {
            end += 27 + (record.source.len() + record.payload.len()) as u64;
            if end > cut || cut < 24 {
                break;
            }
            kept += 1;
        }
        let (_, back) = read(dir.path());
        prop_assert_eq!(&back[..], &records[..kept as usize]);
    }
}
