//! Every drop reason, each provoked by a real frame or payload and checked
//! in the counters (global, per-sensor and the status map).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use picket_engine::config::{SensorConfig, SensorKind};
use picket_engine::{DropCounters, Engine, OutputMessage};
use picket_wire::{Bearing, CameraTarget, CameraTrigger, ImageBox, Message, TargetClass, crc32c};
use support::*;

const NODE_PORT: &str = "/dev/tty-gn-01";
const T: i64 = T0_US + 10_000_000;

fn engine() -> Engine {
    let mut config = site_config();
    // A camera without calibration, for the image-box case.
    config.sensors.push(SensorConfig::new(
        "cam-raw",
        SensorKind::Camera,
        at(0.0, 0.0),
    ));
    let mut engine = Engine::new(config).unwrap();
    engine.handle_input(&serial(
        NODE_PORT,
        T - 1_000_000,
        wire_frame(&hello("gn-01", picket_wire::SensorKind::GroundNode)),
    ));
    engine
}

/// Feeds one input and returns the drop counters' change.
fn drops_after(engine: &mut Engine, input: picket_engine::RawInput) -> DropCounters {
    let before = engine.counters().dropped;
    engine.handle_input(&input);
    let after = engine.counters().dropped;
    let mut delta = DropCounters::default();
    for ((reason, old), (_, new)) in before.iter().zip(after.iter()) {
        *delta.get_mut(reason) = new - old;
    }
    delta
}

fn only(reason: &str, delta: DropCounters) {
    let hits: Vec<(&str, u64)> = delta
        .iter()
        .filter(|(_, count)| *count > 0)
        .map(|(reason, count)| (reason.name(), count))
        .collect();
    assert_eq!(hits, vec![(reason, 1)]);
}

fn cobs_encode(raw: &[u8]) -> Vec<u8> {
    let mut out = vec![0];
    let (mut code_at, mut code) = (0, 1u8);
    for &byte in raw {
        if byte == 0 {
            out[code_at] = code;
            code_at = out.len();
            out.push(0);
            code = 1;
        } else {
            out.push(byte);
            code += 1;
            if code == 0xFF {
                out[code_at] = code;
                code_at = out.len();
                out.push(0);
                code = 1;
            }
        }
    }
    out[code_at] = code;
    out.push(0);
    out
}

fn cobs_decode(encoded: &[u8]) -> Vec<u8> {
    let body = &encoded[..encoded.len() - 1];
    let mut out = Vec::new();
    let mut at = 0;
    while at < body.len() {
        let code = body[at] as usize;
        out.extend_from_slice(&body[at + 1..at + code]);
        at += code;
        if code < 0xFF && at < body.len() {
            out.push(0);
        }
    }
    out
}

/// A frame with a valid CRC around arbitrary version and payload bytes.
fn raw_frame(version: u8, payload: &[u8]) -> Vec<u8> {
    let mut raw = vec![version];
    raw.extend_from_slice(payload);
    let crc = crc32c(&raw);
    raw.extend_from_slice(&crc.to_le_bytes());
    cobs_encode(&raw)
}

#[test]
fn duplicate() {
    let mut engine = engine();
    let event = wire_frame(&ground_event(1, T));
    assert_eq!(
        drops_after(&mut engine, serial(NODE_PORT, T, event.clone())).total(),
        0
    );
    only(
        "duplicate",
        drops_after(&mut engine, serial(NODE_PORT, T + 1, event)),
    );
}

#[test]
fn non_finite() {
    let mut engine = engine();
    let Message::GroundEvent(mut event) = ground_event(1, T) else {
        unreachable!()
    };
    event.bearing = Some(Bearing {
        azimuth_deg: f32::NAN,
        variance_deg2: 4.0,
    });
    only(
        "non_finite",
        drops_after(
            &mut engine,
            serial(NODE_PORT, T, wire_frame(&Message::GroundEvent(event))),
        ),
    );
}

