//! Broker outages mid-stream: stopped for 10 s, and SIGKILLed, then
//! restarted. A persistent QoS 1 subscriber must see every seq (duplicates
//! allowed, no gap), and sensor inputs must resume.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod mqtt_support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use mqtt_support::*;
use picket_system_tests::mosquitto::{self, Mosquitto, MosquittoOptions, Subscriber};

const WAIT: Duration = Duration::from_secs(20);

/// Enqueues one message every 10 ms until stopped; returns the count.
fn producer(daemon: &Daemon, stop: Arc<AtomicBool>) -> tokio::task::JoinHandle<u64> {
    let outbox = daemon.outbox.clone();
    let ready = daemon.ready.clone();
    tokio::spawn(async move {
        let mut n = 0;
        while !stop.load(Ordering::Relaxed) {
            {
                let mut outbox = outbox.lock().unwrap();
                outbox
                    .stage_raw(ALERTS.to_string(), false, |seq| {
                        Ok(format!("{{\"seq\":{seq}}}").into_bytes())
                    })
                    .unwrap();
                outbox.commit().unwrap();
            }
            ready.notify_one();
            n += 1;
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        n
    })
}

async fn outage(kill: bool, down_for: Duration) {
    let mut broker = Mosquitto::start_with(MosquittoOptions {
        persistence: true,
        // After SIGKILL only the last autosave survives: keep it recent so
        // the subscriber's session (and subscription) is in it.
        autosave_interval_s: Some(1),
        ..MosquittoOptions::default()
    })
    .unwrap();
    let sub = Subscriber::connect(broker.port(), "watcher", &["picket/t1/alerts"])
        .await
        .unwrap();
    let mut s = settings(broker.port());
    s.subscriptions = vec!["sensors/+/reports".to_string()];
    let mut daemon = Daemon::start(s, 1024);
    daemon.wait_connected().await;
    let stop = Arc::new(AtomicBool::new(false));
    let producing = producer(&daemon, stop.clone());
    // Mid-stream, and after at least one autosave with both sessions.
    sub.wait_for(WAIT, |m| seqs_on(m, ALERTS).len() >= 150)
        .await
        .unwrap();
    if kill {
        broker.kill().unwrap();
    } else {
        broker.stop().unwrap();
    }
    tokio::time::sleep(down_for).await;
    broker.restart().unwrap();
    // Keep producing for a while after the restart.
    tokio::time::sleep(Duration::from_secs(1)).await;
    stop.store(true, Ordering::Relaxed);
    let n = producing.await.unwrap();
    let got = sub
        .wait_for(WAIT, |m| complete(&seqs_on(m, ALERTS), n))
        .await;
    let seqs = seqs_on(&sub.messages(), ALERTS);
    assert!(
        got.is_ok(),
        "{} of {n} seqs, gaps {:?}, counters {:?}\nbroker log:\n{}",
        seqs.len(),
        gaps(&seqs, n),
        daemon.counters.snapshot(),
        broker.log()
    );
    daemon.wait_drained(WAIT).await;
    let c = daemon.counters.snapshot();
    assert!(c.reconnects >= 1, "{c:?}");
    assert_eq!(
        c.acked, n,
        "every entry acknowledged exactly once in the outbox"
    );

    // Inputs resume after the restart.
    mosquitto::publish(broker.port(), "sensors/gn-1/reports", b"after", false).unwrap();
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        assert!(
            tokio::time::Instant::now() < deadline,
            "inputs did not resume"
        );
        match tokio::time::timeout(Duration::from_millis(300), daemon.inputs.recv()).await {
            Ok(Some(input)) if input.bytes == b"after" => break,
            Ok(Some(_)) => {}
            _ => {
                mosquitto::publish(broker.port(), "sensors/gn-1/reports", b"after", false).unwrap()
            }
        }
    }
    let report = daemon.shutdown().await;
    assert!(report.drained && report.clean_disconnect, "{report:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broker_stopped_for_10_s_mid_stream_loses_nothing() {
    outage(false, Duration::from_secs(10)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broker_sigkilled_mid_stream_loses_nothing() {
    outage(true, Duration::from_secs(1)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unacked_entries_survive_a_daemon_crash_and_are_sent_after_restart() {
    let broker = Mosquitto::start().unwrap();
    let sub = Subscriber::connect(broker.port(), "watcher-crash", &["picket/t1/alerts"])
        .await
        .unwrap();
    // The daemon has no broker to talk to (wrong port): entries pile up.
    let dead_port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let daemon = Daemon::start(settings(dead_port), 16);
    let n = daemon.enqueue(300).len() as u64;
    let dir = daemon.kill().await;
    // Restarted (same state dir) with the right broker: everything goes out.
    let daemon = Daemon::start_in(dir, settings(broker.port()), 16, Daemon::INPUT_BYTES);
    sub.wait_for(WAIT, |m| complete(&seqs_on(m, ALERTS), n))
        .await
        .unwrap_or_else(|_| panic!("gaps {:?}", gaps(&seqs_on(&sub.messages(), ALERTS), n)));
    daemon.wait_drained(WAIT).await;
    assert_eq!(daemon.outbox.lock().unwrap().next_seq(), n + 1);
    daemon.shutdown().await;
}
