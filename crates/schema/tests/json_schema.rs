//! Every message this crate writes passes the committed JSON Schemas, and
//! the schemas reject what the types would reject.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use picket_schema::*;
use proptest::prelude::*;
use serde_json::{Value, json};

fn validator(schema: &str) -> jsonschema::Validator {
    let schema: Value = serde_json::from_str(schema).unwrap();
    jsonschema::draft202012::new(&schema).unwrap()
}

/// The schema of each message kind, built once per call site.
struct Schemas {
    track: jsonschema::Validator,
    alert: jsonschema::Validator,
    status: jsonschema::Validator,
    sensor_health: jsonschema::Validator,
}

impl Schemas {
    fn new() -> Self {
        Schemas {
            track: validator(TRACK_SCHEMA),
            alert: validator(ALERT_SCHEMA),
            status: validator(STATUS_SCHEMA),
            sensor_health: validator(SENSOR_HEALTH_SCHEMA),
        }
    }

    fn for_message(&self, message: &Message) -> &jsonschema::Validator {
        match message {
            Message::Track(_) => &self.track,
            Message::Alert(_) => &self.alert,
            Message::Status(_) => &self.status,
            Message::SensorHealth(_) => &self.sensor_health,
        }
    }

    /// The published JSON of the message inside `message` (not of the
    /// wrapper), and whether its schema accepts it.
    fn check(&self, message: &Message) -> Result<(), String> {
        let json = match message {
            Message::Track(m) => to_json(m),
            Message::Alert(m) => to_json(m),
            Message::Status(m) => to_json(m),
            Message::SensorHealth(m) => to_json(m),
        }
        .unwrap();
        let value: Value = serde_json::from_slice(&json).unwrap();
        let errors: Vec<String> = self
            .for_message(message)
            .iter_errors(&value)
            .map(|error| format!("{} at {}", error, error.instance_path()))
            .collect();
        if errors.is_empty() {
            Ok(())
        } else {
            Err(format!("{errors:?}\n{value:#}"))
        }
    }
}

#[test]
fn schemas_are_valid_draft_2020_12() {
    for schema in [
        TRACK_SCHEMA,
        ALERT_SCHEMA,
        STATUS_SCHEMA,
        SENSOR_HEALTH_SCHEMA,
    ] {
        let value: Value = serde_json::from_str(schema).unwrap();
        assert_eq!(
            value["$schema"],
            "https://json-schema.org/draft/2020-12/schema"
        );
        jsonschema::meta::validate(&value).unwrap();
    }
}

