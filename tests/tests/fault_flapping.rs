//! A link flapping every 2 s (issue 7, category 2): a real socat TCP proxy
//! between a whole picketd (fed over a real pty) and a real Mosquitto is
//! killed and restarted, 2 s down, 2 s up; 30 s here, 10 minutes in
//! `scripts/faults-long`. Every outbox seq must reach a QoS 1 subscriber on
//! the broker side with no gap, the outbox must drain, and the daemon's
//! memory must stay flat. Alone in its test binary so the memory figures
//! are its own.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod e2e_support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use picket_system_tests::faults::{
    TcpProxy, assert_all_delivered, long_faults_enabled, mb, rss_bytes,
};
use picket_system_tests::mosquitto::{Mosquitto, Received, Subscriber};

const WAIT: Duration = Duration::from_secs(30);

/// Bytes the test's own subscriber holds (it keeps every message), so
/// they can be told apart from the daemon's memory.
fn held_bytes(messages: &[Received]) -> u64 {
    messages
        .iter()
        .map(|m| (m.topic.len() + m.payload.len() + 64) as u64)
        .sum()
}

/// picketd (whole daemon, fed over a pty) behind a proxy that is killed
/// and restarted every `period` for `total`. Returns (RSS after warm-up,
/// RSS at the end less what the subscriber holds, seqs delivered).
async fn flapping(total: Duration, period: Duration) {
    use e2e_support::*;
    let broker = Mosquitto::start().unwrap();
    let mut proxy = TcpProxy::start(broker.port()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let pty = Pty::start(dir.path(), "geo");
    let state = dir.path().join("state");
    let text = config_text(broker.port(), &state, &pty.device, "").replace(
        &format!("port = {}\n", broker.port()),
        &format!("port = {}\nkeep_alive_s = 2\n", proxy.port()),
    );
    let config = parse_config(&text);
    assert_eq!(config.mqtt.port, proxy.port());
    let sub = Subscriber::connect(
        broker.port(),
        "flap-watcher",
        &[&format!("picket/{SITE}/#")],
    )
    .await
    .unwrap();
    let daemon = Daemon::start(config);
    sub.wait_for(WAIT, |m| m.iter().any(|m| m.topic.ends_with("/status")))
        .await
        .expect("birth status");

    // Three walkers reported at 10 Hz for the whole run: a steady trickle
    // of track updates that must all get through the flapping link.
    let stop = Arc::new(AtomicBool::new(false));
    let feeder = {
        let stop = stop.clone();
        let mut writer = pty.writer();
        std::thread::spawn(move || {
            let start = Instant::now();
            let mut sequence = 0u32;
            while !stop.load(Ordering::Relaxed) {
                let t = now_us();
                let mut batch = Vec::new();
                for walker in 0..3 {
                    sequence += 1;
                    // Back and forth along 40 m so the tracks live forever.
                    let phase = (start.elapsed().as_secs_f64() / 40.0).fract();
                    let north = if phase < 0.5 { phase } else { 1.0 - phase } * 80.0 - 20.0;
                    batch.extend(wire(&position_at(
                        sequence,
                        t,
                        f64::from(walker) * 40.0 - 40.0,
                        north,
                    )));
                }
                write_all(&mut writer, &batch);
                std::thread::sleep(Duration::from_millis(100));
            }
            sequence
        })
    };

    // Warm up (tracks confirmed, buffers grown), then flap.
    sub.wait_for(WAIT, |m| m.iter().any(|m| m.topic.contains("/tracks/")))
        .await
        .expect("tracks before the flapping starts");
    tokio::time::sleep(Duration::from_secs(2)).await;
    let rss_start = rss_bytes().saturating_sub(held_bytes(&sub.messages()));
    let started = Instant::now();
    let mut flaps = 0u32;
    let mut samples = Vec::new();
    while started.elapsed() < total {
        proxy.cut().unwrap();
        tokio::time::sleep(period).await;
        proxy.restore().unwrap();
        flaps += 1;
        tokio::time::sleep(period).await;
        samples.push(rss_bytes().saturating_sub(held_bytes(&sub.messages())));
    }
    stop.store(true, Ordering::Relaxed);
    let reports = tokio::task::spawn_blocking(move || feeder.join())
        .await
        .unwrap()
        .unwrap();
    // The link is up (restored last): shutdown drains what is left.
    let (report, took) = daemon.stop(Duration::from_secs(30)).await;
    assert!(report.clean, "{report:?}");
    assert_eq!(report.outbox_unacked, 0);
    let mqtt = report.mqtt.unwrap();
    assert!(
        mqtt.reconnects + 1 >= u64::from(flaps),
        "{flaps} flaps: {mqtt:?}"
    );
    assert_eq!(mqtt.acked, report.outputs_enqueued, "{mqtt:?}");
    let n = report.outputs_enqueued;
    assert!(n > 100, "{report:?}");
    assert_all_delivered(&sub, n, WAIT).await;
    let rss_end = *samples.last().unwrap();
    let rss_max = *samples.iter().max().unwrap();
    // Flat: the daemon's share of memory may not grow with the number of
    // flaps. 8 MB absorbs allocator noise; a leak per reconnect or an
    // outbox that never shrinks would show as steady growth.
    let growth = rss_max.saturating_sub(rss_start);
    assert!(
        growth < 8_000_000,
        "RSS grew {} (start {}, samples {:?})",
        mb(growth),
        mb(rss_start),
        samples.iter().map(|s| mb(*s)).collect::<Vec<_>>()
    );
    eprintln!(
        "flapping {total:?} every {period:?}: {flaps} cuts, {} reconnects, {reports} reports in, \
         {n} outputs enqueued and delivered without gap ({} acked, {} resent); \
         RSS less subscriber-held bytes: {} after warm-up, {} at end, max {}; shutdown {took:?}",
        mqtt.reconnects,
        mqtt.acked,
        mqtt.resent,
        mb(rss_start),
        mb(rss_end),
        mb(rss_max)
    );
    sub.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn link_flapping_every_2_s_for_30_s_loses_nothing_and_memory_stays_flat() {
    flapping(Duration::from_secs(30), Duration::from_secs(2)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn long_link_flapping_every_2_s_for_10_minutes() {
    if !long_faults_enabled("long_link_flapping_every_2_s_for_10_minutes") {
        return;
    }
    flapping(Duration::from_secs(600), Duration::from_secs(2)).await;
}
