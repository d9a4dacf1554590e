//! picketd's MQTT task against a real Mosquitto: outbox delivery with
//! consecutive seqs, birth / final status / last will, sensor inputs,
//! re-subscription after a session loss, oversize messages, full input
//! channel.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod mqtt_support;

use std::time::Duration;

use mqtt_support::*;
use picket_engine::InputSource;
use picket_schema::DaemonState;
use picket_system_tests::mosquitto::{self, Mosquitto, Subscriber};

const WAIT: Duration = Duration::from_secs(15);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outbox_entries_arrive_with_consecutive_seqs_and_clean_exit_fires_no_will() {
    let broker = Mosquitto::start().unwrap();
    let sub = Subscriber::connect(broker.port(), "watcher-1", &["picket/t1/#"])
        .await
        .unwrap();
    let daemon = Daemon::start(settings(broker.port()), 16);
    daemon.wait_connected().await;

    // Batches of different sizes, some bigger than the request channel.
    let mut n = 0u64;
    for batch in [1usize, 10, 100, 1500, 7] {
        n += daemon.enqueue(batch).len() as u64;
    }
    let got = sub
        .wait_for(WAIT, |m| complete(&seqs_on(m, ALERTS), n))
        .await
        .unwrap_or_else(|_| {
            panic!(
                "gaps: {:?}, unacked {}, counters {:?}",
                gaps(&seqs_on(&sub.messages(), ALERTS), n),
                daemon.unacked(),
                daemon.counters.snapshot()
            )
        });
    // In order, no duplicates on a healthy connection.
    let order: Vec<u64> = got
        .iter()
        .filter(|m| m.topic == ALERTS)
        .filter_map(|m| mosquitto_seq(&m.payload))
        .collect();
    assert_eq!(order, (1..=n).collect::<Vec<_>>());
    daemon.wait_drained(WAIT).await;

    // Birth status: retained, online.
    let birth = statuses(&got);
    assert_eq!(birth.first().map(|s| s.state), Some(DaemonState::Online));

    let report = daemon.shutdown().await;
    assert!(report.drained && report.clean_disconnect, "{report:?}");
    assert_eq!(report.acked, n);
    assert_eq!(report.reconnects, 0);
    let got = sub
        .wait_for(WAIT, |m| {
            statuses(m).last().map(|s| s.state) == Some(DaemonState::Offline)
        })
        .await
        .unwrap();
    let final_status = statuses(&got).pop().unwrap();
    // The absence of the will can only be checked by waiting a little.
    tokio::time::sleep(Duration::from_millis(700)).await;
    let offline = statuses(&sub.messages())
        .into_iter()
        .filter(|s| s.state == DaemonState::Offline)
        .count();
    assert_eq!(offline, 1, "only the final status, no will");
    assert!(final_status.seq > birth[0].seq);
    let log = broker.log();
    assert!(
        log.contains("Client picketd-test disconnected."),
        "clean DISCONNECT in the broker log:\n{log}"
    );
    // The retained status a new subscriber sees is the final offline one.
    let late = Subscriber::connect_with(broker.port(), "late", &[STATUS], true)
        .await
        .unwrap();
    let got = late.wait_for(WAIT, |m| !m.is_empty()).await.unwrap();
    assert!(got[0].retain);
    assert_eq!(statuses(&got)[0].state, DaemonState::Offline);
}

