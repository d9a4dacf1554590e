//! `Engine::handle_decoded_mqtt(&decoder.decode(&input))` is
//! `Engine::handle_input(&input)`: the same outputs, byte for byte, and the
//! same counters, for good reports, junk and unknown topics alike.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use picket_engine::{Engine, InputSource, RawInput};
use picket_schema::Timestamp;
use support::*;

#[test]
fn decoding_ahead_changes_nothing() {
    let mut inputs = deliver(&scenario_emissions(120), |index| {
        20_000 + (index as i64 * 7_919) % 150_000
    });
    // Junk among the reports: bad JSON from a known sensor, a report on an
    // unknown topic, a wire frame where JSON is expected, an empty payload.
    let times: Vec<i64> = inputs
        .iter()
        .map(|input| input.received_at.as_unix_micros())
        .collect();
    let at = |index: usize| times[index];
    let radar = format!("picket/checkpoint-1/{RADAR_TOPIC}");
    let junk = [
        mqtt(&radar, at(10), b"{\"range_bearing_report\":".to_vec()),
        mqtt(
            "picket/checkpoint-1/sensors/nobody/reports",
            at(20),
            json(&range_bearing(1, at(20), 50.0, 10.0)),
        ),
        mqtt(
            &radar,
            at(30),
            wire_frame(&range_bearing(2, at(30), 50.0, 10.0)),
        ),
        mqtt(&radar, at(40), Vec::new()),
    ];
    for (offset, input) in junk.into_iter().enumerate() {
        inputs.insert(10 * (offset + 1) + offset, input);
    }
    assert!(
        inputs
            .iter()
            .filter(|input| matches!(input.source, InputSource::Mqtt(_)))
            .count()
            > 50
    );

    let run = |decode_ahead: bool| {
        let mut engine = Engine::new(site_config()).unwrap();
        let decoder = engine.mqtt_decoder();
        let decoded: Vec<_> = inputs.iter().map(|input| decoder.decode(input)).collect();
        let mut outputs = Vec::new();
        let mut next_tick = at(0) / 1_000_000 * 1_000_000 + 1_000_000;
        for (input, decoded) in inputs.iter().zip(&decoded) {
            while next_tick <= input.received_at.as_unix_micros() {
                outputs.extend_from_slice(
                    engine.handle_tick(Timestamp::from_unix_micros(next_tick).unwrap()),
                );
                next_tick += 1_000_000;
            }
            let handled = match (decode_ahead, decoded) {
                (true, Some(decoded)) => engine.handle_decoded_mqtt(decoded),
                _ => engine.handle_input(input),
            };
            outputs.extend_from_slice(handled);
        }
        outputs.extend_from_slice(engine.flush());
        (encoded(&outputs), *engine.counters())
    };
    let (direct, direct_counters) = run(false);
    let (ahead, ahead_counters) = run(true);
    assert!(direct.len() > 20, "{}", direct.len());
    assert!(direct_counters.dropped.json >= 2, "{direct_counters:?}");
    assert_eq!(direct, ahead);
    assert_eq!(direct_counters, ahead_counters);
    // Serial inputs are not decoded ahead.
    let serial = RawInput {
        source: InputSource::Serial(node_port("gn-01")),
        ..inputs[0].clone()
    };
    assert!(
        Engine::new(site_config())
            .unwrap()
            .mqtt_decoder()
            .decode(&serial)
            .is_none()
    );
}
