//! Every JSON example in SPEC.md parses as a `Message` and serialises back to
//! the same JSON, so the document cannot drift from the types.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use picket_wire::Message;
use serde_json::Value;

const SPEC: &str = include_str!("../SPEC.md");

fn json_examples() -> Vec<&'static str> {
    SPEC.split("```json\n")
        .skip(1)
        .map(|block| block.split("```").next().unwrap())
        .collect()
}

#[test]
fn spec_json_examples_round_trip() {
    let examples = json_examples();
    let mut kinds = std::collections::BTreeSet::new();
    for example in &examples {
        let written: Value = serde_json::from_str(example).unwrap();
        let message: Message =
            serde_json::from_str(example).unwrap_or_else(|e| panic!("{e}: {example}"));
        assert_eq!(
            serde_json::to_value(&message).unwrap(),
            written,
            "example does not round-trip: {example}"
        );
        kinds.insert(written.as_object().unwrap().keys().next().unwrap().clone());
    }
    let all = [
        "hello",
        "heartbeat",
        "ground_event",
        "radiation_sample",
        "camera_trigger",
        "position_report",
        "range_bearing_report",
    ];
    let all: std::collections::BTreeSet<String> = all.iter().map(|kind| kind.to_string()).collect();
    assert_eq!(kinds, all, "SPEC.md needs an example of every message");
}

#[test]
fn omitted_optional_fields_read_as_absent() {
    let message: Message = serde_json::from_str(
        r#"{"heartbeat": {"sensor_time_us": 5, "uptime_s": 1, "temperature_decicelsius": 200,
            "tamper": false, "faults": 0}}"#,
    )
    .unwrap();
    let Message::Heartbeat(heartbeat) = message else {
        panic!("wrong variant")
    };
    assert_eq!(heartbeat.battery_mv, None);
}

#[test]
fn unknown_keys_are_ignored_and_bad_enums_rejected() {
    let extra = r#"{"hello": {"sensor_id": "x", "kind": "radar", "firmware": {"major": 1, "minor": 0, "patch": 0},
        "protocol_version": 1, "time_base": "since_boot", "site": "north"}}"#;
    assert!(serde_json::from_str::<Message>(extra).is_ok());
    let bad_kind = extra.replace("\"radar\"", "\"sonar\"");
    assert!(serde_json::from_str::<Message>(&bad_kind).is_err());
    let long_id = extra.replace("\"x\"", &format!("\"{}\"", "a".repeat(33)));
    assert!(
        serde_json::from_str::<Message>(&long_id).is_err(),
        "ids over 32 bytes are rejected"
    );
}
