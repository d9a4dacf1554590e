//! The durable outbox: recovery after crashes and torn writes, bounds,
//! compaction, and a model-based property test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::path::Path;

use picket_engine::{Output, OutputMessage};
use picket_schema::{AlertKind, AlertMessage, SensorId, Severity, SiteId, Timestamp};
use picketd::outbox::{FsyncPolicy, Outbox, OutboxError, OutboxLimits, SEGMENT_FILE};
use proptest::prelude::*;

fn limits() -> OutboxLimits {
    OutboxLimits {
        max_entries: 10_000,
        max_bytes: 10 * 1024 * 1024,
        fsync: FsyncPolicy::Never,
    }
}

fn payload(seq: u64, len: usize) -> Vec<u8> {
    let mut p = format!("{{\"seq\":{seq}}}").into_bytes();
    p.resize(p.len() + len, b' ');
    p
}

/// Stages and commits one raw message; the payload embeds the seq.
fn put(outbox: &mut Outbox, topic: &str, extra: usize) -> u64 {
    let seq = outbox
        .stage_raw(topic.to_string(), false, |seq| Ok(payload(seq, extra)))
        .unwrap();
    outbox.commit().unwrap();
    seq
}

fn seqs(outbox: &Outbox) -> Vec<u64> {
    outbox.unacked().map(|e| e.seq).collect()
}

fn alert() -> Output {
    Output {
        topic: "picket/t1/alerts".to_string(),
        retained: false,
        message: OutputMessage::Alert(AlertMessage {
            schema: picket_schema::SCHEMA_VERSION,
            seq: 0,
            site: SiteId::new("t1").unwrap(),
            alert_id: 7,
            time: Timestamp::from_unix_micros(1_800_000_000_000_000).unwrap(),
            severity: Severity::Warning,
            kind: AlertKind::SensorTamper {
                sensor: SensorId::new("gn-1").unwrap(),
            },
        }),
    }
}

#[test]
fn enqueue_stamps_consecutive_seqs_into_the_payload() {
    let dir = tempfile::tempdir().unwrap();
    let mut outbox = Outbox::open(dir.path(), OutboxLimits::default()).unwrap();
    assert_eq!(outbox.next_seq(), 1);
    for expected in 1..=3 {
        let seq = outbox.enqueue(alert()).unwrap();
        assert_eq!(seq, expected);
    }
    let cleared = Output {
        topic: "picket/t1/tracks/4".to_string(),
        retained: true,
        message: OutputMessage::TrackCleared,
    };
    assert_eq!(outbox.enqueue(cleared).unwrap(), 4);
    let entries: Vec<_> = outbox.unacked().cloned().collect();
    assert_eq!(entries.len(), 4);
    for entry in &entries[..3] {
        let alert: AlertMessage = picket_schema::from_json(&entry.payload).unwrap();
        assert_eq!(alert.seq, entry.seq);
        assert_eq!(entry.topic, "picket/t1/alerts");
        assert!(!entry.retained);
    }
    assert!(entries[3].payload.is_empty());
    assert!(entries[3].retained);
    assert!(
        outbox.stats().fsyncs >= 4,
        "default policy fsyncs every commit"
    );
}

#[test]
fn reopen_recovers_unacked_entries_and_next_seq() {
    let dir = tempfile::tempdir().unwrap();
    {
        let mut outbox = Outbox::open(dir.path(), limits()).unwrap();
        for i in 0..10 {
            put(&mut outbox, &format!("t/{i}"), i);
        }
        for seq in [1, 2, 5, 9] {
            outbox.acknowledge(seq).unwrap();
        }
        // Unknown and repeated acks are harmless.
        outbox.acknowledge(5).unwrap();
        outbox.acknowledge(999).unwrap();
    }
    let outbox = Outbox::open(dir.path(), limits()).unwrap();
    assert_eq!(seqs(&outbox), vec![3, 4, 6, 7, 8, 10]);
    assert_eq!(outbox.next_seq(), 11);
    assert_eq!(outbox.recovery().torn_tail_bytes, 0);
    assert!(outbox.recovery().corrupt.is_empty());
    let e = outbox.unacked().find(|e| e.seq == 7).unwrap();
    assert_eq!(e.topic, "t/6");
    assert_eq!(e.payload, payload(7, 6));
    assert_eq!(
        outbox.unacked_from(7).map(|e| e.seq).collect::<Vec<_>>(),
        vec![7, 8, 10]
    );
}

