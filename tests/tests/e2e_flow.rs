//! picketd end to end: picket-wire frames on a real pty and JSON on a real
//! Mosquitto go in; tracks, alerts, sensor health and status come out on the
//! right topics, valid against the JSON Schemas, with consecutive sequence
//! numbers. Garbage on both transports is counted and does not stop good
//! data. Shutdown under load drains, publishes the final state and exits
//! within its bound.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod e2e_support;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use e2e_support::*;
use picket_system_tests::mosquitto::{Mosquitto, Received, Subscriber};
use serde_json::Value;

const WAIT: Duration = Duration::from_secs(20);

fn on(messages: &[Received], suffix: &str) -> Vec<Received> {
    let topic = format!("picket/{SITE}/{suffix}");
    messages
        .iter()
        .filter(|m| m.topic.starts_with(&topic))
        .cloned()
        .collect()
}

fn seqs(messages: &[Received]) -> BTreeSet<u64> {
    messages
        .iter()
        .filter(|m| !m.topic.ends_with("/status") && !m.payload.is_empty())
        .filter_map(|m| serde_json::from_slice::<Value>(&m.payload).ok())
        .filter_map(|v| v["seq"].as_u64())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn frames_and_json_in_tracks_alerts_health_out_garbage_counted() {
    let broker = Mosquitto::start().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let pty = Pty::start(dir.path(), "geo");
    let state = dir.path().join("state");
    let config = parse_config(&config_text(broker.port(), &state, &pty.device, ""));
    let subscriber = Subscriber::connect(broker.port(), "e2e-watcher", &["picket/#"])
        .await
        .unwrap();
    let schemas = Schemas::new();
    let daemon = Daemon::start(config);

    // The daemon is up once its retained birth status is out.
    subscriber
        .wait_for(WAIT, |m| !on(m, "status").is_empty())
        .await
        .expect("birth status");

    // A person walking north past the detector, reported over serial at
    // 20 Hz, with a heartbeat; the detector alarms over MQTT as they pass.
    let mut writer = pty.writer();
    write_all(&mut writer, &wire(&heartbeat()));
    let report_topic = format!("picket/{SITE}/sensors/rad-01/reports");
    let mut sequence = 0;
    for step in 0..30 {
        sequence += 1;
        let north = -15.0 + f64::from(step) * 0.1;
        write_all(&mut writer, &wire(&position(sequence, 0.5, north)));
        if step == 10 {
            subscriber
                .publish(&report_topic, json(&heartbeat()), false)
                .await
                .unwrap();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    subscriber
        .publish(&report_topic, json(&radiation_alarm(1)), false)
        .await
        .unwrap();
    let messages = subscriber
        .wait_for(WAIT, |m| {
            !on(m, "tracks/").is_empty()
                && !on(m, "alerts").is_empty()
                && !on(m, "sensors/geo-01/health").is_empty()
                && !on(m, "sensors/rad-01/health").is_empty()
        })
        .await
        .expect("tracks, an alert and both sensors' health");

    // Every message on every topic passes its schema.
    for message in &messages {
        schemas.check(&message.topic, &message.payload);
    }
    let tracks = on(&messages, "tracks/");
    let confirmed = tracks
        .iter()
        .filter_map(|m| schemas.check(&m.topic, &m.payload))
        .any(|v| v["status"] == "confirmed" && v["sensors"][0] == "geo-01");
    assert!(confirmed, "a confirmed track from geo-01: {tracks:?}");
    let alert = schemas
        .check("picket/e2e/alerts", &on(&messages, "alerts")[0].payload)
        .unwrap();
    assert_eq!(alert["kind"]["radiation"]["detector"], "rad-01", "{alert}");

    // Garbage on both transports.
    let good_before = on(&subscriber.messages(), "tracks/").len();
    write_all(&mut writer, &[0x13, 0x37, 0xff, 0x00]); // random bytes, delimiter
    write_all(&mut writer, &vec![0x55; 3000]); // oversize frame
    write_all(&mut writer, &[0x00]);
    let mut corrupt = wire(&position(999, 0.5, 0.0));
    corrupt[3] ^= 0x40; // bad CRC
    write_all(&mut writer, &corrupt);
    for payload in [
        b"not json at all".to_vec(),
        br#"{"radiation_sample": {"sequence": "x"}}"#.to_vec(),
        vec![b'{'; 100_000],
    ] {
        subscriber
            .publish(&report_topic, payload, false)
            .await
            .unwrap();
    }
    subscriber
        .publish(
            &format!("picket/{SITE}/sensors/nobody/reports"),
            json(&heartbeat()),
            false,
        )
        .await
        .unwrap();
    // Good data still flows afterwards.
    for step in 30..50 {
        sequence += 1;
        let north = -15.0 + f64::from(step) * 0.1;
        write_all(&mut writer, &wire(&position(sequence, 0.5, north)));
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    subscriber
        .wait_for(WAIT, |m| on(m, "tracks/").len() > good_before + 5)
        .await
        .expect("tracks keep coming after garbage");

    let (report, took) = daemon.stop(Duration::from_secs(15)).await;
    assert!(took < Duration::from_secs(10), "shutdown took {took:?}");
    assert!(report.clean, "{report:?}");
    let dropped: u64 = report.engine.dropped.total();
    // Serial: the random bytes, the oversize frame and the bad CRC; MQTT:
    // two malformed payloads, the oversize one and the unknown sensor.
    assert!(dropped >= 6, "drops counted: {:?}", report.engine);
    let mqtt = report.mqtt.unwrap();
    assert!(mqtt.inputs_received >= 6, "{mqtt:?}");

    // Every output sequence number arrived, none missing.
    let messages = subscriber
        .wait_for(WAIT, |m| seqs(m).len() as u64 >= report.outputs_enqueued)
        .await
        .expect("every output delivered");
    let seen = seqs(&messages);
    let first = *seen.first().unwrap();
    let last = *seen.last().unwrap();
    assert_eq!(last - first + 1, seen.len() as u64, "no gap in {seen:?}");
    // Plus track clears (empty payloads, no seq in them).
    assert!(seen.len() as u64 <= report.outputs_enqueued);
    subscriber.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_under_load_drains_and_publishes_final_state() {
    let broker = Mosquitto::start().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut pty = Pty::start(dir.path(), "geo");
    let state = dir.path().join("state");
    let config = parse_config(&config_text(broker.port(), &state, &pty.device, ""));
    let subscriber = Subscriber::connect(broker.port(), "e2e-load-watcher", &["picket/#"])
        .await
        .unwrap();
    let daemon = Daemon::start(config);
    subscriber
        .wait_for(WAIT, |m| !on(m, "status").is_empty())
        .await
        .expect("birth status");

    // Load: 20 walkers over serial at ~2,000 reports/s, and MQTT reports,
    // for about two seconds; shutdown comes in the middle of it.
    let writer_path = pty.sensor.clone();
    let load = std::thread::spawn(move || {
        let mut writer = std::fs::OpenOptions::new()
            .write(true)
            .open(writer_path)
            .unwrap();
        let start = Instant::now();
        let mut sequence = 0u32;
        let mut batch = Vec::new();
        while start.elapsed() < Duration::from_secs(3) {
            batch.clear();
            let scan_time = now_us();
            for walker in 0..20 {
                sequence += 1;
                let t = start.elapsed().as_secs_f64();
                batch.extend(wire(&position_at(
                    sequence,
                    scan_time,
                    f64::from(walker) * 30.0 - 300.0,
                    -50.0 + t,
                )));
            }
            if std::io::Write::write_all(&mut writer, &batch).is_err() {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    });
    let report_topic = format!("picket/{SITE}/sensors/rad-01/reports");
    for _ in 0..10 {
        subscriber
            .publish(&report_topic, json(&heartbeat()), false)
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    subscriber
        .wait_for(WAIT, |m| on(m, "tracks/").len() > 20)
        .await
        .expect("tracks under load");

    let (report, took) = daemon.stop(Duration::from_secs(15)).await;
    // Once the daemon has closed its end nobody drains the pty and the
    // writer may block: unplugging makes its write fail.
    pty.unplug();
    tokio::time::timeout(WAIT, tokio::task::spawn_blocking(move || load.join()))
        .await
        .expect("load thread ends")
        .unwrap()
        .unwrap();
    assert!(took < Duration::from_secs(10), "shutdown took {took:?}");
    assert!(report.clean, "{report:?}");
    assert_eq!(report.outbox_unacked, 0);
    assert!(report.outputs_enqueued > 20, "{report:?}");
    let mqtt = report.mqtt.unwrap();
    assert!(mqtt.drained && mqtt.clean_disconnect, "{mqtt:?}");

    // Everything the engine produced, including what the final flush
    // released, reached the subscriber without a gap.
    let messages = subscriber
        .wait_for(WAIT, |m| seqs(m).len() as u64 >= report.outputs_enqueued)
        .await
        .expect("every output delivered");
    let seen = seqs(&messages);
    let (first, last) = (*seen.first().unwrap(), *seen.last().unwrap());
    assert_eq!(
        last - first + 1,
        seen.len() as u64,
        "gap in sequence numbers"
    );
    assert_eq!(seen.len() as u64, report.outputs_enqueued);

    // The retained status is the final `offline`, published cleanly with
    // counters (the last will has none).
    let late = Subscriber::connect_with(
        broker.port(),
        "e2e-late",
        &[&format!("picket/{SITE}/status")],
        true,
    )
    .await
    .unwrap();
    let status = late
        .wait_for(WAIT, |m| !m.is_empty())
        .await
        .expect("retained status");
    let value: Value = serde_json::from_slice(&status[0].payload).unwrap();
    Schemas::new().check(&status[0].topic, &status[0].payload);
    assert_eq!(value["state"], "offline", "{value}");
    late.close().await;

    // The final states stay retained while the daemon is down. A restart
    // starts track ids again from 1, so it clears them first: otherwise
    // they would stay on the broker as ghosts of tracks nobody updates.
    let tracks_filter = format!("picket/{SITE}/tracks/#");
    let retained_tracks = |messages: &[Received]| {
        messages
            .iter()
            .filter(|m| m.retain && !m.payload.is_empty())
            .map(|m| m.topic.clone())
            .collect::<BTreeSet<_>>()
    };
    let before = Subscriber::connect_with(broker.port(), "e2e-before", &[&tracks_filter], true)
        .await
        .unwrap();
    let ghosts = retained_tracks(
        &before
            .wait_for(WAIT, |m| !retained_tracks(m).is_empty())
            .await
            .expect("final track states retained"),
    );
    before.close().await;
    let config = parse_config(&config_text(broker.port(), &state, &pty.device, ""));
    let daemon = Daemon::start(config);
    subscriber
        .wait_for(WAIT, |m| {
            ghosts
                .iter()
                .all(|ghost| m.iter().any(|m| &m.topic == ghost && m.payload.is_empty()))
        })
        .await
        .expect("every retained track of the last run cleared");
    let (restarted, _) = daemon.stop(Duration::from_secs(15)).await;
    assert!(
        restarted.outputs_enqueued >= ghosts.len() as u64,
        "{restarted:?}"
    );
    let after = Subscriber::connect_with(broker.port(), "e2e-after", &[&tracks_filter], true)
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        retained_tracks(&after.messages()).is_empty(),
        "ghost tracks: {:?}",
        retained_tracks(&after.messages())
    );
    after.close().await;
    subscriber.close().await;
}
