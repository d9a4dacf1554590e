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

use picket_system_tests::faults::{SeqCollector, TcpProxy, long_faults_enabled, mb, rss_bytes};
use picket_system_tests::mosquitto::Mosquitto;

const WAIT: Duration = Duration::from_secs(30);

/// Polls `done` every 20 ms for up to [`WAIT`].
async fn wait_until(mut done: impl FnMut() -> bool, what: &str) {
    let deadline = Instant::now() + WAIT;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// picketd (whole daemon, fed over a pty) behind a proxy that is killed
/// and restarted every `period` for `total`. The subscriber keeps only
/// seqs (`SeqCollector`), so the process's RSS is the daemon's plus a
/// constant.
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
    let sub = SeqCollector::connect(broker.port(), "flap-watcher", &format!("picket/{SITE}/#"))
        .await
        .unwrap();
    let daemon = Daemon::start(config);
    wait_until(|| sub.count_on("/status") > 0, "birth status").await;

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
    wait_until(
        || sub.count_on("/tracks/") > 0,
        "tracks before the flapping starts",
    )
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let rss_start = rss_bytes();
    let started = Instant::now();
    let mut flaps = 0u32;
    let mut samples = Vec::new();
    while started.elapsed() < total {
        proxy.cut().unwrap();
        tokio::time::sleep(period).await;
        proxy.restore().unwrap();
        flaps += 1;
        tokio::time::sleep(period).await;
        samples.push(rss_bytes());
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
    sub.assert_all_delivered(n, WAIT).await;
    let rss_end = *samples.last().unwrap();
    let rss_max = *samples.iter().max().unwrap();
    // The second half against the first: a leak per reconnect keeps
    // growing; warm-up effects (allocator arenas, buffers reaching their
    // working size) do not.
    let half = samples.len() / 2;
    let first_half_max = samples[..half.max(1)].iter().copied().max().unwrap();
    let second_half_growth = rss_max.saturating_sub(first_half_max);
    eprintln!(
        "flapping {total:?} every {period:?}: {flaps} cuts, {} reconnects, {reports} reports in, \
         {n} outputs enqueued and delivered without gap ({} acked, {} resent); \
         RSS {} after warm-up, {} at end, max {} (+{} in the second half); shutdown {took:?}",
        mqtt.reconnects,
        mqtt.acked,
        mqtt.resent,
        mb(rss_start),
        mb(rss_end),
        mb(rss_max),
        mb(second_half_growth)
    );
    // Flat: memory may not grow with the number of flaps. 4 MB absorbs
    // allocator noise over the whole run, 2 MB over its second half.
    let growth = rss_max.saturating_sub(rss_start);
    assert!(
        growth < 4_000_000 && second_half_growth < 2_000_000,
        "RSS grew {} (start {}, samples {:?})",
        mb(growth),
        mb(rss_start),
        samples.iter().map(|s| mb(*s)).collect::<Vec<_>>()
    );
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
