//! Time faults (issue 7, category 4) end to end through picketd, a real
//! pty and a real Mosquitto: reports shuffled within the reorder lag give
//! byte-identical track messages (apart from the outbox's `seq`) to the
//! same reports in order; reports later
//! than the lag, timestamps beyond the allowed clock skew, a sensor clock
//! an hour behind or ahead, backward jumps, and duplicated sequence numbers
//! are each counted in their own drop counter while the rest is applied
//! exactly once.
//!
//! The engine-level versions (`crates/engine/tests/reorder.rs`,
//! `crates/engine/tests/rejections.rs`) check the same rules without I/O;
//! these check that the daemon's receive stamping, batching and shutdown
//! flush keep them.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod e2e_support;

use std::time::Duration;

use e2e_support::*;
use picket_engine::DropCounters;
use picket_system_tests::faults::{Rng, assert_all_delivered};
use picket_system_tests::mosquitto::{Mosquitto, Subscriber};
use serde_json::Value;

const WAIT: Duration = Duration::from_secs(30);

/// One report of the scenario: a frame and its sensor time.
#[derive(Clone)]
struct Report {
    time_us: i64,
    frame: Vec<u8>,
}

/// Three walkers, one scan every 100 ms for 4 s, timed from `t0_us`.
fn scenario(t0_us: i64) -> Vec<Report> {
    let mut reports = Vec::new();
    let mut sequence = 0;
    for scan in 0..40 {
        let time_us = t0_us + scan * 100_000;
        for walker in 0..3 {
            sequence += 1;
            let east = f64::from(walker) * 30.0 - 30.0;
            let north = -20.0 + scan as f64 * 0.15;
            reports.push(Report {
                time_us,
                frame: wire(&position_at(sequence, time_us, east, north)),
            });
        }
    }
    reports
}

/// Runs a fresh daemon (lag 30 s, ticks every 10 s so that no tick falls
/// inside the run and the output depends on the inputs alone), writes
/// `reports` in the given order in one burst, stops it (the shutdown flush
/// releases the reorder buffer) and returns the track messages in seq
/// order with the report.
async fn run_burst(reports: &[Report], name: &str) -> (Vec<Vec<u8>>, picketd::RunReport) {
    let broker = Mosquitto::start().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let pty = Pty::start(dir.path(), "geo");
    let state = dir.path().join("state");
    let text = config_text(broker.port(), &state, &pty.device, "")
        .replace("reorder_lag_ms = 100", "reorder_lag_ms = 30000")
        .replace("tick_interval_ms = 50", "tick_interval_ms = 10000");
    let sub = Subscriber::connect(broker.port(), name, &[&format!("picket/{SITE}/#")])
        .await
        .unwrap();
    let daemon = Daemon::start(parse_config(&text));
    sub.wait_for(WAIT, |m| m.iter().any(|m| m.topic.ends_with("/status")))
        .await
        .expect("birth status");
    let mut writer = pty.writer();
    let mut burst = Vec::new();
    for report in reports {
        burst.extend_from_slice(&report.frame);
    }
    write_all(&mut writer, &burst);
    let key = format!("serial.{}.bytes", pty.device.display());
    sub.wait_for(WAIT, |m| {
        status_counter(m, &key) == Some(burst.len() as u64)
    })
    .await
    .expect("every byte read");
    let (report, _) = daemon.stop(Duration::from_secs(15)).await;
    assert!(report.clean, "{report:?}");
    assert_all_delivered(&sub, report.outputs_enqueued, WAIT).await;
    let mut tracks: Vec<(u64, Vec<u8>)> = sub
        .messages()
        .into_iter()
        .filter(|m| m.topic.contains("/tracks/") && !m.payload.is_empty())
        .filter_map(|m| {
            let seq = serde_json::from_slice::<Value>(&m.payload).ok()?["seq"].as_u64()?;
            Some((seq, m.payload))
        })
        .collect();
    tracks.sort();
    tracks.dedup();
    sub.close().await;
    (
        tracks.into_iter().map(|(_, p)| without_seq(&p)).collect(),
        report,
    )
}