#[test]
fn staged_entries_are_invisible_until_commit() {
    let dir = tempfile::tempdir().unwrap();
    let mut outbox = Outbox::open(dir.path(), limits()).unwrap();
    outbox
        .stage_raw("a".into(), false, |s| Ok(payload(s, 0)))
        .unwrap();
    outbox
        .stage_raw("b".into(), false, |s| Ok(payload(s, 0)))
        .unwrap();
    assert_eq!(outbox.len(), 0);
    outbox.commit().unwrap();
    assert_eq!(seqs(&outbox), vec![1, 2]);
}

#[test]
fn encode_failure_consumes_no_seq() {
    let dir = tempfile::tempdir().unwrap();
    let mut outbox = Outbox::open(dir.path(), limits()).unwrap();
    let err = outbox
        .stage_raw("a".into(), false, |_| Err("NaN".to_string()))
        .unwrap_err();
    assert!(matches!(err, OutboxError::Encode(_)));
    assert_eq!(put(&mut outbox, "a", 0), 1);
}

#[test]
fn full_by_entries_and_by_bytes_consumes_no_seq() {
    let dir = tempfile::tempdir().unwrap();
    let mut outbox = Outbox::open(
        dir.path(),
        OutboxLimits {
            max_entries: 3,
            max_bytes: 1_000,
            fsync: FsyncPolicy::Never,
        },
    )
    .unwrap();
    for _ in 0..3 {
        put(&mut outbox, "t", 0);
    }
    let err = outbox
        .stage_raw("t".into(), false, |s| Ok(payload(s, 0)))
        .unwrap_err();
    assert!(matches!(err, OutboxError::Full { entries: 3, .. }), "{err}");
    outbox.acknowledge(1).unwrap();
    outbox.acknowledge(2).unwrap();
    // 2 entries now; a payload that would pass max_bytes is refused too.
    let err = outbox
        .stage_raw("t".into(), false, |s| Ok(payload(s, 2_000)))
        .unwrap_err();
    assert!(matches!(err, OutboxError::Full { .. }), "{err}");
    assert_eq!(outbox.stats().full, 2);
    assert_eq!(put(&mut outbox, "t", 0), 4, "refusals consumed no seq");
}

#[test]
fn torn_tail_is_truncated_and_appends_continue() {
    let dir = tempfile::tempdir().unwrap();
    {
        let mut outbox = Outbox::open(dir.path(), limits()).unwrap();
        for _ in 0..5 {
            put(&mut outbox, "t", 10);
        }
    }
    let path = dir.path().join(SEGMENT_FILE);
    let clean_len = std::fs::metadata(&path).unwrap().len();
    // Half a record header and some body: what a crash mid-append leaves.
    let mut data = std::fs::read(&path).unwrap();
    data.extend_from_slice(&[40, 0, 0, 0, 1, 2, 3, 4, 1, 6]);
    std::fs::write(&path, &data).unwrap();

    let mut outbox = Outbox::open(dir.path(), limits()).unwrap();
    assert_eq!(outbox.recovery().torn_tail_bytes, 10);
    assert!(outbox.recovery().corrupt.is_empty());
    assert_eq!(std::fs::metadata(&path).unwrap().len(), clean_len);
    assert_eq!(seqs(&outbox), vec![1, 2, 3, 4, 5]);
    assert_eq!(put(&mut outbox, "t", 0), 6);
    drop(outbox);
    let outbox = Outbox::open(dir.path(), limits()).unwrap();
    assert_eq!(seqs(&outbox), vec![1, 2, 3, 4, 5, 6]);
    assert_eq!(outbox.recovery().torn_tail_bytes, 0);
}

/// Copies `src`'s segment, cut to `len` bytes, into a fresh directory.
fn cut_copy(src: &Path, len: usize) -> tempfile::TempDir {
    let data = std::fs::read(src.join(SEGMENT_FILE)).unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join(SEGMENT_FILE), &data[..len]).unwrap();
    dir
}