fn mosquitto_seq(payload: &[u8]) -> Option<u64> {
    seq_of(payload)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn last_will_fires_when_the_client_dies_uncleanly() {
    let broker = Mosquitto::start().unwrap();
    let sub = Subscriber::connect(broker.port(), "watcher-2", &[STATUS])
        .await
        .unwrap();
    let mut s = settings(broker.port());
    s.client_id = Some("picketd-will".to_string());
    let daemon = Daemon::start(s, 16);
    daemon.wait_connected().await;
    sub.wait_for(WAIT, |m| {
        statuses(m).iter().any(|s| s.state == DaemonState::Online)
    })
    .await
    .unwrap();
    let _dir = daemon.kill().await;
    let got = sub
        .wait_for(WAIT, |m| {
            statuses(m).iter().any(|s| s.state == DaemonState::Offline)
        })
        .await
        .expect("the last will arrives");
    let will = statuses(&got)
        .into_iter()
        .find(|s| s.state == DaemonState::Offline)
        .unwrap();
    assert_eq!(will.site.as_str(), SITE);
    assert!(will.counters.is_empty());
    let retained = Subscriber::connect_with(broker.port(), "late-2", &[STATUS], true)
        .await
        .unwrap();
    let got = retained.wait_for(WAIT, |m| !m.is_empty()).await.unwrap();
    assert_eq!(
        statuses(&got)[0].state,
        DaemonState::Offline,
        "the will is retained"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sensor_payloads_become_raw_inputs_and_resume_after_a_session_loss() {
    // No persistence: a restart loses every session, so only picketd's
    // re-subscription brings inputs back.
    let mut broker = Mosquitto::start().unwrap();
    let mut s = settings(broker.port());
    s.subscriptions = vec!["sensors/+/reports".to_string()];
    let mut daemon = Daemon::start(s, 64);
    daemon.wait_connected().await;
    // The SUBACK may still be in flight: publish until the first arrives.
    let first =
        recv_while_publishing(&mut daemon, broker.port(), "sensors/gn-1/reports", b"one").await;
    assert_eq!(
        first.source,
        InputSource::Mqtt("sensors/gn-1/reports".to_string())
    );
    assert_eq!(first.bytes, b"one");

    broker.stop().unwrap();
    broker.restart().unwrap();
    let second =
        recv_while_publishing(&mut daemon, broker.port(), "sensors/gn-2/reports", b"two").await;
    assert_eq!(
        second.source,
        InputSource::Mqtt("sensors/gn-2/reports".to_string())
    );
    let c = daemon.counters.snapshot();
    assert!(c.reconnects >= 1 && c.sessions_lost >= 1, "{c:?}");
    daemon.shutdown().await;
}

/// Publishes `payload` every 100 ms until an input arrives (bounded).
async fn recv_while_publishing(
    daemon: &mut Daemon,
    port: u16,
    topic: &str,
    payload: &[u8],
) -> picket_engine::RawInput {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no input on {topic}"
        );
        mosquitto::publish(port, topic, payload, false).unwrap();
        if let Ok(Some(input)) =
            tokio::time::timeout(Duration::from_millis(300), daemon.inputs.recv()).await
        {
            return input;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversize_retained_message_within_the_limit_causes_no_reconnect() {
    let broker = Mosquitto::start().unwrap();
    // 100 KiB retained: 10x rumqttc's default limit, under ours (256 KiB).
    let big = vec![b'x'; 100 * 1024];
    mosquitto::publish(broker.port(), "sensors/cam-1/reports", &big, true).unwrap();
    let mut s = settings(broker.port());
    s.subscriptions = vec!["sensors/+/reports".to_string()];
    let mut daemon = Daemon::start(s, 16);
    let input = tokio::time::timeout(WAIT, daemon.inputs.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(input.bytes.len(), big.len());
    tokio::time::sleep(Duration::from_secs(2)).await;
    let c = daemon.counters.snapshot();
    assert_eq!((c.connects, c.connection_errors), (1, 0), "{c:?}");
    daemon.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn message_above_the_limit_is_retried_at_the_backoff_pace_not_in_a_loop() {
    let broker = Mosquitto::start().unwrap();
    let big = vec![b'x'; 64 * 1024];
    mosquitto::publish(broker.port(), "sensors/cam-1/reports", &big, true).unwrap();
    let mut s = settings(broker.port());
    s.subscriptions = vec!["sensors/+/reports".to_string()];
    s.max_incoming_packet_bytes = 16 * 1024;
    s.reconnect_backoff_min_ms = 200;
    s.reconnect_backoff_max_ms = 2_000;
    let daemon = Daemon::start(s, 16);
    daemon.wait_connected().await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let c = daemon.counters.snapshot();
    // 200 + 400 + 800 + 1600 ms: at most ~5 connections in 3 s (without the
    // backoff rumqttc reconnects in a tight loop: hundreds).
    assert!(
        c.connection_errors >= 1,
        "the oversize message is refused: {c:?}"
    );
    assert!(c.connects <= 6, "reconnect loop: {c:?}");
    daemon.shutdown().await;
}

/// A channel with room for 64 inputs but about 300 KiB: 100 KiB payloads
/// are refused by bytes after the third, counted, and the bytes the engine
/// gives back let the next one in.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_payloads_are_refused_by_bytes_before_the_item_count() {
    const PAYLOAD: usize = 100 * 1024;
    // Room for three payloads, and for warm-up messages still in flight.
    const BUDGET: usize = 3 * PAYLOAD + 1024;
    let broker = Mosquitto::start().unwrap();
    let mut s = settings(broker.port());
    s.subscriptions = vec!["sensors/+/reports".to_string()];
    let mut daemon = Daemon::start_in(tempfile::tempdir().unwrap(), s, 64, BUDGET);
    daemon.wait_connected().await;
    let warm =
        recv_while_publishing(&mut daemon, broker.port(), "sensors/a/reports", b"warm").await;
    daemon.inputs.done(&warm);
    let before = daemon.counters.snapshot();
    let publisher = Subscriber::connect_with(broker.port(), "pub-bytes", &["unused/x"], true)
        .await
        .unwrap();
    let publish = |i: u8| publisher.publish("sensors/a/reports", vec![i; PAYLOAD], false);
    let dropped_since =
        |daemon: &Daemon| daemon.counters.snapshot().inputs_dropped - before.inputs_dropped;
    let deadline = tokio::time::Instant::now() + WAIT;
    let wait_for_drops = async |daemon: &Daemon, drops: u64| {
        while dropped_since(daemon) < drops {
            assert!(
                tokio::time::Instant::now() < deadline,
                "{:?}",
                daemon.counters.snapshot()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    for i in 0..10u8 {
        publish(i).await.unwrap();
    }
    wait_for_drops(&daemon, 7).await;
    // The first three, in order and whole; one given back.
    let mut payloads = Vec::new();
    while let Some(input) = daemon.inputs.try_recv() {
        if input.bytes != b"warm" {
            payloads.push(input);
        }
    }
    let firsts: Vec<u8> = payloads.iter().map(|input| input.bytes[0]).collect();
    assert_eq!(firsts, [0, 1, 2]);
    assert!(payloads.iter().all(|input| input.bytes.len() == PAYLOAD));
    daemon.inputs.done(&payloads[0]);
    // One payload's bytes back: the next fits, the one after does not.
    publish(10).await.unwrap();
    let next = tokio::time::timeout(WAIT, daemon.inputs.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(next.bytes, vec![10; PAYLOAD]);
    publish(11).await.unwrap();
    wait_for_drops(&daemon, 8).await;
    assert_eq!(dropped_since(&daemon), 8);
    daemon.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_input_channel_drops_are_counted_and_later_inputs_flow() {
    let broker = Mosquitto::start().unwrap();
    let mut s = settings(broker.port());
    s.subscriptions = vec!["sensors/+/reports".to_string()];
    let mut daemon = Daemon::start(s, 2);
    daemon.wait_connected().await;
    // Make sure the subscription is active.
    let _ = recv_while_publishing(&mut daemon, broker.port(), "sensors/a/reports", b"warm").await;
    while let Some(input) = daemon.inputs.try_recv() {
        daemon.inputs.done(&input);
    }
    let before = daemon.counters.snapshot().inputs_received;
    let publisher = Subscriber::connect_with(broker.port(), "pub-3", &["unused/x"], true)
        .await
        .unwrap();
    for i in 0..20 {
        publisher
            .publish("sensors/a/reports", format!("{i}").into_bytes(), false)
            .await
            .unwrap();
    }
    let deadline = tokio::time::Instant::now() + WAIT;
    while daemon.counters.snapshot().inputs_received < before + 20 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{:?}",
            daemon.counters.snapshot()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let c = daemon.counters.snapshot();
    assert!(c.inputs_dropped >= 18, "{c:?}");
    // Draining the channel lets new inputs in again.
    while let Some(input) = daemon.inputs.try_recv() {
        daemon.inputs.done(&input);
    }
    let again =
        recv_while_publishing(&mut daemon, broker.port(), "sensors/a/reports", b"after").await;
    assert_eq!(again.bytes, b"after");
    daemon.shutdown().await;
}