/// The payload with its `seq` value blanked: seqs are stamped by the
/// outbox, which also numbers health messages whose timing depends on the
/// wall clock; everything else comes from the engine.
fn without_seq(payload: &[u8]) -> Vec<u8> {
    const KEY: &[u8] = b"\"seq\":";
    match payload.windows(KEY.len()).position(|w| w == KEY) {
        Some(at) => {
            let start = at + KEY.len();
            let end = start
                + payload[start..]
                    .iter()
                    .take_while(|b| b.is_ascii_digit())
                    .count();
            [&payload[..start], b"_", &payload[end..]].concat()
        }
        None => payload.to_vec(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shuffled_within_the_reorder_lag_gives_byte_identical_tracks() {
    // Sensor times 6 s to 2 s in the past: inside the 30 s lag for both
    // runs, never ahead of the clock.
    let t0 = now_us() - 6_000_000;
    let in_order = scenario(t0);
    let mut shuffled = in_order.clone();
    let mut rng = Rng::new(0x5EED_0004);
    for i in (1..shuffled.len()).rev() {
        let j = rng.below(i as u64 + 1) as usize;
        shuffled.swap(i, j);
    }
    let inversions = shuffled
        .windows(2)
        .filter(|w| w[0].time_us > w[1].time_us)
        .count();
    assert!(inversions > 30, "the shuffle reorders: {inversions}");
    let (a, report_a) = run_burst(&in_order, "time-in-order").await;
    let (b, report_b) = run_burst(&shuffled, "time-shuffled").await;
    for report in [&report_a, &report_b] {
        assert_eq!(report.engine.dropped, DropCounters::default());
        assert_eq!(report.engine.detections, in_order.len() as u64);
    }
    assert!(a.len() > 50, "{} track messages", a.len());
    assert!(a.iter().all(|p| p.windows(8).any(|w| w == b"\"seq\":_,")));
    assert_eq!(a.len(), b.len());
    for (i, (x, y)) in a.iter().zip(&b).enumerate() {
        assert_eq!(
            String::from_utf8_lossy(x),
            String::from_utf8_lossy(y),
            "track message {i} differs"
        );
    }
    eprintln!(
        "shuffle within lag: {} reports, {inversions} adjacent inversions; {} track messages, \
         byte-identical to in-order (seq aside); no drops",
        in_order.len(),
        a.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn late_future_skewed_backward_and_duplicated_reports_are_counted_and_the_rest_applied_once()
{
    // Lag 1 s (the default is 0.5 s), skew 2 s (default); live ticks.
    let broker = Mosquitto::start().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let pty = Pty::start(dir.path(), "geo");
    let state = dir.path().join("state");
    let text = config_text(broker.port(), &state, &pty.device, "").replace(
        "reorder_lag_ms = 100",
        "reorder_lag_ms = 1000\nmax_clock_skew_ms = 2000",
    );
    let sub = Subscriber::connect(broker.port(), "time-faults", &[&format!("picket/{SITE}/#")])
        .await
        .unwrap();
    let daemon = Daemon::start(parse_config(&text));
    sub.wait_for(WAIT, |m| m.iter().any(|m| m.topic.ends_with("/status")))
        .await
        .expect("birth status");
    let rad = format!("picket/{SITE}/sensors/rad-01/reports");
    // Make sure the MQTT subscription is live before counting.
    loop {
        sub.publish(&rad, json(&heartbeat()), false).await.unwrap();
        tokio::time::sleep(Duration::from_millis(200)).await;
        if status_counter(&sub.messages(), "mqtt_inputs_received").unwrap_or(0) > 0 {
            break;
        }
    }
    let mut writer = pty.writer();
    let mut expected = DropCounters::default();
    let mut accepted = 0u64;
    let mut sequence = 0u32;
    let mut held_back: Vec<Vec<u8>> = Vec::new();
    let mut written = 0u64;
    let send = |writer: &mut std::fs::File, frame: &[u8], written: &mut u64| {
        write_all(writer, frame);
        *written += frame.len() as u64;
    };
    // A walker at 20 Hz for 6 s with faults mixed in.
    for step in 0..120u32 {
        sequence += 1;
        let now = now_us();
        let north = -20.0 + f64::from(step) * 0.1;
        let frame = wire(&position_at(sequence, now, 0.5, north));
        match step % 20 {
            // Held back and sent 2.5 s late (> lag): too late.
            3 => {
                held_back.push(frame);
                expected.too_late += 1;
            }
            // Sent twice: applied once, the copy is a duplicate.
            5 => {
                send(&mut writer, &frame, &mut written);
                send(&mut writer, &frame, &mut written);
                accepted += 1;
                expected.duplicate += 1;
            }
            // 5 s ahead of the clock (> skew): too far in the future.
            7 => {
                let ahead = wire(&position_at(sequence, now + 5_000_000, 0.5, north));
                send(&mut writer, &ahead, &mut written);
                expected.too_far_future += 1;
            }
            // 1.5 s ahead (within the skew): accepted.
            9 => {
                let ahead = wire(&position_at(sequence, now + 1_500_000, 0.5, north));
                send(&mut writer, &ahead, &mut written);
                accepted += 1;
            }
            // A backward jump within the lag (0.4 s): reordered, accepted.
            11 => {
                let back = wire(&position_at(sequence, now - 400_000, 0.5, north));
                send(&mut writer, &back, &mut written);
                accepted += 1;
            }
            // A backward jump beyond it (10 s): too late.
            13 => {
                let back = wire(&position_at(sequence, now - 10_000_000, 0.5, north));
                send(&mut writer, &back, &mut written);
                expected.too_late += 1;
            }
            _ => {
                send(&mut writer, &frame, &mut written);
                accepted += 1;
            }
        }
        if step % 20 == 19 {
            // A sensor clock an hour behind, and one an hour ahead (the
            // detector on MQTT): too late, too far in the future.
            let mut behind = heartbeat();
            let mut ahead = heartbeat();
            if let (picket_wire::Message::Heartbeat(b), picket_wire::Message::Heartbeat(a)) =
                (&mut behind, &mut ahead)
            {
                b.sensor_time_us -= 3_600_000_000;
                a.sensor_time_us += 3_600_000_000;
            }
            sub.publish(&rad, json(&behind), false).await.unwrap();
            sub.publish(&rad, json(&ahead), false).await.unwrap();
            expected.too_late += 1;
            expected.too_far_future += 1;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The held-back reports, 2.5 s or more after their time (lag 1 s).
    tokio::time::sleep(Duration::from_millis(2500)).await;
    for late in held_back.drain(..) {
        write_all(&mut writer, &late);
        written += late.len() as u64;
    }
    let key = format!("serial.{}.bytes", pty.device.display());
    sub.wait_for(WAIT, |m| status_counter(m, &key) == Some(written))
        .await
        .expect("every byte read");
    let (report, _) = daemon.stop(Duration::from_secs(15)).await;
    assert!(report.clean, "{report:?}");
    assert_eq!(report.engine.dropped, expected, "drops by reason");
    assert_eq!(
        report.engine.detections, accepted,
        "every accepted report applied exactly once"
    );
    assert_all_delivered(&sub, report.outputs_enqueued, WAIT).await;
    eprintln!(
        "time faults: {accepted} reports applied once; drops {:?}; {} outputs delivered without gap",
        report.engine.dropped, report.outputs_enqueued
    );
    sub.close().await;
}