#[test]
fn kill_safety_cut_at_every_byte_of_the_last_record() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(SEGMENT_FILE);
    let before_last;
    {
        let mut outbox = Outbox::open(dir.path(), limits()).unwrap();
        for i in 0..6 {
            put(&mut outbox, &format!("picket/t1/tracks/{i}"), 20 + i);
        }
        outbox.acknowledge(2).unwrap();
        outbox.flush().unwrap();
        before_last = std::fs::metadata(&path).unwrap().len() as usize;
        put(&mut outbox, "picket/t1/alerts", 33);
    }
    let full = std::fs::metadata(&path).unwrap().len() as usize;
    assert!(full > before_last + 8);
    for cut in before_last..full {
        let copy = cut_copy(dir.path(), cut);
        let mut outbox =
            Outbox::open(copy.path(), limits()).unwrap_or_else(|e| panic!("cut at {cut}: {e}"));
        assert_eq!(seqs(&outbox), vec![1, 3, 4, 5, 6], "cut at {cut}");
        assert_eq!(outbox.next_seq(), 7, "cut at {cut}");
        assert_eq!(
            outbox.recovery().torn_tail_bytes as usize,
            cut - before_last
        );
        assert!(outbox.recovery().corrupt.is_empty(), "cut at {cut}");
        // And the repaired file takes new records.
        assert_eq!(put(&mut outbox, "x", 0), 7);
    }
    // Uncut: everything is there.
    let outbox = Outbox::open(cut_copy(dir.path(), full).path(), limits()).unwrap();
    assert_eq!(seqs(&outbox), vec![1, 3, 4, 5, 6, 7]);
    // Cut inside the header: an empty outbox, not an error.
    for cut in 0..8 {
        let copy = cut_copy(dir.path(), cut);
        let outbox = Outbox::open(copy.path(), limits()).unwrap();
        assert!(outbox.is_empty());
    }
}

#[test]
fn corruption_in_the_middle_is_reported_skipped_and_preserved() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(SEGMENT_FILE);
    let mut offsets = Vec::new();
    {
        let mut outbox = Outbox::open(dir.path(), limits()).unwrap();
        for _ in 0..5 {
            offsets.push(std::fs::metadata(&path).unwrap().len());
            put(&mut outbox, "t", 50);
        }
    }
    // Flip a payload byte inside record 2 (seq 2).
    let mut data = std::fs::read(&path).unwrap();
    let victim = offsets[1] as usize + 40;
    data[victim] ^= 0xff;
    std::fs::write(&path, &data).unwrap();

    let outbox = Outbox::open(dir.path(), limits()).unwrap();
    let report = outbox.recovery().clone();
    assert_eq!(report.corrupt.len(), 1, "{report:?}");
    assert_eq!(report.corrupt[0].offset, offsets[1]);
    assert_eq!(report.corrupt[0].len, offsets[2] - offsets[1]);
    assert_eq!(seqs(&outbox), vec![1, 3, 4, 5]);
    assert_eq!(outbox.next_seq(), 6);
    let copy = report.preserved_copy.expect("original kept");
    assert_eq!(std::fs::read(&copy).unwrap(), data);
    drop(outbox);
    // The file was rewritten clean: no second report.
    let outbox = Outbox::open(dir.path(), limits()).unwrap();
    assert!(outbox.recovery().corrupt.is_empty());
    assert_eq!(seqs(&outbox), vec![1, 3, 4, 5]);
}

#[test]
fn bad_header_is_an_error_not_a_wipe() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join(SEGMENT_FILE), b"something else entirely").unwrap();
    assert!(matches!(
        Outbox::open(dir.path(), limits()),
        Err(OutboxError::BadHeader(_))
    ));
}

#[test]
fn compaction_bounds_the_file_and_keeps_next_seq() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(SEGMENT_FILE);
    let mut outbox = Outbox::open(dir.path(), limits()).unwrap();
    outbox.set_compact_threshold(4096);
    for _ in 0..2_000 {
        let seq = put(&mut outbox, "picket/t1/tracks/1", 100);
        if seq > 3 {
            outbox.acknowledge(seq).unwrap();
        }
    }
    assert!(outbox.stats().compactions > 10);
    let len = std::fs::metadata(&path).unwrap().len();
    assert!(len < 3 * 4096 + 1024, "file stays bounded: {len}");
    assert_eq!(seqs(&outbox), vec![1, 2, 3]);
    for seq in 1..=3 {
        outbox.acknowledge(seq).unwrap();
    }
    // Force one more compaction with everything acknowledged.
    for _ in 0..100 {
        let seq = put(&mut outbox, "x", 100);
        outbox.acknowledge(seq).unwrap();
    }
    drop(outbox);
    let mut outbox = Outbox::open(dir.path(), limits()).unwrap();
    assert!(outbox.is_empty());
    assert_eq!(
        outbox.next_seq(),
        2_101,
        "the sequence floor survives compaction"
    );
    assert_eq!(put(&mut outbox, "x", 0), 2_101);
}

