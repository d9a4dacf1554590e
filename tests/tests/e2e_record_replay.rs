//! Record live, replay offline: picketd records every raw input and tick
//! while it runs against a real pty and a real Mosquitto, and `picket
//! replay`'s engine loop, fed that recording and the same configuration
//! file, produces the very bytes the subscriber received (with the
//! outbox's sequence numbers stamped the same way). And a report the
//! reorder buffer holds goes out when its lag runs out, not at the next
//! tick.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod e2e_support;

use std::collections::BTreeMap;
use std::time::Duration;

use e2e_support::*;
use picket_cli::replay::{Pace, parse_engine_config, replay};
use picket_engine::Engine;
use picket_record::Reader;
use picket_system_tests::mosquitto::{Mosquitto, Subscriber};
use serde_json::Value;

const WAIT: Duration = Duration::from_secs(20);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_live_recording_replays_to_byte_identical_messages() {
    let broker = Mosquitto::start().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let pty = Pty::start(dir.path(), "geo");
    let state = dir.path().join("state");
    let text = config_text(broker.port(), &state, &pty.device, "");
    let config = parse_config(&text);
    assert!(config.recording.enabled, "recording is on by default");
    let subscriber = Subscriber::connect(broker.port(), "replay-watcher", &["picket/e2e/#"])
        .await
        .unwrap();
    let daemon = Daemon::start(config);
    subscriber
        .wait_for(WAIT, |m| m.iter().any(|m| m.topic.ends_with("/status")))
        .await
        .expect("birth status");

    // Two walkers over serial (chunks of several frames, plus garbage the
    // decoder must skip identically on replay), a radiation alarm and a
    // malformed payload over MQTT.
    let mut writer = pty.writer();
    let report_topic = format!("picket/{SITE}/sensors/rad-01/reports");
    let mut sequence = 0;
    for step in 0..40 {
        let t = now_us();
        let mut chunk = Vec::new();
        for (east, north) in [(0.5, -10.0 + f64::from(step) * 0.15), (40.0, 5.0)] {
            sequence += 1;
            chunk.extend(wire(&position_at(sequence, t, east, north)));
        }
        if step == 20 {
            chunk.extend([0x42, 0x42, 0x00]);
            subscriber
                .publish(&report_topic, json(&radiation_alarm(1)), false)
                .await
                .unwrap();
            subscriber
                .publish(&report_topic, b"{\"not\": \"a report\"}".to_vec(), false)
                .await
                .unwrap();
        }
        write_all(&mut writer, &chunk);
        tokio::time::sleep(Duration::from_millis(40)).await;
    }
    let (report, _) = daemon.stop(Duration::from_secs(15)).await;
    assert!(report.clean, "{report:?}");
    assert_eq!(report.recording_lost, 0, "{report:?}");
    // Every input, plus the ticks and the final flush.
    assert!(
        report.recording_records > report.engine.inputs,
        "{report:?}"
    );

    // Everything the daemon committed has been delivered (it drained).
    let live = subscriber.messages();
    let mut by_seq: BTreeMap<u64, (String, Vec<u8>)> = BTreeMap::new();
    // Outputs only: not the status (its own seq space), nor the sensor
    // reports this test published itself.
    let outputs = live
        .iter()
        .filter(|m| !m.topic.ends_with("/status") && !m.topic.ends_with("/reports"));
    for message in outputs {
        if message.payload.is_empty() {
            continue; // a track clear: no body, no seq.
        }
        let value: Value = serde_json::from_slice(&message.payload).unwrap();
        let seq = value["seq"].as_u64().unwrap();
        by_seq.insert(seq, (message.topic.clone(), message.payload.clone()));
    }
    assert!(
        live.iter().any(|m| m.topic.contains("/tracks/")),
        "tracks were published"
    );
    assert!(
        live.iter().any(|m| m.topic.ends_with("/alerts")),
        "the alarm was published"
    );

    // Replay the recording through a fresh engine built from the same file.
    let reader = Reader::open_read_only(&state.join("recording")).unwrap();
    assert!(
        reader.report().damage.is_empty(),
        "{:?}",
        reader.report().damage
    );
    let mut engine = Engine::new(parse_engine_config(&text).unwrap()).unwrap();
    let mut replayed = Vec::new();
    let stats = replay(
        &reader,
        &mut engine,
        Pace::Max,
        |output| {
            replayed.push(output.clone());
            Ok(())
        },
        |_| {},
    )
    .unwrap();
    assert_eq!(stats.flushes, 1, "the clean shutdown's flush was recorded");
    // Reports waiting out the 100 ms lag between 40 ms inputs and 50 ms
    // ticks are let out by releases: recorded, and replayed identically.
    assert!(stats.releases > 0, "{stats:?}");
    assert_eq!(
        replayed.len() as u64,
        report.outputs_enqueued,
        "replay produced as many outputs as the daemon committed"
    );

    // The outbox numbers outputs consecutively in engine order from its
    // first seq; the first output with a body fixes where that was.
    let (first_body, first_seq) = replayed
        .iter()
        .position(|o| !o.to_json().unwrap().is_empty())
        .map(|index| (index, *by_seq.keys().next().unwrap()))
        .unwrap();
    let base = first_seq - first_body as u64;
    let mut compared = 0;
    for (index, mut output) in replayed.into_iter().enumerate() {
        let seq = base + index as u64;
        output.set_seq(seq);
        let payload = output.to_json().unwrap();
        if payload.is_empty() {
            continue;
        }
        let (topic, live_payload) = by_seq
            .get(&seq)
            .unwrap_or_else(|| panic!("seq {seq} was not delivered live"));
        assert_eq!(&output.topic, topic, "seq {seq}");
        assert_eq!(
            String::from_utf8_lossy(&payload),
            String::from_utf8_lossy(live_payload),
            "seq {seq}"
        );
        compared += 1;
    }
    assert_eq!(compared, by_seq.len(), "every live message was replayed");
    // About ten track states a second per walker (the per-track publication
    // limit), plus the alert and health messages.
    assert!(compared > 20, "compared {compared} messages");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_held_report_goes_out_when_its_lag_runs_out_not_at_the_next_tick() {
    let broker = Mosquitto::start().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let pty = Pty::start(dir.path(), "geo");
    let state = dir.path().join("state");
    // Ticks 10 s apart, the most allowed (the first comes at start): only
    // a release can let the last report out within seconds.
    let text = config_text(broker.port(), &state, &pty.device, "")
        .replace("reorder_lag_ms = 100", "reorder_lag_ms = 300")
        .replace("tick_interval_ms = 50", "tick_interval_ms = 10000");
    let subscriber = Subscriber::connect(broker.port(), "release-watcher", &["picket/e2e/#"])
        .await
        .unwrap();
    let daemon = Daemon::start(parse_config(&text));
    subscriber
        .wait_for(WAIT, |m| m.iter().any(|m| m.topic.ends_with("/status")))
        .await
        .expect("birth status");

    // Three reports of a walker at 10 Hz: the third confirms the track
    // (3 of 4), and a confirmation is published at once.
    let mut writer = pty.writer();
    let mut last = (0, std::time::Instant::now());
    for step in 0..3u32 {
        let t = now_us();
        let north = -10.0 + f64::from(step) * 0.15;
        write_all(&mut writer, &wire(&position_at(step + 1, t, 0.5, north)));
        last = (t, std::time::Instant::now());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let last_seen = picket_schema::Timestamp::from_unix_micros(last.0)
        .unwrap()
        .to_string();
    let shows_last_report = |messages: &[picket_system_tests::mosquitto::Received]| {
        messages.iter().any(|m| {
            m.topic.contains("/tracks/")
                && serde_json::from_slice::<Value>(&m.payload)
                    .is_ok_and(|track| track["last_seen"] == last_seen.as_str())
        })
    };
    subscriber
        .wait_for(WAIT, shows_last_report)
        .await
        .expect("a track message with the last report");
    let waited = last.1.elapsed();
    // Not before its lag; well before the next tick (10 s after start).
    assert!(waited >= Duration::from_millis(290), "{waited:?}");
    assert!(waited < Duration::from_secs(5), "{waited:?}");

    let (report, _) = daemon.stop(Duration::from_secs(15)).await;
    assert!(report.clean, "{report:?}");
    let reader = Reader::open_read_only(&state.join("recording")).unwrap();
    let inspection = picket_cli::inspect::inspect(&reader).unwrap();
    assert!(inspection.releases > 0, "{inspection:?}");
    // The shutdown's final status counts them too (ticks, which publish
    // the status otherwise, are 10 s apart here).
    let releases_counted = subscriber
        .wait_for(WAIT, |m| {
            final_status_counter(m, "daemon.engine_releases").is_some()
        })
        .await
        .map(|m| final_status_counter(&m, "daemon.engine_releases"))
        .expect("the final status");
    assert_eq!(releases_counted, Some(inspection.releases));
    eprintln!(
        "last report published {:.0} ms after it was written (lag 300 ms); {} releases recorded",
        waited.as_secs_f64() * 1e3,
        inspection.releases
    );
    subscriber.close().await;
}

/// A counter of the daemon's last status message that has it, whatever
/// the message's state.
fn final_status_counter(
    messages: &[picket_system_tests::mosquitto::Received],
    name: &str,
) -> Option<u64> {
    messages
        .iter()
        .rev()
        .filter(|m| m.topic.ends_with("/status"))
        .find_map(|m| {
            let value: Value = serde_json::from_slice(&m.payload).ok()?;
            value["counters"][name].as_u64()
        })
}
