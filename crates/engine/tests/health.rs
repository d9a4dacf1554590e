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

/// gn-02's health messages over 400 s of ticks every 100 ms, heard at
/// `heard_s`, with periodic health every `publish_interval_s`.
fn dense_ticks(publish_interval_s: f64, heard_s: &[i64]) -> Vec<(i64, HealthState)> {
    let mut config = site_config();
    config.health.publish_interval_s = publish_interval_s;
    let mut engine = Engine::new(config).unwrap();
    engine.handle_input(&serial(
        PORT,
        T0_US,
        wire_frame(&hello("gn-02", picket_wire::SensorKind::GroundNode)),
    ));
    let mut heard_s = heard_s.iter().copied().peekable();
    let mut published = Vec::new();
    for tick in 1..=4000_i64 {
        let now_us = T0_US + tick * 100_000;
        while let Some(seconds) = heard_s.next_if(|s| T0_US + s * 1_000_000 < now_us) {
            let time = T0_US + seconds * 1_000_000;
            let outputs = engine.handle_input(&serial(
                PORT,
                time,
                wire_frame(&heartbeat(time, seconds as u32 + 1, false, 0)),
            ));
            published.extend(gn_02_health(outputs));
        }
        let outputs = engine.handle_tick(Timestamp::from_unix_micros(now_us).unwrap());
        published.extend(gn_02_health(outputs));
    }
    published
}

/// Ticks skip the health check until the next deadline (silence or a
/// periodic message); these check the skip never delays either, across a
/// sensor falling silent, being heard again and falling silent again.
#[test]
fn silence_is_never_late_on_dense_ticks() {
    // Expected every 30 s: silent after 75 s of quiet. No periodic health,
    // so nothing but the silence deadlines wakes the check.
    let published = dense_ticks(0.0, &[0, 10, 100, 101, 250]);
    let states: Vec<(i64, HealthState)> = published
        .iter()
        .map(|(time_us, state)| (time_us - T0_US, *state))
        .collect();
    // Silent at the first tick more than 75 s after the last heartbeat;
    // Ok again when a heartbeat leaves the reorder buffer.
    let silent_at: Vec<i64> = states
        .iter()
        .filter(|(_, state)| *state == HealthState::Silent)
        .map(|(time_us, _)| *time_us)
        .collect();
    assert_eq!(
        silent_at,
        [85_100_000, 176_100_000, 325_100_000],
        "{states:?}"
    );
    assert_eq!(
        states
            .iter()
            .filter(|(_, state)| *state == HealthState::Ok)
            .count(),
        3,
        "{states:?}"
    );
}

#[test]
fn periodic_health_is_never_late_on_dense_ticks() {
    let published = dense_ticks(7.0, &[0, 10, 100, 101, 250]);
    assert!(published.len() > 50, "{published:?}");
    // A message at least every 7 s (to the tick), never more often unless
    // the state changed.
    for pair in published.windows(2) {
        let gap_us = pair[1].0 - pair[0].0;
        assert!(gap_us <= 7_100_000, "{published:?}");
        assert!(
            gap_us >= 7_000_000 || pair[0].1 != pair[1].1,
            "{published:?}"
        );
    }
}

/// gn-02's health messages in `outputs`: (time µs, state).
fn gn_02_health(outputs: &[Output]) -> Vec<(i64, HealthState)> {
    outputs
        .iter()
        .filter_map(|output| match &output.message {
            OutputMessage::SensorHealth(health) if health.sensor.as_str() == "gn-02" => {
                Some((health.time.as_unix_micros(), health.state))
            }
            _ => None,
        })
        .collect()
}