#[test]
fn group_commit_and_never_policies() {
    for fsync in [
        FsyncPolicy::GroupCommit {
            interval_ms: 60_000,
        },
        FsyncPolicy::Never,
    ] {
        let dir = tempfile::tempdir().unwrap();
        let mut outbox = Outbox::open(
            dir.path(),
            OutboxLimits {
                fsync,
                ..OutboxLimits::default()
            },
        )
        .unwrap();
        for _ in 0..100 {
            put(&mut outbox, "t", 0);
        }
        assert_eq!(outbox.stats().fsyncs, 0, "{fsync:?}");
        outbox.sync().unwrap();
        assert_eq!(outbox.stats().fsyncs, 1);
        drop(outbox);
        assert_eq!(Outbox::open(dir.path(), limits()).unwrap().len(), 100);
    }
}

fn always() -> OutboxLimits {
    OutboxLimits {
        fsync: FsyncPolicy::Always,
        ..limits()
    }
}

/// Stages one raw message and commits it without syncing.
fn put_deferred(outbox: &mut Outbox, topic: &str) -> u64 {
    let seq = outbox
        .stage_raw(topic.to_string(), false, |seq| Ok(payload(seq, 0)))
        .unwrap();
    outbox.commit_deferred().unwrap();
    seq
}

#[test]
fn deferred_commits_under_always_are_published_only_once_synced() {
    let dir = tempfile::tempdir().unwrap();
    let mut outbox = Outbox::open(dir.path(), always()).unwrap();
    put_deferred(&mut outbox, "a");
    put_deferred(&mut outbox, "b");
    assert_eq!(seqs(&outbox), Vec::<u64>::new(), "not durable: not visible");
    assert_eq!((outbox.len(), outbox.awaiting_sync()), (2, 2));
    assert!(outbox.sync_due());
    assert_eq!(outbox.stats().fsyncs, 0, "the commit itself never syncs");

    let request = outbox.begin_sync().unwrap().unwrap();
    // Committed while the fsync runs: the next sync's, not this one's.
    put_deferred(&mut outbox, "c");
    let result = request.run();
    assert_eq!(outbox.finish_sync(&request, result).unwrap(), 2);
    assert_eq!(seqs(&outbox), vec![1, 2]);
    assert_eq!(outbox.awaiting_sync(), 1);

    outbox.sync().unwrap();
    assert_eq!(seqs(&outbox), vec![1, 2, 3]);
    assert!(!outbox.sync_due());
    assert!(
        outbox.begin_sync().unwrap().is_none(),
        "nothing left to sync"
    );
    assert_eq!(outbox.stats().fsyncs, 2);
}

#[test]
fn deferred_commits_under_group_commit_are_visible_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let mut outbox = Outbox::open(
        dir.path(),
        OutboxLimits {
            fsync: FsyncPolicy::GroupCommit { interval_ms: 0 },
            ..limits()
        },
    )
    .unwrap();
    put_deferred(&mut outbox, "a");
    assert_eq!(seqs(&outbox), vec![1]);
    assert_eq!(outbox.stats().fsyncs, 0);
    assert!(outbox.sync_due(), "interval 0 has passed");
    outbox.sync().unwrap();
    assert!(!outbox.sync_due());
}

