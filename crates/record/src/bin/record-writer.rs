//! Crash-test child (tests/crash.rs): appends a known pattern of records to
//! a recording until it is killed, and after every fsync writes the last
//! durable sequence number to a side file, so the test can check that a
//! `kill -9` lost nothing that was reported durable.
//!
//! Usage: `record-writer DIR SIDE_FILE FSYNC_EVERY_N_RECORDS`
//!
//! Record `seq` holds: kind `seq % 3` (serial, MQTT, tick), source
//! `src-<seq % 7>` (empty for ticks), time `seq * 1000` µs, and a payload
//! of `mix(seq) % 300` bytes (none for ticks), byte `i` being
//! `(mix(seq) >> 8) as u8 + i as u8` (wrapping).

use std::fs::OpenOptions;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use picket_record::{Entry, FsyncPolicy, RecordKind, Recorder, RecorderConfig, Retention};

/// splitmix64's finaliser: a cheap, well-mixed function of `seq`.
fn mix(seq: u64) -> u64 {
    let mut z = seq.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn run() -> Result<(), String> {
    let args: Vec<String> = std::env::args().collect();
    let [_, dir, side, every] = args.as_slice() else {
        return Err("usage: record-writer DIR SIDE_FILE FSYNC_EVERY_N_RECORDS".into());
    };
    let every: u64 = every.parse().map_err(|e| format!("FSYNC_EVERY: {e}"))?;
    let config = RecorderConfig {
        fsync: FsyncPolicy::EveryRecords(every),
        // Small segments so that kills land in rotations too.
        max_segment_bytes: 128 * 1024,
        retention: Retention {
            max_total_bytes: 4 * 1024 * 1024,
            max_age: None,
        },
        write_buffer_bytes: 4096,
    };
    let (mut recorder, _) =
        Recorder::open(&PathBuf::from(dir), config, 0).map_err(|e| format!("open: {e}"))?;
    let side = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(side)
        .map_err(|e| format!("side file: {e}"))?;
    let mut reported = recorder.durable_seq();
    let mut payload = Vec::with_capacity(300);
    let sources: Vec<String> = (0..7).map(|i| format!("src-{i}")).collect();
    loop {
        let seq = recorder.next_seq();
        let kind = [RecordKind::Serial, RecordKind::Mqtt, RecordKind::Tick][(seq % 3) as usize];
        payload.clear();
        let mut source = "";
        if kind != RecordKind::Tick {
            let m = mix(seq);
            payload.extend((0..m % 300).map(|i| ((m >> 8) as u8).wrapping_add(i as u8)));
            source = &sources[(seq % 7) as usize];
        }
        let entry = Entry {
            time_us: (seq as i64).wrapping_mul(1000),
            kind,
            source,
            payload: &payload,
        };
        recorder
            .append(&entry)
            .map_err(|e| format!("append: {e}"))?;
        if recorder.durable_seq() != reported {
            reported = recorder.durable_seq();
            if let Some(durable) = reported {
                // One 8-byte pwrite: a kill lands before or after it, and
                // either value is a true lower bound.
                side.write_at(&durable.to_le_bytes(), 0)
                    .map_err(|e| format!("side file: {e}"))?;
            }
        }
        if seq % 64 == 0 {
            // Leave the kill a chance to land between appends too.
            std::thread::sleep(Duration::from_micros(50));
        }
    }
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("record-writer: {e}");
            ExitCode::FAILURE
        }
    }
}