#[test]
fn invalid_measurement() {
    let mut engine = engine();
    let Message::RadiationSample(mut sample) = radiation(1, T, 100, 0) else {
        unreachable!()
    };
    sample.interval_ms = 0;
    only(
        "invalid_measurement",
        drops_after(
            &mut engine,
            serial(
                PORTAL_PORT,
                T,
                wire_frame(&Message::RadiationSample(sample)),
            ),
        ),
    );
}

#[test]
fn invalid_measurement_non_positive_variance() {
    for variance in [0.0, -4.0] {
        let mut engine = engine();
        let mut report = range_bearing(1, T, 100.0, 90.0);
        if let Message::RangeBearingReport(inner) = &mut report {
            inner.azimuth.variance_deg2 = variance;
        }
        only(
            "invalid_measurement",
            drops_after(
                &mut engine,
                mqtt(
                    &format!("picket/checkpoint-1/{RADAR_TOPIC}"),
                    T,
                    json(&report),
                ),
            ),
        );
    }
}

#[test]
fn invalid_measurement_outside_the_field_of_view() {
    let mut engine = engine();
    // The camera looks west (270°) with a 90° view; east is behind it.
    let trigger = Message::CameraTrigger(CameraTrigger {
        sequence: 1,
        sensor_time_us: T as u64,
        target: CameraTarget::Direction {
            azimuth: Bearing {
                azimuth_deg: 90.0,
                variance_deg2: 1.0,
            },
            elevation: picket_wire::Elevation {
                elevation_deg: 0.0,
                variance_deg2: 1.0,
            },
        },
        class: TargetClass::Person,
        confidence_pct: 80,
        ground_position: None,
    });
    only(
        "invalid_measurement",
        drops_after(&mut engine, mqtt(CAMERA_TOPIC, T, json(&trigger))),
    );
}

#[test]
fn out_of_area() {
    let mut engine = engine();
    only(
        "out_of_area",
        drops_after(
            &mut engine,
            mqtt(RADAR_TOPIC, T, json(&range_bearing(1, T, 30_000.0, 90.0))),
        ),
    );
}

#[test]
fn too_far_future() {
    let mut engine = engine();
    only(
        "too_far_future",
        drops_after(
            &mut engine,
            serial(NODE_PORT, T, wire_frame(&ground_event(1, T + 10_000_000))),
        ),
    );
}

#[test]
fn too_late() {
    let mut engine = engine();
    // A report from two seconds later, received once the 500 ms lag has
    // passed, is released: the tracker has moved past T.
    assert_eq!(
        drops_after(
            &mut engine,
            serial(
                NODE_PORT,
                T + 2_600_000,
                wire_frame(&ground_event(2, T + 2_000_000))
            )
        )
        .total(),
        0
    );
    only(
        "too_late",
        drops_after(
            &mut engine,
            serial(NODE_PORT, T + 2_600_001, wire_frame(&ground_event(1, T))),
        ),
    );
}

#[test]
fn unknown_sensor() {
    let mut engine = engine();
    only(
        "unknown_sensor",
        drops_after(
            &mut engine,
            mqtt("sensors/nobody/reports", T, json(&ground_event(1, T))),
        ),
    );
    // An unbound port before its Hello, and a Hello from a stranger.
    only(
        "unknown_sensor",
        drops_after(
            &mut engine,
            serial("/dev/ttyNEW", T, wire_frame(&ground_event(1, T))),
        ),
    );
    only(
        "unknown_sensor",
        drops_after(
            &mut engine,
            serial(
                "/dev/ttyNEW",
                T,
                wire_frame(&hello("gn-99", picket_wire::SensorKind::GroundNode)),
            ),
        ),
    );
}

#[test]
fn unsupported_message() {
    let mut engine = engine();
    only(
        "unsupported_message",
        drops_after(
            &mut engine,
            serial(NODE_PORT, T, wire_frame(&radiation(1, T, 100, 0))),
        ),
    );
    // A Hello declaring another kind than configured.
    only(
        "unsupported_message",
        drops_after(
            &mut engine,
            serial(
                "/dev/ttyX",
                T,
                wire_frame(&hello("gn-02", picket_wire::SensorKind::Camera)),
            ),
        ),
    );
}