#[test]
fn entries_awaiting_sync_survive_a_crash_and_count_against_the_bounds() {
    let dir = tempfile::tempdir().unwrap();
    let mut outbox = Outbox::open(
        dir.path(),
        OutboxLimits {
            max_entries: 2,
            ..always()
        },
    )
    .unwrap();
    put_deferred(&mut outbox, "a");
    put_deferred(&mut outbox, "b");
    assert!(matches!(
        outbox.stage_raw("c".into(), false, |seq| Ok(payload(seq, 0))),
        Err(OutboxError::Full { entries: 2, .. })
    ));
    // A process crash (no sync): the writes are in the page cache, and a
    // restart publishes them.
    drop(outbox);
    let outbox = Outbox::open(dir.path(), always()).unwrap();
    assert_eq!(seqs(&outbox), vec![1, 2]);
}

#[test]
fn a_compaction_during_a_sync_publishes_what_awaited_it() {
    let dir = tempfile::tempdir().unwrap();
    let mut outbox = Outbox::open(dir.path(), always()).unwrap();
    outbox.set_compact_threshold(512);
    let mut acked = 0;
    while outbox.stats().compactions == 0 {
        let seq = put_deferred(&mut outbox, "x");
        outbox.sync().unwrap();
        outbox.acknowledge(seq).unwrap();
        acked += 1;
        assert!(acked < 1_000, "no compaction");
    }
    let first = put_deferred(&mut outbox, "kept");
    let stale = outbox.begin_sync().unwrap().unwrap();
    let second = put_deferred(&mut outbox, "kept");
    // Acks until the next compaction, which rewrites the file with the
    // awaiting entries in it and syncs it: they are durable now.
    let compactions = outbox.stats().compactions;
    while outbox.stats().compactions == compactions {
        let seq = outbox
            .stage_raw("x".into(), false, |seq| Ok(payload(seq, 0)))
            .unwrap();
        outbox.commit().unwrap();
        outbox.acknowledge(seq).unwrap();
    }
    assert_eq!(outbox.awaiting_sync(), 0);
    assert_eq!(seqs(&outbox), vec![first, second]);
    // The sync started on the old file releases nothing new.
    let result = stale.run();
    assert_eq!(outbox.finish_sync(&stale, result).unwrap(), 0);
    drop(outbox);
    let outbox = Outbox::open(dir.path(), always()).unwrap();
    assert_eq!(seqs(&outbox), vec![first, second]);
}

/// Commits and acknowledges entries until a compaction is due (background
/// compaction: acknowledgements no longer compact inline).
fn pile_up_acks(outbox: &mut Outbox) {
    let mut acked = 0;
    while !outbox.compaction_due() {
        let seq = put_deferred(outbox, "x");
        outbox.sync().unwrap();
        outbox.acknowledge(seq).unwrap();
        acked += 1;
        assert!(acked < 1_000, "no compaction due");
    }
    assert_eq!(outbox.stats().compactions, 0, "never inline");
}

#[test]
fn a_background_compaction_keeps_what_was_written_while_it_ran() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(SEGMENT_FILE);
    let mut outbox = Outbox::open(dir.path(), always()).unwrap();
    outbox.set_compact_threshold(512);
    outbox.set_background_compaction(true);
    let kept = put_deferred(&mut outbox, "kept");
    outbox.sync().unwrap();
    let acked_during = put_deferred(&mut outbox, "acked-during");
    outbox.sync().unwrap();
    pile_up_acks(&mut outbox);
    let before = std::fs::metadata(&path).unwrap().len();

    let request = outbox.begin_compaction().unwrap().unwrap();
    // While the new file is written without the lock: an ack, a synced
    // entry and one still awaiting its sync.
    outbox.acknowledge(acked_during).unwrap();
    let synced_during = put_deferred(&mut outbox, "synced-during");
    outbox.sync().unwrap();
    let awaiting = put_deferred(&mut outbox, "awaiting");
    let written = request.run();
    assert!(outbox.finish_compaction(&request, written).unwrap());
    assert_eq!(outbox.stats().compactions, 1);
    assert!(std::fs::metadata(&path).unwrap().len() < before);

    assert_eq!(seqs(&outbox), vec![kept, synced_during]);
    assert_eq!(outbox.awaiting_sync(), 1, "published only once synced");
    assert!(outbox.sync_due(), "the new file and its name need a sync");
    outbox.sync().unwrap();
    assert_eq!(seqs(&outbox), vec![kept, synced_during, awaiting]);
    let after = put_deferred(&mut outbox, "after");
    outbox.sync().unwrap();

    drop(outbox);
    let outbox = Outbox::open(dir.path(), always()).unwrap();
    assert_eq!(seqs(&outbox), vec![kept, synced_during, awaiting, after]);
    assert_eq!(outbox.next_seq(), after + 1);
}

