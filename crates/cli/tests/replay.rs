//! `picket replay` and `picket inspect` on a recording made the way picketd
//! records: replayed outputs must equal the live ones byte for byte.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::fs;
use std::process::Command;

use picket_cli::formats::{TrackRecord, read_file};
use picket_cli::replay::OutputLine;
use support::recording::{
    Event, MQTT_TOPIC, PICKETD_TOML, SERIAL_PORT, T0_US, events, record_live,
};

fn picket(args: &[&std::ffi::OsStr]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_picket"))
        .args(args)
        .output()
        .expect("run picket")
}

#[test]
fn replay_reproduces_the_live_outputs_byte_for_byte() {
    let work = tempfile::tempdir().unwrap();
    let recording = work.path().join("recording");
    let events = events(120, 10);
    let live = record_live(&recording, &events);
    assert!(
        live.iter()
            .filter(|(topic, ..)| topic.contains("/tracks/"))
            .count()
            > 500,
        "the scenario must produce tracks"
    );
    let config = work.path().join("picketd.toml");
    fs::write(&config, PICKETD_TOML).unwrap();
    let outputs = work.path().join("outputs.jsonl");
    let tracks = work.path().join("tracks.jsonl");
    let out = picket(&[
        "replay".as_ref(),
        recording.as_os_str(),
        "--config".as_ref(),
        config.as_os_str(),
        "--max".as_ref(),
        "--outputs".as_ref(),
        outputs.as_os_str(),
        "--out".as_ref(),
        tracks.as_os_str(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains(&format!("replayed {} records", events.len())),
        "{stdout}"
    );
    // Not a terminal: no progress line, no warnings.
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let text = fs::read_to_string(&outputs).unwrap();
    let replayed: Vec<(String, bool, Vec<u8>)> = text
        .lines()
        .map(|line| {
            let line: OutputLine<'_> = serde_json::from_str(line).unwrap();
            (
                line.topic.into_owned(),
                line.retained,
                line.payload.as_bytes().to_vec(),
            )
        })
        .collect();
    assert_eq!(replayed.len(), live.len());
    for (i, (replayed, live)) in replayed.iter().zip(&live).enumerate() {
        assert_eq!(replayed, live, "output {i}");
    }

    // tracks.jsonl: confirmed/coasting states, ENU, t from the first record.
    let rows: Vec<TrackRecord> = read_file(&tracks, false).unwrap();
    assert!(rows.len() > 500);
    let first_live_track = live
        .iter()
        .find_map(|(topic, _, payload)| {
            let message: picket_schema::TrackMessage = serde_json::from_slice(payload).ok()?;
            (topic.contains("/tracks/") && message.status == picket_schema::TrackStatus::Confirmed)
                .then_some(message)
        })
        .unwrap();
    let row = &rows[0];
    assert_eq!(row.track_id, first_live_track.track_id);
    assert_eq!(row.x, first_live_track.enu.east_m);
    assert_eq!(row.y, first_live_track.enu.north_m);
    assert_eq!(row.vx, first_live_track.velocity.east_mps);
    // t = 0 is the earliest record time in the recording.
    let first_record_us = events
        .iter()
        .map(|e| match e {
            Event::Input(input) => input.received_at.as_unix_micros(),
            Event::Tick(t) | Event::Flush(t) => t.as_unix_micros(),
        })
        .min()
        .unwrap();
    let expected_t = (first_live_track.time.as_unix_micros() - first_record_us) as f64 / 1e6;
    assert_eq!(row.t, expected_t);
}

#[test]
fn replay_paced_by_speed_takes_recorded_time_over_speed() {
    let work = tempfile::tempdir().unwrap();
    let recording = work.path().join("recording");
    record_live(&recording, &events(4, 2));
    let config = work.path().join("picketd.toml");
    fs::write(&config, PICKETD_TOML).unwrap();
    let started = std::time::Instant::now();
    let out = picket(&[
        "replay".as_ref(),
        recording.as_os_str(),
        "--config".as_ref(),
        config.as_os_str(),
        "--speed".as_ref(),
        "8".as_ref(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // ~4 s recorded at 8x: about half a second.
    let elapsed = started.elapsed().as_secs_f64();
    assert!((0.4..3.0).contains(&elapsed), "{elapsed}");
    let bad = picket(&[
        "replay".as_ref(),
        recording.as_os_str(),
        "--config".as_ref(),
        config.as_os_str(),
        "--speed".as_ref(),
        "0".as_ref(),
    ]);
    assert!(!bad.status.success());
}

#[test]
fn inspect_counts_sources_and_reports_damage() {
    let work = tempfile::tempdir().unwrap();
    let recording = work.path().join("recording");
    let events = events(30, 4);
    record_live(&recording, &events);
    let serial = events
        .iter()
        .filter(|e| matches!(e, Event::Input(i) if matches!(i.source, picket_engine::InputSource::Serial(_))))
        .count();
    let out = picket(&["inspect".as_ref(), recording.as_os_str()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(&format!(
            "records: {} (seq 0..={})",
            events.len(),
            events.len() - 1
        )),
        "{text}"
    );
    assert!(
        text.contains(&format!("serial {SERIAL_PORT}: {serial} inputs")),
        "{text}"
    );
    assert!(
        text.contains(&format!("mqtt   {MQTT_TOPIC}: 60 inputs")),
        "{text}"
    );
    assert!(text.contains("ticks: 300"), "{text}");
    assert!(text.contains("flushes (clean shutdowns): 1"), "{text}");
    assert!(
        text.contains("time span: 2026-01-01T00:00:00.005000Z"),
        "{text}"
    );
    assert!(text.contains("damage: none"), "{text}");
    let _ = T0_US;

    // Tear the tail: inspect reports it and leaves the file alone;
    // --repair cuts it.
    let segment = fs::read_dir(&recording)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "pkr"))
        .max()
        .unwrap();
    let len = fs::metadata(&segment).unwrap().len();
    fs::OpenOptions::new()
        .write(true)
        .open(&segment)
        .unwrap()
        .set_len(len - 3)
        .unwrap();
    let out = picket(&["inspect".as_ref(), recording.as_os_str()]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("damage: 1") && text.contains("skipped (read-only)"),
        "{text}"
    );
    assert_eq!(fs::metadata(&segment).unwrap().len(), len - 3);
    let out = picket(&[
        "inspect".as_ref(),
        "--repair".as_ref(),
        recording.as_os_str(),
    ]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("truncated"), "{text}");
    let out = picket(&["inspect".as_ref(), recording.as_os_str()]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("damage: none"));
}

#[test]
fn inspect_of_a_missing_directory_fails_with_its_name() {
    let out = picket(&["inspect".as_ref(), "/nonexistent/recording".as_ref()]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/recording"));
}

/// The first of `names` that runs, for tools that may be missing (CI
/// without Mosquitto skips the broker test, saying so).
fn tool(names: &[&str]) -> Option<String> {
    names
        .iter()
        .find(|name| {
            Command::new(name)
                .arg("--help")
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .status()
                .is_ok()
        })
        .map(|name| (*name).to_owned())
}

#[test]
fn replay_publishes_every_output_to_a_broker() {
    let (Some(broker), Some(sub)) = (
        tool(&["mosquitto", "/usr/sbin/mosquitto"]),
        tool(&["mosquitto_sub"]),
    ) else {
        eprintln!("skipped: mosquitto or mosquitto_sub not installed");
        return;
    };
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut broker = Command::new(broker)
        .args(["-p", &port.to_string()])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(std::time::Instant::now() < deadline, "broker did not start");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }

    let work = tempfile::tempdir().unwrap();
    let recording = work.path().join("recording");
    let live = record_live(&recording, &events(20, 4));
    let config = work.path().join("picketd.toml");
    fs::write(&config, PICKETD_TOML).unwrap();
    let subscriber = Command::new(sub)
        .args(["-h", "127.0.0.1", "-p", &port.to_string(), "-q", "1"])
        .args(["-t", "replay/#", "-F", "%t %p", "-W", "30"])
        .args(["-C", &live.len().to_string()])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(500));
    let url = format!("mqtt://127.0.0.1:{port}");
    let out = picket(&[
        "replay".as_ref(),
        recording.as_os_str(),
        "--config".as_ref(),
        config.as_os_str(),
        "--publish".as_ref(),
        url.as_ref(),
        "--topic-prefix".as_ref(),
        "replay/".as_ref(),
    ]);
    let received = subscriber.wait_with_output().unwrap();
    broker.kill().unwrap();
    broker.wait().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains(&format!("published {} messages", live.len())),
        "{stdout}"
    );
    let text = String::from_utf8(received.stdout).unwrap();
    let got: Vec<(String, Vec<u8>)> = text
        .lines()
        .map(|line| {
            let (topic, payload) = line.split_once(' ').unwrap();
            (topic.to_owned(), payload.as_bytes().to_vec())
        })
        .collect();
    let expected: Vec<(String, Vec<u8>)> = live
        .iter()
        .map(|(topic, _, payload)| (format!("replay/{topic}"), payload.clone()))
        .collect();
    assert_eq!(got, expected);

    // A broker that is not there fails the replay, naming it.
    let dead = picket(&[
        "replay".as_ref(),
        recording.as_os_str(),
        "--config".as_ref(),
        config.as_os_str(),
        "--publish".as_ref(),
        url.as_ref(),
    ]);
    assert!(!dead.status.success());
    assert!(String::from_utf8_lossy(&dead.stderr).contains(&format!("127.0.0.1:{port}")));
}
