//! A flood at 10x the rated rate on one serial line (issue 7, category 1),
//! through a whole picketd reading a real socat pty and publishing to a
//! real Mosquitto: memory bounded, every drop counted, every enqueued
//! output delivered without a gap, and the publish latency of what was
//! kept measured against a budget. Alone in its test binary so the memory
//! and latency figures are its own.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod e2e_support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use e2e_support::*;
use picket_system_tests::faults::{ArrivalRecorder, assert_all_delivered, mb, rss_bytes};

const WAIT: Duration = Duration::from_secs(30);

/// Percentile of sorted `values` (nearest rank).
fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_at_ten_times_the_rated_rate_is_bounded_counted_and_delivered() {
    // The rated rate is the design's 10,000 detections/s (design.md,
    // "Speed"); the flood offers 100,000/s on one pty for 3 s: 20 walkers
    // reported every 200 µs. The outbox is capped at 5,000 entries so a
    // backlog is bounded and drains within the test.
    const WALKERS: u32 = 20;
    const FLOOD: Duration = Duration::from_secs(3);
    const RATE: f64 = 100_000.0;
    // The bound the capped outbox gives: every kept output waits behind at
    // most 5,000 others, and this publisher sustains about 2,000 QoS 1
    // messages/s on loopback under the flood (measured here), so about 2 s,
    // plus the flood itself. The design's 5 ms p99 is for the rated rate,
    // not a 10x flood; RELIABILITY.md records the measured figures and why
    // the outbox makes them seconds, not milliseconds.
    const LATENCY_BUDGET_S: f64 = 10.0;
    let rig = rig("fault-flood", |t| {
        t.replace("fsync = \"never\"", "fsync = \"never\"\nmax_entries = 5000")
    })
    .await;
    let recorder = ArrivalRecorder::connect(
        rig.broker.port(),
        "fault-flood-latency",
        &format!("picket/{SITE}/tracks/+"),
    )
    .await
    .unwrap();
    let rss_before = rss_bytes();
    let stop = Arc::new(AtomicBool::new(false));
    let sampler = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut peak = 0;
            while !stop.load(Ordering::Relaxed) {
                peak = peak.max(rss_bytes());
                std::thread::sleep(Duration::from_millis(20));
            }
            peak
        })
    };
    let mut writer = rig.pty.writer();
    let flood = tokio::task::spawn_blocking(move || {
        let start = Instant::now();
        let mut sent = 0u64;
        let mut sequence = 0u32;
        let mut bytes = 0u64;
        while start.elapsed() < FLOOD {
            // Keep to the offered rate: catch up in batches of scans.
            let due = (start.elapsed().as_secs_f64() * RATE) as u64;
            if sent >= due {
                std::thread::sleep(Duration::from_micros(500));
                continue;
            }
            let mut batch = Vec::new();
            while sent < due {
                let t = now_us();
                let along = start.elapsed().as_secs_f64() * 1.5;
                for walker in 0..WALKERS {
                    sequence = sequence.wrapping_add(1);
                    batch.extend(wire(&position_at(
                        sequence,
                        t,
                        f64::from(walker) * 30.0 - 300.0,
                        -50.0 + along,
                    )));
                }
                sent += u64::from(WALKERS);
            }
            bytes += batch.len() as u64;
            write_all(&mut writer, &batch);
        }
        (sent, bytes, start.elapsed())
    });
    let (sent, bytes, took) = flood.await.unwrap();
    let offered = sent as f64 / took.as_secs_f64();
    // A single writer thread on a busy 2-core machine may fall a little
    // short of 100,000/s; below 6x it would not be a flood worth the name.
    assert!(offered > 60_000.0, "offered only {offered:.0} detections/s");
    // Drain: wait until every byte was read by the daemon.
    let key = format!("{}.bytes", rig.port_key);
    rig.sub
        .wait_for(Duration::from_secs(60), |m| {
            status_counter(m, &key) == Some(bytes)
        })
        .await
        .expect("the pty backlog is read");
    let (report, shutdown) = rig.daemon.stop(Duration::from_secs(60)).await;
    stop.store(true, Ordering::Relaxed);
    let peak = sampler.join().unwrap();
    let messages = rig.sub.messages();
    // Latency of what was kept: arrival at a subscriber minus the track's
    // measurement time (= the write time of the report that updated it).
    let mut latencies: Vec<f64> = recorder
        .arrivals()
        .iter()
        .filter(|a| !a.payload.is_empty())
        .filter_map(|a| {
            let track: picket_schema::TrackMessage = picket_schema::from_json(&a.payload).ok()?;
            Some((a.at_us - track.time.as_unix_micros()) as f64 / 1e6)
        })
        .collect();
    latencies.sort_by(f64::total_cmp);
    assert!(
        latencies.len() > 100,
        "{} track messages timed",
        latencies.len()
    );
    let (p50, p99, max) = (
        percentile(&latencies, 50.0),
        percentile(&latencies, 99.0),
        percentile(&latencies, 100.0),
    );
    let n = report.outputs_enqueued;
    assert!(report.clean, "{report:?}");
    assert_all_delivered(&rig.sub, n, WAIT).await;
    let e = report.engine;
    let dropped_chunks = status_counter(
        &rig.sub.messages(),
        &format!("{}.dropped_chunks", rig.port_key),
    )
    .unwrap_or(0);
    // Counted, never silent. Every frame that reached the engine was
    // decoded (none is damaged) and either applied or dropped with a
    // reason; under the flood the reason is `too_late`: reports queued in
    // the pty and the input channel longer than the reorder lag (100 ms)
    // are older than what was already fused. Frames lost with a dropped
    // chunk are counted by the serial source.
    let d = e.dropped;
    let frame_errors = d.frame_empty
        + d.frame_too_long
        + d.frame_cobs
        + d.frame_too_short
        + d.frame_crc
        + d.frame_unknown_version
        + d.frame_payload;
    assert_eq!(
        e.detections + d.total() - frame_errors,
        e.messages,
        "every decoded report applied or counted: {e:?}"
    );
    if dropped_chunks == 0 {
        assert_eq!(e.messages, sent, "no chunk dropped, so nothing lost: {e:?}");
    } else {
        assert!(e.messages < sent, "{e:?}");
    }
    // Whatever the outbox refused (full) is counted in `outbox_full_drops`
    // and never got a seq (no gap above); what it took was delivered.
    assert!(n > 0, "the flood produced outputs: {report:?}");
    let growth = peak.saturating_sub(rss_before);
    // Bounded by the input channel (16,384 chunks of <= 4 KiB), the capped
    // outbox and the subscriber's copy of what it received.
    assert!(growth < 200_000_000, "peak RSS growth {}", mb(growth));
    eprintln!(
        "flood: offered {offered:.0} detections/s for {took:?} ({sent} detections, {bytes} bytes); \
         engine took {} detections, dropped {} too late, {} dropped chunks, {} frame errors, \
         outbox_full_drops {}; \
         {n} outputs enqueued, all delivered without gap; RSS {} before, peak {} (+{}); \
         shutdown {shutdown:?}; {} messages at the subscriber",
        e.detections,
        d.too_late,
        dropped_chunks,
        frame_errors,
        report.outbox_full_drops,
        mb(rss_before),
        mb(peak),
        mb(growth),
        messages.len()
    );
    eprintln!(
        "flood latency (arrival - measurement time) over {} track messages: \
         p50 {p50:.3} s, p99 {p99:.3} s, max {max:.3} s (budget {LATENCY_BUDGET_S} s)",
        latencies.len()
    );
    assert!(
        max < LATENCY_BUDGET_S,
        "kept inputs published {max:.3} s late at worst (p99 {p99:.3} s)"
    );
    rig.sub.close().await;
}