#[test]
fn a_failed_or_stale_background_compaction_leaves_the_old_file_in_use() {
    let dir = tempfile::tempdir().unwrap();
    let mut outbox = Outbox::open(dir.path(), always()).unwrap();
    outbox.set_compact_threshold(512);
    outbox.set_background_compaction(true);
    let kept = put_deferred(&mut outbox, "kept");
    outbox.sync().unwrap();
    pile_up_acks(&mut outbox);

    let failed = outbox.begin_compaction().unwrap().unwrap();
    let failure = std::io::Error::other("ENOSPC");
    assert!(matches!(
        outbox.finish_compaction(&failed, Err(failure)),
        Err(OutboxError::Io { .. })
    ));
    let more = put_deferred(&mut outbox, "more");
    outbox.sync().unwrap();
    assert_eq!(seqs(&outbox), vec![kept, more], "not poisoned");

    let stale = outbox.begin_compaction().unwrap().unwrap();
    let current = outbox.begin_compaction().unwrap().unwrap();
    let written = current.run();
    assert!(outbox.finish_compaction(&current, written).unwrap());
    let written = stale.run();
    assert!(
        !outbox.finish_compaction(&stale, written).unwrap(),
        "a snapshot of the replaced file is dropped"
    );
    outbox.sync().unwrap();
    drop(outbox);
    let outbox = Outbox::open(dir.path(), always()).unwrap();
    assert_eq!(seqs(&outbox), vec![kept, more]);
}

#[test]
fn a_failed_fsync_poisons_the_outbox_and_publishes_nothing_more() {
    let dir = tempfile::tempdir().unwrap();
    let mut outbox = Outbox::open(dir.path(), always()).unwrap();
    put_deferred(&mut outbox, "a");
    let request = outbox.begin_sync().unwrap().unwrap();
    let failure = std::io::Error::other("EIO");
    assert!(matches!(
        outbox.finish_sync(&request, Err(failure)),
        Err(OutboxError::Io { .. })
    ));
    assert_eq!(seqs(&outbox), Vec::<u64>::new());
    assert_eq!(outbox.awaiting_sync(), 1);
    assert!(matches!(
        outbox.stage_raw("b".into(), false, |seq| Ok(payload(seq, 0))),
        Err(OutboxError::Poisoned)
    ));
    assert!(matches!(outbox.begin_sync(), Err(OutboxError::Poisoned)));
}

#[test]
fn fsync_policy_and_limits_parse_from_toml() {
    #[derive(serde::Deserialize)]
    struct State {
        outbox: OutboxLimits,
    }
    let s: State = toml::from_str(
        "[outbox]\nmax_entries = 5\nfsync = { group_commit = { interval_ms = 10 } }\n",
    )
    .unwrap();
    assert_eq!(s.outbox.max_entries, 5);
    assert_eq!(s.outbox.max_bytes, OutboxLimits::default().max_bytes);
    assert_eq!(s.outbox.fsync, FsyncPolicy::GroupCommit { interval_ms: 10 });
    let s: State = toml::from_str("[outbox]\nfsync = \"never\"\n").unwrap();
    assert_eq!(s.outbox.fsync, FsyncPolicy::Never);
    assert!(toml::from_str::<State>("[outbox]\nmax_entrys = 5\n").is_err());
}