#[test]
fn uncalibrated() {
    let mut engine = engine();
    let trigger = Message::CameraTrigger(CameraTrigger {
        sequence: 1,
        sensor_time_us: T as u64,
        target: CameraTarget::ImageBox(ImageBox {
            x: 10,
            y: 10,
            width: 10,
            height: 10,
            image_width: 640,
            image_height: 480,
        }),
        class: TargetClass::Person,
        confidence_pct: 80,
        ground_position: None,
    });
    only(
        "uncalibrated",
        drops_after(
            &mut engine,
            mqtt("sensors/cam-raw/reports", T, json(&trigger)),
        ),
    );
}

#[test]
fn every_frame_error_is_classified() {
    let mut engine = engine();
    let good = wire_frame(&ground_event(1, T));
    let raw = cobs_decode(&good);
    let payload = &raw[1..raw.len() - 4];
    let mut corrupted = good.clone();
    corrupted[3] ^= 0x40;
    let cases: [(&str, Vec<u8>); 7] = [
        ("frame_empty", vec![0]),
        ("frame_too_long", [vec![1u8; 600], vec![0]].concat()),
        ("frame_cobs", vec![0x09, 0x01, 0x00]),
        ("frame_too_short", vec![0x03, 0x01, 0x01, 0x00]),
        ("frame_crc", corrupted),
        ("frame_unknown_version", raw_frame(2, payload)),
        ("frame_payload", raw_frame(1, &[0x7F, 0x7F])),
    ];
    for (reason, bytes) in cases {
        only(
            reason,
            drops_after(&mut engine, serial(NODE_PORT, T, bytes)),
        );
    }
    // The stream survives every one of them.
    assert_eq!(
        drops_after(&mut engine, serial(NODE_PORT, T, good)).total(),
        0
    );
    let stats = engine.decoder_stats(NODE_PORT).unwrap();
    assert_eq!(stats.rejected(), 7);
}

#[test]
fn json_and_binary_mqtt_payloads() {
    let mut config = site_config();
    let radar = config
        .sensors
        .iter_mut()
        .find(|sensor| sensor.id == "radar-01")
        .unwrap();
    radar.mqtt_binary = true;
    let mut engine = Engine::new(config).unwrap();
    // A binary sensor's frame is accepted, its garbage classified.
    assert_eq!(
        drops_after(
            &mut engine,
            mqtt(
                RADAR_TOPIC,
                T,
                wire_frame(&range_bearing(1, T, 100.0, 90.0))
            )
        )
        .total(),
        0
    );
    only(
        "frame_crc",
        drops_after(
            &mut engine,
            mqtt(RADAR_TOPIC, T, vec![0x06, 1, 2, 3, 4, 5, 0]),
        ),
    );
    only(
        "json",
        drops_after(
            &mut engine,
            mqtt(CAMERA_TOPIC, T, b"{\"camera_trigger\": 5}".to_vec()),
        ),
    );
}

#[test]
fn drops_reach_sensor_health_and_status_counters() {
    let mut engine = engine();
    let event = wire_frame(&ground_event(1, T));
    engine.handle_input(&serial(NODE_PORT, T, event.clone()));
    engine.handle_input(&serial(NODE_PORT, T + 1, event));
    let outputs = engine.flush().to_vec();
    let health = outputs
        .iter()
        .find_map(|output| match &output.message {
            OutputMessage::SensorHealth(health) if health.sensor.as_str() == "gn-01" => {
                Some(health)
            }
            _ => None,
        })
        .unwrap();
    assert_eq!(health.counters.dropped.get("duplicate"), Some(&1));
    let status = engine.counters().to_status_counters();
    assert_eq!(status.get("engine.dropped.duplicate"), Some(&1));
    assert_eq!(status.get("engine.scans"), Some(&1));
}