#[test]
fn every_example_of_every_kind_and_variant_validates() {
    let schemas = Schemas::new();
    let examples = all_examples();
    assert_eq!(examples.len(), 12);
    for message in &examples {
        schemas.check(message).unwrap();
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn generated_messages_validate(message in any_message()) {
        let schemas = Schemas::new();
        prop_assert!(schemas.check(&message).is_ok(), "{:?}", schemas.check(&message));
    }
}

fn track_json() -> Value {
    serde_json::from_slice(&to_json(&track()).unwrap()).unwrap()
}

fn rejected(schema: &jsonschema::Validator, value: &Value) -> bool {
    !schema.is_valid(value)
}

#[test]
fn wrong_tracks_are_rejected() {
    let schema = validator(TRACK_SCHEMA);
    assert!(schema.is_valid(&track_json()));
    type Mutation = Box<dyn Fn(&mut Value)>;
    let mutations: Vec<(&str, Mutation)> = vec![
        (
            "missing field",
            Box::new(|v| drop(v.as_object_mut().unwrap().remove("status"))),
        ),
        ("lat 120", Box::new(|v| v["position"]["lat"] = json!(120.0))),
        (
            "lon -181",
            Box::new(|v| v["position"]["lon"] = json!(-181.0)),
        ),
        ("unknown status", Box::new(|v| v["status"] = json!("lost"))),
        (
            "unknown class",
            Box::new(|v| v["classification"]["class"] = json!("drone")),
        ),
        (
            "confidence 1.5",
            Box::new(|v| v["classification"]["confidence"] = json!(1.5)),
        ),
        ("course 360", Box::new(|v| v["course_deg"] = json!(360.0))),
        ("negative speed", Box::new(|v| v["speed_mps"] = json!(-1.0))),
        (
            "negative variance",
            Box::new(|v| v["position_covariance"]["var_e"] = json!(-1.0)),
        ),
        ("extra field", Box::new(|v| v["colour"] = json!("red"))),
        (
            "nested extra field",
            Box::new(|v| v["enu"]["up_m"] = json!(1.0)),
        ),
        ("schema 2", Box::new(|v| v["schema"] = json!(2))),
        ("negative seq", Box::new(|v| v["seq"] = json!(-1))),
        ("fractional id", Box::new(|v| v["track_id"] = json!(1.5))),
        (
            "site with slash",
            Box::new(|v| v["site"] = json!("tower/07")),
        ),
        ("empty site", Box::new(|v| v["site"] = json!(""))),
        (
            "local time",
            Box::new(|v| v["time"] = json!("2026-11-27T23:15:00+01:00")),
        ),
        (
            "epoch number time",
            Box::new(|v| v["time"] = json!(1_795_821_300)),
        ),
        (
            "month 13",
            Box::new(|v| v["first_seen"] = json!("2026-13-01T00:00:00Z")),
        ),
        (
            "NaN written as null",
            Box::new(|v| v["enu"]["east_m"] = Value::Null),
        ),
        (
            "repeated sensor",
            Box::new(|v| v["sensors"] = json!(["a", "a"])),
        ),
        (
            "unknown alarm source",
            Box::new(|v| v["radiation"]["evidence"][0]["source"] = json!("operator")),
        ),
        (
            "missing sigma",
            Box::new(|v| {
                drop(
                    v["radiation"]["evidence"][0]
                        .as_object_mut()
                        .unwrap()
                        .remove("sigma"),
                )
            }),
        ),
    ];
    for (name, mutate) in mutations {
        let mut value = track_json();
        mutate(&mut value);
        assert!(rejected(&schema, &value), "schema accepted {name}");
        // The Rust decoder agrees with the schema.
        let bytes = serde_json::to_vec(&value).unwrap();
        assert!(
            from_json::<TrackMessage>(&bytes).is_err(),
            "from_json accepted {name}"
        );
    }
}

#[test]
fn wrong_alerts_statuses_and_healths_are_rejected() {
    let alert_schema = validator(ALERT_SCHEMA);
    let alert: Value = serde_json::from_slice(&to_json(&alerts()[0]).unwrap()).unwrap();
    let mut two_kinds = alert.clone();
    two_kinds["kind"]["sensor_tamper"] = json!({"sensor": "x"});
    let mut no_kind = alert.clone();
    no_kind["kind"] = json!({});
    let mut unknown_kind = alert.clone();
    unknown_kind["kind"] = json!({"earthquake": {}});
    let mut bad_severity = alert.clone();
    bad_severity["severity"] = json!("urgent");
    let mut negative_background = alert.clone();
    negative_background["kind"]["radiation"]["background"] = json!(-3.0);
    for value in [
        two_kinds,
        no_kind,
        unknown_kind,
        bad_severity,
        negative_background,
    ] {
        assert!(rejected(&alert_schema, &value), "{value}");
        assert!(from_json::<AlertMessage>(&serde_json::to_vec(&value).unwrap()).is_err());
    }

    let status_schema = validator(STATUS_SCHEMA);
    let status: Value = serde_json::from_slice(&to_json(&statuses()[0]).unwrap()).unwrap();
    let mut bad_state = status.clone();
    bad_state["state"] = json!("sleeping");
    let mut bad_counter = status.clone();
    bad_counter["counters"]["x"] = json!(-1);
    for value in [bad_state, bad_counter] {
        assert!(rejected(&status_schema, &value), "{value}");
        assert!(from_json::<StatusMessage>(&serde_json::to_vec(&value).unwrap()).is_err());
    }

    let health_schema = validator(SENSOR_HEALTH_SCHEMA);
    let health: Value = serde_json::from_slice(&to_json(&sensor_healths()[1]).unwrap()).unwrap();
    let mut bad_fault = health.clone();
    bad_fault["faults"] = json!(["on_fire"]);
    let mut negative_battery = health.clone();
    negative_battery["battery_v"] = json!(-0.1);
    let mut below_absolute_zero = health.clone();
    below_absolute_zero["temperature_c"] = json!(-300.0);
    let mut bad_kind = health.clone();
    bad_kind["kind"] = json!("satellite");
    for value in [bad_fault, negative_battery, below_absolute_zero, bad_kind] {
        assert!(rejected(&health_schema, &value), "{value}");
        assert!(from_json::<SensorHealthMessage>(&serde_json::to_vec(&value).unwrap()).is_err());
    }
}
