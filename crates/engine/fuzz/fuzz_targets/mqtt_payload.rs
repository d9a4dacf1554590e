//! Arbitrary MQTT payloads, on the topics of a small site's sensors, must
//! never panic `Engine::handle_input` (JSON decode, wire-frame decode for a
//! binary sensor, identity, normalisation, reorder buffer, tracker,
//! radiation, health), every output must encode, and the engine must stay a
//! pure function of its input: a second engine fed the same inputs gives
//! byte-identical outputs (what replay of a recording relies on).
//!
//! The input is a sequence of records: `selector:u8 delay_ms:u16le
//! len:u16le payload[len]` (a short final record takes what is left). The
//! selector picks the topic (its low 3 bits) or, with its top bit set, an
//! engine tick instead of a payload; `delay_ms` advances the receive clock,
//! so the fuzzer controls the timing that the reorder buffer and tracker
//! see.
#![no_main]

use libfuzzer_sys::fuzz_target;
use picket_engine::config::{GeodeticPosition, SensorConfig, SensorKind, SiteConfig};
use picket_engine::{Engine, EngineConfig, InputSource, Output, RawInput};
use picket_schema::Timestamp;

/// 2025-11-28T00:00:00Z, the epoch of the picket-wire test vectors, so
/// the seeds (`make_seeds.py`) carry sensor times the engine accepts.
const T0_US: i64 = 1_764_288_000_000_000;

const TOPICS: [&str; 8] = [
    "picket/fz/sensors/radar-01/reports",
    "picket/fz/sensors/geo-01/reports",
    "picket/fz/sensors/rad-01/reports",
    "picket/fz/sensors/gn-07/reports",
    // The binary sensor's own topic: one picket-wire frame per payload.
    "vendor/cam-01/out",
    "picket/fz/sensors/nobody/reports",
    "sensors/radar-01/reports",
    "",
];

fn config() -> EngineConfig {
    let origin = GeodeticPosition {
        lat: 31.33,
        lon: -110.94,
        alt_m: 1200.0,
    };
    let near = |d_lat: f64| GeodeticPosition {
        lat: origin.lat + d_lat,
        ..origin
    };
    let mut config = EngineConfig::new(SiteConfig::new("fz", origin));
    // Short lag and small buffers so releases, early releases and
    // too-late drops all happen within a few inputs.
    config.site.reorder_lag_ms = 200;
    config.site.reorder_capacity = 16;
    config.site.dedup_window = 8;
    let radar = SensorConfig::new("radar-01", SensorKind::Radar, origin);
    let geo = SensorConfig::new("geo-01", SensorKind::GeolocatedDetector, near(-0.001));
    let rad = SensorConfig::new("rad-01", SensorKind::RadiationDetector, near(0.0005));
    let node = SensorConfig::new("gn-07", SensorKind::GroundNode, near(0.001));
    let mut camera = SensorConfig::new("cam-01", SensorKind::Camera, near(-0.0005));
    camera.mqtt_topic = Some("vendor/cam-01/out".into());
    camera.mqtt_binary = true;
    config.sensors = vec![radar, geo, rad, node, camera];
    config
}

/// The inputs encoded in `data`: `Ok(input)` for a payload, `Err(time)`
/// for a tick.
fn inputs(mut data: &[u8]) -> Vec<Result<RawInput, Timestamp>> {
    let mut out = Vec::new();
    let mut now_us = T0_US;
    while let Some((&selector, rest)) = data.split_first() {
        let delay = rest
            .get(..2)
            .map_or(0, |b| u16::from_le_bytes([b[0], b[1]]));
        let rest = rest.get(2..).unwrap_or(&[]);
        let len = rest
            .get(..2)
            .map_or(0, |b| usize::from(u16::from_le_bytes([b[0], b[1]])));
        let rest = rest.get(2..).unwrap_or(&[]);
        let len = len.min(rest.len());
        let (payload, next) = rest.split_at(len);
        data = next;
        now_us += i64::from(delay) * 1_000;
        let Ok(received_at) = Timestamp::from_unix_micros(now_us) else {
            break;
        };
        if selector & 0x80 != 0 {
            out.push(Err(received_at));
        } else {
            out.push(Ok(RawInput {
                source: InputSource::Mqtt(TOPICS[usize::from(selector & 7)].to_owned()),
                received_at,
                bytes: payload.to_vec(),
            }));
        }
    }
    out
}

fn encoded(outputs: &[Output]) -> Vec<(String, bool, Vec<u8>)> {
    outputs
        .iter()
        .map(|output| {
            let json = output
                .to_json()
                .unwrap_or_else(|e| panic!("output does not encode: {e}: {output:?}"));
            (output.topic.clone(), output.retained, json)
        })
        .collect()
}

/// Runs every input through a fresh engine; returns everything it
/// published, in order, as encoded payloads.
fn run(inputs: &[Result<RawInput, Timestamp>]) -> Vec<(String, bool, Vec<u8>)> {
    let mut engine = Engine::new(config()).expect("the fuzz config is valid");
    let mut published = Vec::new();
    let mut payloads = 0u64;
    for input in inputs {
        match input {
            Ok(input) => {
                let before = *engine.counters();
                published.extend(encoded(engine.handle_input(input)));
                payloads += 1;
                let after = engine.counters();
                // Every payload is accounted for: decoded, or dropped with
                // a counted reason.
                assert!(
                    after.messages > before.messages
                        || after.dropped.total() > before.dropped.total(),
                    "payload neither decoded nor counted as dropped: {input:?}"
                );
            }
            Err(now) => published.extend(encoded(engine.handle_tick(*now))),
        }
    }
    published.extend(encoded(engine.flush()));
    assert_eq!(engine.counters().inputs, payloads);
    published
}

fuzz_target!(|data: &[u8]| {
    let inputs = inputs(data);
    let first = run(&inputs);
    let second = run(&inputs);
    assert!(first == second, "same inputs, different outputs");
});