#[derive(Debug, Clone)]
enum Op {
    /// Stage `n` messages (payload sizes from the vector) and commit.
    Batch(Vec<u16>),
    /// Stage without committing, then "crash".
    StagedThenCrash(u8),
    /// Acknowledge the i-th (mod len) unacked entry.
    Ack(u16),
    /// Clean close and reopen.
    Reopen,
    /// Crash (no flush of buffered acks) and reopen.
    Crash,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => prop::collection::vec(0u16..300, 1..5).prop_map(Op::Batch),
        1 => (1u8..4).prop_map(Op::StagedThenCrash),
        4 => any::<u16>().prop_map(Op::Ack),
        1 => Just(Op::Reopen),
        1 => Just(Op::Crash),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// The outbox behaves like a map from seq to message whose keys are
    /// handed out in order and never reused, across clean reopens and
    /// crashes. A crash may resurrect acks that were still buffered (a
    /// duplicate later, never a loss), and drops uncommitted stages.
    #[test]
    fn outbox_matches_the_model(ops in prop::collection::vec(op(), 1..40)) {
        let dir = tempfile::tempdir().unwrap();
        let lim = OutboxLimits { max_entries: 50, max_bytes: 4_000, fsync: FsyncPolicy::Never };
        let mut outbox = Outbox::open(dir.path(), lim).unwrap();
        outbox.set_compact_threshold(512);
        // seq -> (topic, payload)
        let mut model: BTreeMap<u64, (String, Vec<u8>)> = BTreeMap::new();
        // Acked since the last flush point: a crash may bring them back.
        let mut maybe_back: BTreeMap<u64, (String, Vec<u8>)> = BTreeMap::new();
        let mut next = 1u64;
        for op in ops {
            match op {
                Op::Batch(sizes) => {
                    let mut staged = Vec::new();
                    for size in sizes {
                        let topic = format!("t/{size}");
                        match outbox.stage_raw(topic.clone(), size % 2 == 0, |s| Ok(payload(s, size as usize))) {
                            Ok(seq) => {
                                prop_assert_eq!(seq, next);
                                staged.push((seq, topic, payload(seq, size as usize)));
                                next += 1;
                            }
                            Err(OutboxError::Full { .. }) => {}
                            Err(e) => panic!("{e}"),
                        }
                    }
                    outbox.commit().unwrap();
                    // A commit writes buffered acks too.
                    maybe_back.clear();
                    for (seq, topic, p) in staged {
                        model.insert(seq, (topic, p));
                    }
                }
                Op::StagedThenCrash(n) => {
                    for _ in 0..n {
                        let _ = outbox.stage_raw("s".into(), false, |s| Ok(payload(s, 1)));
                    }
                    std::mem::forget(outbox);
                    outbox = Outbox::open(dir.path(), lim).unwrap();
                    outbox.set_compact_threshold(512);
                    let got: Vec<u64> = seqs(&outbox);
                    // Stages were never committed, but their bytes may have
                    // reached the file if the buffer filled; either way they
                    // must not show up as committed entries with new data.
                    for seq in &got {
                        prop_assert!(model.contains_key(seq) || maybe_back.contains_key(seq) || *seq >= next,
                            "unexpected seq {}", seq);
                    }
                    // Rebuild the model from what survived (a subset rule).
                    for (seq, (topic, p)) in &model {
                        let e = outbox.unacked().find(|e| e.seq == *seq);
                        prop_assert!(e.is_some(), "lost committed seq {}", seq);
                        let e = e.unwrap();
                        prop_assert_eq!(&e.topic, topic);
                        prop_assert_eq!(&e.payload, p);
                    }
                    model = outbox.unacked().map(|e| (e.seq, (e.topic.clone(), e.payload.clone()))).collect();
                    maybe_back.clear();
                    prop_assert!(outbox.next_seq() >= next);
                    next = outbox.next_seq();
                }
                Op::Ack(i) => {
                    if !model.is_empty() {
                        let seq = *model.keys().nth(i as usize % model.len()).unwrap();
                        outbox.acknowledge(seq).unwrap();
                        let v = model.remove(&seq).unwrap();
                        maybe_back.insert(seq, v);
                    }
                }
                Op::Reopen => {
                    drop(outbox);
                    outbox = Outbox::open(dir.path(), lim).unwrap();
                    outbox.set_compact_threshold(512);
                    maybe_back.clear();
                    prop_assert_eq!(outbox.next_seq(), next);
                }
                Op::Crash => {
                    std::mem::forget(outbox);
                    outbox = Outbox::open(dir.path(), lim).unwrap();
                    outbox.set_compact_threshold(512);
                    prop_assert_eq!(outbox.next_seq(), next);
                    // Resurrected acks come back as unacked entries.
                    for seq in seqs(&outbox) {
                        if let std::collections::btree_map::Entry::Vacant(slot) = model.entry(seq) {
                            let v = maybe_back.get(&seq).cloned();
                            prop_assert!(v.is_some(), "seq {} neither live nor recently acked", seq);
                            slot.insert(v.unwrap());
                        }
                    }
                    maybe_back.clear();
                }
            }
            let got: Vec<(u64, String, Vec<u8>)> =
                outbox.unacked().map(|e| (e.seq, e.topic.clone(), e.payload.clone())).collect();
            let want: Vec<(u64, String, Vec<u8>)> =
                model.iter().map(|(s, (t, p))| (*s, t.clone(), p.clone())).collect();
            prop_assert_eq!(got, want);
            prop_assert_eq!(outbox.next_seq(), next);
            prop_assert!(outbox.recovery().corrupt.is_empty());
        }
    }
}

