//! A recorded site for replay tests and the replay bench: two radars (one
//! on a serial port, one on MQTT JSON) watching targets on circles, ticks
//! every 100 ms, recorded the way picketd records (record, then process) while
//! a "live" engine runs, so replay can be compared with the live outputs.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;

use picket_cli::replay::parse_engine_config;
use picket_engine::{Engine, EngineConfig, InputSource, RawInput};
use picket_record::engine::{flush_entry, input_entry, tick_entry};
use picket_record::{FsyncPolicy, Recorder, RecorderConfig, Retention};
use picket_schema::Timestamp;
use picket_wire::{Bearing, MAX_ENCODED_FRAME_LEN, Message, RangeBearingReport, TargetClass};

/// 2026-01-01T00:00:00Z, µs.
pub const T0_US: i64 = 1_767_225_600_000_000;
pub const SERIAL_PORT: &str = "/dev/serial/by-id/radar-01";
pub const MQTT_TOPIC: &str = "picket/replay-test/sensors/radar-02/reports";

/// A picketd configuration file, daemon tables included: replay must take
/// the engine's tables and the serial binding from it.
pub const PICKETD_TOML: &str = r#"
[site]
id = "replay-test"
origin = { lat = 31.33, lon = -110.94, alt_m = 1200.0 }

[[sensors]]
id = "radar-01"
kind = "radar"
position = { lat = 31.33, lon = -110.94, alt_m = 1200.0 }
range_sigma_m = 3.0
bearing_sigma_deg = 0.3

[[sensors]]
id = "radar-02"
kind = "radar"
position = { lat = 31.331, lon = -110.94, alt_m = 1200.0 }
range_sigma_m = 3.0
bearing_sigma_deg = 0.3

[mqtt]
host = "localhost"
subscriptions = ["picket/replay-test/sensors/+/reports"]

[[serial]]
path = "/dev/serial/by-id/radar-01"
sensor = "radar-01"

[state]
dir = "/var/lib/picket"

[daemon]
tick_interval_ms = 100
"#;

pub fn config() -> EngineConfig {
    parse_engine_config(PICKETD_TOML).unwrap()
}

/// One thing the daemon's engine thread did.
#[derive(Debug, Clone)]
pub enum Event {
    Input(RawInput),
    Tick(Timestamp),
    Flush(Timestamp),
}

fn report(sequence: u32, time_us: i64, east: f64, north: f64, jitter: f64) -> Message {
    Message::RangeBearingReport(RangeBearingReport {
        sequence,
        sensor_time_us: time_us as u64,
        range_m: (east.hypot(north) + 3.0 * jitter) as f32,
        range_variance_m2: 9.0,
        azimuth: Bearing {
            azimuth_deg: (east.atan2(north).to_degrees().rem_euclid(360.0) + 0.2 * jitter) as f32,
            variance_deg2: 0.09,
        },
        elevation: None,
        radial_velocity: None,
        sensor_track_id: None,
        class: TargetClass::Unknown,
    })
}

/// `duration_s` seconds of `targets` targets: one sweep per radar per
/// second (radar-01 sees even targets over serial, in chunks cut across
/// frames; radar-02 odd ones over MQTT), a tick every 100 ms, then a flush.
pub fn events(duration_s: u32, targets: usize) -> Vec<Event> {
    let ts = |us: i64| Timestamp::from_unix_micros(us).unwrap();
    let mut events = Vec::new();
    let mut sequence = [0u32; 2];
    for second in 0..duration_s {
        let sweep_us = T0_US + i64::from(second) * 1_000_000;
        let mut serial_stream = Vec::new();
        for target in 0..targets {
            let t = f64::from(second);
            let centre = (
                -800.0 + 400.0 * (target % 5) as f64,
                -600.0 + 400.0 * (target / 5) as f64,
            );
            let speed = 1.5 + target as f64 * 0.45;
            let angle = speed * t / 50.0;
            let (east, north) = (centre.0 + 50.0 * angle.cos(), centre.1 + 50.0 * angle.sin());
            let radar = target % 2;
            sequence[radar] += 1;
            let jitter =
                ((sequence[radar].wrapping_mul(2_654_435_761) >> 16) % 1000) as f64 / 1000.0 - 0.5;
            // radar-02 stands 110.9 m north of the origin.
            let north_from_radar = if radar == 1 { north - 110.9 } else { north };
            let message = report(sequence[radar], sweep_us, east, north_from_radar, jitter);
            if radar == 0 {
                let mut buffer = [0u8; MAX_ENCODED_FRAME_LEN];
                serial_stream
                    .extend_from_slice(picket_wire::encode_frame(&message, &mut buffer).unwrap());
            } else {
                events.push(Event::Input(RawInput {
                    source: InputSource::Mqtt(MQTT_TOPIC.to_owned()),
                    received_at: ts(sweep_us + 20_000 + target as i64 * 10),
                    bytes: serde_json::to_vec(&message).unwrap(),
                }));
            }
        }
        // Serial reads of 64 bytes: frames cut anywhere, as a tty delivers.
        for (i, chunk) in serial_stream.chunks(64).enumerate() {
            events.push(Event::Input(RawInput {
                source: InputSource::Serial(SERIAL_PORT.to_owned()),
                received_at: ts(sweep_us + 5_000 + i as i64 * 100),
                bytes: chunk.to_vec(),
            }));
        }
        for tick in 1..=10 {
            events.push(Event::Tick(ts(sweep_us + tick * 100_000)));
        }
    }
    let end = T0_US + i64::from(duration_s) * 1_000_000 + 1;
    events.push(Event::Flush(ts(end)));
    events
}

/// Encoded outputs: (topic, retained, payload).
pub type Published = Vec<(String, bool, Vec<u8>)>;

/// Runs `events` as picketd's engine thread does, recording each before
/// handling it, and returns what the live engine published.
pub fn record_live(dir: &Path, events: &[Event]) -> Published {
    let recorder_config = RecorderConfig {
        fsync: FsyncPolicy::EveryRecords(10_000),
        max_segment_bytes: 1 << 20,
        retention: Retention {
            max_total_bytes: u64::MAX,
            max_age: None,
        },
        ..RecorderConfig::default()
    };
    let (mut recorder, _) = Recorder::open(dir, recorder_config, T0_US).unwrap();
    let mut engine = Engine::new(config()).unwrap();
    let mut published = Vec::new();
    for event in events {
        let outputs = match event {
            Event::Input(input) => {
                recorder.append(&input_entry(input)).unwrap();
                engine.handle_input(input)
            }
            Event::Tick(now) => {
                recorder.append(&tick_entry(*now)).unwrap();
                engine.handle_tick(*now)
            }
            Event::Flush(now) => {
                recorder.append(&flush_entry(*now)).unwrap();
                engine.flush()
            }
        };
        for output in outputs {
            published.push((
                output.topic.clone(),
                output.retained,
                output.to_json().unwrap(),
            ));
        }
    }
    recorder.close().unwrap();
    published
}

/// The `picket replay --max` loop on the recording in `dir`, outputs
/// counted (by topic length, so none is optimised away), as the replay
/// benches measure it.
pub fn replay_max(dir: &Path, engine: &mut Engine) -> (picket_cli::replay::ReplayStats, u64) {
    let reader = picket_record::Reader::open_read_only(dir).unwrap();
    let mut outputs = 0u64;
    let stats = picket_cli::replay::replay(
        &reader,
        engine,
        picket_cli::replay::Pace::Max,
        |output| {
            outputs += output.topic.len() as u64;
            Ok(())
        },
        |_| {},
    )
    .unwrap();
    (stats, outputs)
}
