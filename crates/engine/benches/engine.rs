//! Per-input cost of the engine, from raw bytes to output messages, with a
//! steady population of 20 confirmed tracks.
//!
//! One radar reports 20 targets circling at walking-to-driving speeds, one
//! plot per input, all plots of a sweep stamped with the sweep time (so the
//! engine groups each sweep into one tracker scan, as picket-track expects
//! of a scanning sensor; the cost per input includes its share of the
//! scan). The same reports are fed once as serial
//! picket-wire frames and once as MQTT JSON payloads. Each measured
//! "iteration" is one `handle_input` call; engines are rebuilt and warmed up
//! outside the timed region when a stream runs out.
//!
//! Run: `CARGO_TARGET_DIR=target-engine cargo bench -p picket-engine --bench engine`
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use picket_engine::config::{GeodeticPosition, SensorConfig, SensorKind, SiteConfig};
use picket_engine::{Engine, EngineConfig, InputSource, RawInput};
use picket_schema::Timestamp;
use picket_wire::{Bearing, MAX_ENCODED_FRAME_LEN, Message, RangeBearingReport, TargetClass};

const T0_US: i64 = 1_767_225_600_000_000;
const TARGETS: usize = 20;
const DURATION_S: usize = 600;
const WARM_UP_S: usize = 30;
const PORT: &str = "/dev/ttyRADAR";
const TOPIC: &str = "sensors/radar-01/reports";

fn config() -> EngineConfig {
    let origin = GeodeticPosition {
        lat: 31.33,
        lon: -110.94,
        alt_m: 1200.0,
    };
    let mut config = EngineConfig::new(SiteConfig::new("bench", origin));
    let mut radar = SensorConfig::new("radar-01", SensorKind::Radar, origin);
    radar.serial_port = Some(PORT.to_owned());
    radar.range_sigma_m = 3.0;
    radar.bearing_sigma_deg = 0.3;
    config.sensors.push(radar);
    config
}

/// Reports of every target, in time order, as wire messages.
fn reports() -> Vec<(i64, Message)> {
    let mut out = Vec::new();
    let mut sequence = 0u32;
    for second in 0..DURATION_S {
        for target in 0..TARGETS {
            let t = second as f64;
            // Circles 100 m across on a 400 m grid, 1.5 to 10 m/s.
            let centre = (
                -800.0 + 400.0 * (target % 5) as f64,
                -600.0 + 400.0 * (target / 5) as f64,
            );
            let speed = 1.5 + target as f64 * 0.45;
            let angle = speed * t / 50.0;
            let (east, north) = (centre.0 + 50.0 * angle.cos(), centre.1 + 50.0 * angle.sin());
            // Deterministic jitter standing in for noise.
            let jitter =
                ((sequence.wrapping_mul(2_654_435_761) >> 16) % 1000) as f64 / 1000.0 - 0.5;
            sequence += 1;
            let time_us = T0_US + (t * 1e6) as i64;
            out.push((
                time_us,
                Message::RangeBearingReport(RangeBearingReport {
                    sequence,
                    sensor_time_us: time_us as u64,
                    range_m: (east.hypot(north) + 3.0 * jitter) as f32,
                    range_variance_m2: 9.0,
                    azimuth: Bearing {
                        azimuth_deg: (east.atan2(north).to_degrees().rem_euclid(360.0)
                            + 0.2 * jitter) as f32,
                        variance_deg2: 0.09,
                    },
                    elevation: None,
                    radial_velocity: None,
                    sensor_track_id: None,
                    class: TargetClass::Unknown,
                }),
            ));
        }
    }
    out
}

fn inputs(serial: bool) -> Vec<RawInput> {
    reports()
        .into_iter()
        .map(|(time_us, message)| {
            let (source, bytes) = if serial {
                let mut buffer = [0u8; MAX_ENCODED_FRAME_LEN];
                let frame = picket_wire::encode_frame(&message, &mut buffer)
                    .unwrap()
                    .to_vec();
                (InputSource::Serial(PORT.to_owned()), frame)
            } else {
                (
                    InputSource::Mqtt(TOPIC.to_owned()),
                    serde_json::to_vec(&message).unwrap(),
                )
            };
            RawInput {
                source,
                received_at: Timestamp::from_unix_micros(time_us + 5_000).unwrap(),
                bytes,
            }
        })
        .collect()
}

/// An engine that has seen the warm-up, so all tracks are confirmed.
fn warmed_engine(inputs: &[RawInput]) -> Engine {
    let mut engine = Engine::new(config()).unwrap();
    for input in &inputs[..WARM_UP_S * TARGETS] {
        engine.handle_input(input);
    }
    let confirmed = engine
        .tracker()
        .tracks()
        .filter(|track| track.is_confirmed())
        .count();
    assert_eq!(confirmed, TARGETS, "steady population");
    engine
}

fn bench_source(c: &mut Criterion, name: &str, serial: bool) {
    let inputs = inputs(serial);
    let measured = &inputs[WARM_UP_S * TARGETS..];
    c.bench_function(name, |b| {
        b.iter_custom(|iterations| {
            let mut total = Duration::ZERO;
            let mut remaining = iterations as usize;
            while remaining > 0 {
                let mut engine = warmed_engine(&inputs);
                let batch = remaining.min(measured.len());
                let start = Instant::now();
                for input in &measured[..batch] {
                    black_box(engine.handle_input(black_box(input)).len());
                }
                total += start.elapsed();
                remaining -= batch;
            }
            total
        });
    });
}

fn engine(c: &mut Criterion) {
    bench_source(c, "engine/serial_frame_to_outputs", true);
    bench_source(c, "engine/mqtt_json_to_outputs", false);
}

criterion_group!(benches, engine);
criterion_main!(benches);