#[test]
fn the_sync_thread_compacts_outside_the_lock_and_loses_nothing() {
    use std::sync::{Arc, Mutex};
    use std::time::{Duration, Instant};

    use picketd::outbox::lock;
    use picketd::outbox_sync;
    use picketd::telemetry::DaemonCounters;

    let dir = tempfile::tempdir().unwrap();
    let outbox = Arc::new(Mutex::new(Outbox::open(dir.path(), always()).unwrap()));
    lock(&outbox).set_compact_threshold(512);
    let (waker, thread) = outbox_sync::start(
        Arc::clone(&outbox),
        FsyncPolicy::Always,
        Arc::new(tokio::sync::Notify::new()),
        Arc::new(DaemonCounters::default()),
    )
    .unwrap();
    // As the engine commits and the MQTT task acknowledges; every tenth
    // entry stays unacknowledged.
    let mut kept = Vec::new();
    for i in 0..300 {
        let seq = {
            let mut outbox = lock(&outbox);
            let seq = outbox
                .stage_raw("t".into(), false, |seq| Ok(payload(seq, 40)))
                .unwrap();
            outbox.commit_deferred().unwrap();
            waker.committed(&outbox);
            seq
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while !seqs(&lock(&outbox)).contains(&seq) {
            assert!(Instant::now() < deadline, "entry {seq} never published");
            std::thread::sleep(Duration::from_micros(200));
        }
        if i % 10 == 0 {
            kept.push(seq);
        } else {
            lock(&outbox).acknowledge(seq).unwrap();
        }
    }
    drop(waker);
    thread.join();
    let outbox = Arc::try_unwrap(outbox).unwrap().into_inner().unwrap();
    assert!(outbox.stats().compactions > 0, "the thread compacted");
    assert_eq!(seqs(&outbox), kept);
    drop(outbox);
    let outbox = Outbox::open(dir.path(), always()).unwrap();
    assert_eq!(seqs(&outbox), kept);
}

#[test]
fn retained_topics_survive_acknowledgement_compaction_and_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let mut outbox = Outbox::open(dir.path(), limits()).unwrap();
    outbox.set_compact_threshold(512);
    let publish = |outbox: &mut Outbox, topic: &str, retained: bool, body: &[u8]| {
        let body = body.to_vec();
        let seq = outbox
            .stage_raw(topic.into(), retained, |_| Ok(body))
            .unwrap();
        outbox.commit().unwrap();
        outbox.acknowledge(seq).unwrap();
    };
    publish(&mut outbox, "picket/s/tracks/1", true, b"{}");
    publish(&mut outbox, "picket/s/tracks/2", true, b"{}");
    publish(&mut outbox, "picket/s/alerts", false, b"{}");
    // A clear (empty retained payload) leaves nothing retained.
    publish(&mut outbox, "picket/s/tracks/2", true, b"");
    while outbox.stats().compactions < 2 {
        publish(&mut outbox, "picket/s/alerts", false, &[b' '; 100]);
    }
    let retained = |outbox: &Outbox| {
        outbox
            .retained_topics()
            .map(str::to_owned)
            .collect::<Vec<_>>()
    };
    assert_eq!(retained(&outbox), ["picket/s/tracks/1"]);
    drop(outbox);
    let mut outbox = Outbox::open(dir.path(), limits()).unwrap();
    assert!(outbox.is_empty());
    assert_eq!(retained(&outbox), ["picket/s/tracks/1"]);
    publish(&mut outbox, "picket/s/tracks/1", true, b"");
    drop(outbox);
    assert!(retained(&Outbox::open(dir.path(), limits()).unwrap()).is_empty());
}
