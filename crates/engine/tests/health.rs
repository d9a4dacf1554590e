//! Sensor health: heartbeat faults raise alerts on the rising edge, and a
//! quiet sensor is reported silent on a tick.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use picket_engine::{Engine, Output, OutputMessage};
use picket_schema::{AlertKind, HealthState, SensorFault, Timestamp};
use picket_wire::FaultFlags;
use support::*;

const PORT: &str = "/dev/tty-gn-02";

fn alerts(outputs: &[Output]) -> Vec<AlertKind> {
    outputs
        .iter()
        .filter_map(|output| match &output.message {
            OutputMessage::Alert(alert) => Some(alert.kind.clone()),
            _ => None,
        })
        .collect()
}

fn health_states(outputs: &[Output]) -> Vec<HealthState> {
    outputs
        .iter()
        .filter_map(|output| match &output.message {
            OutputMessage::SensorHealth(health) if health.sensor.as_str() == "gn-02" => {
                Some(health.state)
            }
            _ => None,
        })
        .collect()
}

#[test]
fn tamper_and_faults_alert_once_per_rising_edge() {
    let mut engine = Engine::new(site_config()).unwrap();
    engine.handle_input(&serial(
        PORT,
        T0_US,
        wire_frame(&hello("gn-02", picket_wire::SensorKind::GroundNode)),
    ));
    let mut outputs = Vec::new();
    let beats = [
        (false, 0),
        (true, 0),
        (true, FaultFlags::LOW_BATTERY),
        (true, FaultFlags::LOW_BATTERY),
        (false, 0),
    ];
    for (index, (tamper, faults)) in beats.into_iter().enumerate() {
        let time = T0_US + index as i64 * 10_000_000;
        outputs.extend_from_slice(engine.handle_input(&serial(
            PORT,
            time,
            wire_frame(&heartbeat(time, 10 + index as u32, tamper, faults)),
        )));
    }
    outputs.extend_from_slice(engine.flush());
    let alerts = alerts(&outputs);
    assert_eq!(alerts.len(), 2, "{alerts:?}");
    assert!(matches!(&alerts[0], AlertKind::SensorTamper { sensor } if sensor.as_str() == "gn-02"));
    assert!(
        matches!(&alerts[1], AlertKind::SensorFault { faults, .. } if faults == &vec![SensorFault::LowBattery])
    );
    assert_eq!(
        health_states(&outputs),
        [
            HealthState::Ok,
            HealthState::Degraded,
            HealthState::Degraded,
            HealthState::Ok
        ]
    );
}

#[test]
fn silence_is_reported_on_tick_and_cleared_by_the_next_message() {
    let mut engine = Engine::new(site_config()).unwrap();
    engine.handle_input(&serial(
        PORT,
        T0_US,
        wire_frame(&hello("gn-02", picket_wire::SensorKind::GroundNode)),
    ));
    engine.handle_input(&serial(
        PORT,
        T0_US,
        wire_frame(&heartbeat(T0_US, 1, false, 0)),
    ));
    let tick = |seconds: i64| Timestamp::from_unix_micros(T0_US + seconds * 1_000_000).unwrap();
    let mut outputs = engine.handle_tick(tick(1)).to_vec();
    assert_eq!(health_states(&outputs), [HealthState::Ok]);
    // Expected every 30 s, silent after 2.5 intervals.
    assert!(health_states(engine.handle_tick(tick(70))).is_empty());
    outputs = engine.handle_tick(tick(80)).to_vec();
    assert_eq!(health_states(&outputs), [HealthState::Silent]);
    let time = T0_US + 81_000_000;
    engine.handle_input(&serial(
        PORT,
        time,
        wire_frame(&heartbeat(time, 82, false, 0)),
    ));
    outputs = engine.handle_tick(tick(82)).to_vec();
    assert_eq!(health_states(&outputs), [HealthState::Ok]);
}
