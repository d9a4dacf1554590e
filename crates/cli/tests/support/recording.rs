//! A recorded site for replay tests and the replay bench: two radars (one
//! on a serial port, one on MQTT JSON) watching targets on circles, ticks
//! every 100 ms, recorded the way picketd records (record, then process) while
//! a "live" engine runs, so replay can be compared with the live outputs.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;

use nalgebra::Vector2;
use picket_cli::replay::parse_engine_config;
use picket_engine::config::GeodeticPosition;
use picket_engine::geodesy::{Geodetic, LocalFrame};
use picket_engine::{Engine, EngineConfig, InputSource, RawInput};
use picket_record::engine::{flush_entry, input_entry, tick_entry};
use picket_record::{FsyncPolicy, Recorder, RecorderConfig, Retention};
use picket_schema::Timestamp;
use picket_track::{Detection, Measurement, SensorId};
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

fn report(sequence: u32, time_us: i64, east: f64, north: f64, jitter: f64) -> RangeBearingReport {
    RangeBearingReport {
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
    }
}

/// One radar report of the site: which radar (0 serial, 1 MQTT), the sweep
/// time (µs) and the report.
struct SweepReport {
    radar: usize,
    sweep_us: i64,
    report: RangeBearingReport,
}

/// Every report of `duration_s` seconds of `targets` targets, in sweep
/// order: one sweep per radar per second; radar-01 sees even targets,
/// radar-02 odd ones.
fn sweep_reports(duration_s: u32, targets: usize) -> Vec<SweepReport> {
    let mut reports = Vec::new();
    let mut sequence = [0u32; 2];
    for second in 0..duration_s {
        let sweep_us = T0_US + i64::from(second) * 1_000_000;
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
            reports.push(SweepReport {
                radar,
                sweep_us,
                report: report(sequence[radar], sweep_us, east, north_from_radar, jitter),
            });
        }
    }
    reports
}

/// `duration_s` seconds of `targets` targets (see [`sweep_reports`]):
/// radar-01's reports over serial, in chunks cut across frames, radar-02's
/// over MQTT, a tick every 100 ms, then a flush.
pub fn events(duration_s: u32, targets: usize) -> Vec<Event> {
    let ts = |us: i64| Timestamp::from_unix_micros(us).unwrap();
    let mut events = Vec::new();
    let reports = sweep_reports(duration_s, targets);
    for sweep in reports.chunk_by(|a, b| a.sweep_us == b.sweep_us) {
        let sweep_us = sweep[0].sweep_us;
        let mut serial_stream = Vec::new();
        for (index, SweepReport { radar, report, .. }) in sweep.iter().enumerate() {
            let message = Message::RangeBearingReport(report.clone());
            if *radar == 0 {
                let mut buffer = [0u8; MAX_ENCODED_FRAME_LEN];
                serial_stream
                    .extend_from_slice(picket_wire::encode_frame(&message, &mut buffer).unwrap());
            } else {
                events.push(Event::Input(RawInput {
                    source: InputSource::Mqtt(MQTT_TOPIC.to_owned()),
                    received_at: ts(sweep_us + 20_000 + index as i64 * 10),
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

/// The scans the engine hands the tracker for [`events`]: one per radar
/// per sweep, each report turned into the range-bearing measurement the
/// engine's normalisation makes of it (sensor position and meridian
/// convergence from the site frame, noise floors from the config). For
/// timing the tracker alone on the recording's detections.
pub fn tracker_scans(duration_s: u32, targets: usize) -> Vec<(f64, Vec<Detection>)> {
    let config = config();
    let geodetic = |position: &GeodeticPosition| Geodetic {
        lat_deg: position.lat,
        lon_deg: position.lon,
        alt_m: position.alt_m,
    };
    let frame = LocalFrame::new(geodetic(&config.site.origin));
    let sensors: Vec<_> = config
        .sensors
        .iter()
        .map(|sensor| {
            let position = geodetic(&sensor.position);
            let enu = frame.to_enu(position);
            (
                Vector2::new(enu.east, enu.north),
                frame.azimuth_correction(position),
                sensor.range_sigma_m.powi(2),
                sensor.bearing_sigma_deg.powi(2),
            )
        })
        .collect();
    let mut scans: Vec<(f64, Vec<Detection>)> = Vec::new();
    for SweepReport {
        radar,
        sweep_us,
        report,
    } in sweep_reports(duration_s, targets)
    {
        let (position, convergence, range_floor, bearing_floor_deg2) = sensors[radar];
        let bearing_variance_deg2 = f64::from(report.azimuth.variance_deg2).max(bearing_floor_deg2);
        let detection = Detection {
            sensor: SensorId(radar as u32),
            measurement: Measurement::RangeBearing {
                sensor: position,
                range: f64::from(report.range_m),
                bearing: f64::from(report.azimuth.azimuth_deg).to_radians() + convergence,
                range_variance: f64::from(report.range_variance_m2).max(range_floor),
                bearing_variance: bearing_variance_deg2.to_radians().to_radians(),
            },
        };
        let time_s = sweep_us as f64 / 1e6;
        match scans.iter_mut().rev().take(2).find(|(time, scan)| {
            *time == time_s && scan.first().is_some_and(|d| d.sensor.0 == radar as u32)
        }) {
            Some((_, scan)) => scan.push(detection),
            None => scans.push((time_s, vec![detection])),
        }
    }
    // The engine releases radar-01's sweep (received first) before
    // radar-02's, both before the next second's.
    scans.sort_by(|a, b| {
        a.0.total_cmp(&b.0)
            .then(a.1[0].sensor.0.cmp(&b.1[0].sensor.0))
    });
    scans
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
