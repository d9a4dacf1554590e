//! Issue 6, "Done when": 50 random SIGKILLs of a recording process; every
//! record read back is valid, and at most the unsynced window is lost.
//!
//! The child (`src/bin/record-writer.rs`) appends a known pattern to one
//! recording directory, reopening it each run (so recovery after a kill is
//! exercised 50 times too), and after every fsync writes the last durable
//! sequence number to a side file. After each kill the test reopens the
//! recording and checks that every record is the pattern's record for its
//! sequence number, that numbers are contiguous, and that nothing at or
//! before the reported durable number is missing.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::fs;
use std::os::unix::process::ExitStatusExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use picket_record::{Damage, Reader, RecordKind};

const RUNS: usize = 50;
const SEED: u64 = 0x5EED_0006;

/// Same as the writer's.
fn mix(seq: u64) -> u64 {
    let mut z = seq.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The writer's record `seq`: (kind, source, time, payload).
fn expected(seq: u64) -> (RecordKind, String, i64, Vec<u8>) {
    let kind = [RecordKind::Serial, RecordKind::Mqtt, RecordKind::Tick][(seq % 3) as usize];
    if kind == RecordKind::Tick {
        return (kind, String::new(), seq as i64 * 1000, Vec::new());
    }
    let m = mix(seq);
    let payload = (0..m % 300)
        .map(|i| ((m >> 8) as u8).wrapping_add(i as u8))
        .collect();
    (kind, format!("src-{}", seq % 7), seq as i64 * 1000, payload)
}

#[test]
fn fifty_random_sigkills_lose_at_most_the_unsynced_window() {
    let exe = env!("CARGO_BIN_EXE_record-writer");
    let work = tempfile::tempdir().unwrap();
    let recording = work.path().join("recording");
    let side = work.path().join("durable");
    let mut rng = SEED;
    let mut next = || {
        rng = mix(rng);
        rng
    };
    let started = Instant::now();
    let (mut torn, mut appended_total) = (0, 0u64);
    let mut previous_last: Option<u64> = None;
    for run in 0..RUNS {
        let every = [1u64, 4, 16, 64][(next() % 4) as usize];
        let delay = Duration::from_micros(2_000 + next() % 60_000);
        let mut child = Command::new(exe)
            .arg(&recording)
            .arg(&side)
            .arg(every.to_string())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        std::thread::sleep(delay);
        child.kill().unwrap(); // SIGKILL
        let output = child.wait_with_output().unwrap();
        assert_eq!(
            output.status.signal(),
            Some(9),
            "run {run}: writer exited on its own: {}",
            String::from_utf8_lossy(&output.stderr)
        );

        let durable = fs::read(&side)
            .ok()
            .filter(|b| b.len() == 8)
            .map(|b| u64::from_le_bytes(b.try_into().unwrap()));
        let reader = Reader::open(&recording).unwrap();
        let report = reader.report();
        for damage in &report.damage {
            assert!(
                matches!(damage, Damage::TornTail { .. }),
                "run {run}: only torn tails are expected from a kill: {damage}"
            );
            torn += 1;
        }
        let mut cursor = reader.cursor();
        let mut expected_seq = report.first_seq();
        let mut count = 0u64;
        while let Some(record) = cursor.next().unwrap() {
            assert_eq!(Some(record.seq), expected_seq, "run {run}: out of sequence");
            let (kind, source, time_us, payload) = expected(record.seq);
            assert_eq!(record.entry.kind, kind, "run {run} seq {}", record.seq);
            assert_eq!(record.entry.source, source, "run {run} seq {}", record.seq);
            assert_eq!(
                record.entry.time_us, time_us,
                "run {run} seq {}",
                record.seq
            );
            assert_eq!(
                record.entry.payload, payload,
                "run {run} seq {}",
                record.seq
            );
            expected_seq = Some(record.seq + 1);
            count += 1;
        }
        assert_eq!(count, report.records());
        let last = report.last_seq();
        if let Some(durable) = durable {
            assert!(
                last.is_some_and(|last| last >= durable),
                "run {run}: durable up to {durable} but only {last:?} read back"
            );
        }
        // A later run never goes backwards: a kill cannot take what an
        // earlier run made durable (each open fsyncs the recovered tail).
        assert!(
            last >= previous_last,
            "run {run}: {last:?} < {previous_last:?}"
        );
        appended_total += last.map_or(0, |l| l + 1) - previous_last.map_or(0, |l| l + 1);
        previous_last = last;
    }
    eprintln!(
        "{RUNS} kills in {:.1} s: {appended_total} records survived, {torn} torn tails cut",
        started.elapsed().as_secs_f64()
    );
    assert!(
        appended_total > 1000,
        "the writer barely ran: {appended_total}"
    );
}
