//! The configuration as picketd reads it: TOML in, validated, errors naming
//! the key.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use picket_engine::config::ConfigError;
use picket_engine::{Engine, EngineConfig};

const TOML: &str = r#"
[site]
id = "tower-07"
origin = { lat = 31.33, lon = -110.94, alt_m = 1200.0 }
reorder_lag_ms = 750

[[sensors]]
id = "gn-01"
kind = "ground_node"
position = { lat = 31.3301, lon = -110.94 }
detection_radius_m = 12.0
serial_port = "/dev/ttyUSB0"

[[sensors]]
id = "cam-01"
kind = "camera"
position = { lat = 31.3302, lon = -110.9401, alt_m = 1204.0 }
heading_deg = 270.0
field_of_view_deg = 60.0
camera = { horizontal_fov_deg = 60.0 }
mqtt_topic = "vendor/cam-01/detections"

[[sensors]]
id = "portal-1"
kind = "radiation_detector"
position = { lat = 31.3303, lon = -110.94 }
clock = "since_boot"
latency_ms = 5

[radiation]
sigma_threshold = 4.5

[[zones]]
name = "lane"
enu = [[-10.0, 50.0], [10.0, 50.0], [10.0, 70.0], [-10.0, 70.0]]

[tracker]
confirm_hits = 2
max_coast_time = 5.0

[health]
publish_interval_s = 60.0
"#;

fn parse(text: &str) -> EngineConfig {
    toml::from_str(text).unwrap()
}

fn key_of(error: ConfigError) -> String {
    match error {
        ConfigError::OutOfRange { key, .. }
        | ConfigError::InvalidId { key, .. }
        | ConfigError::Duplicate { key, .. }
        | ConfigError::Inconsistent { key, .. } => key,
        ConfigError::Tracker { field, .. } => format!("tracker.{field}"),
    }
}

#[test]
fn toml_parses_with_defaults_filled_in() {
    let config = parse(TOML);
    config.validate().unwrap();
    assert_eq!(config.site.reorder_lag_ms, 750);
    assert_eq!(config.site.max_clock_skew_ms, 2_000);
    assert_eq!(config.sensors[0].detection_radius_m, 12.0);
    assert_eq!(config.sensors[1].bearing_sigma_deg, 2.0);
    assert_eq!(config.radiation.sigma_threshold, 4.5);
    assert_eq!(config.radiation.warmup_samples, 10);
    assert_eq!(config.tracker.tracker_config().confirm_hits, 2);
    Engine::new(config).unwrap();
}

#[test]
fn unknown_keys_are_rejected() {
    let text = TOML.replace("reorder_lag_ms = 750", "reorder_lag = 750");
    let error = toml::from_str::<EngineConfig>(&text)
        .unwrap_err()
        .to_string();
    assert!(error.contains("reorder_lag"), "{error}");
}

#[test]
fn validation_errors_name_the_key() {
    let cases: [(&str, &str, &str); 9] = [
        ("id = \"tower-07\"", "id = \"tower 07\"", "site.id"),
        (
            "lat = 31.33, lon = -110.94, alt_m = 1200.0",
            "lat = 91.0, lon = -110.94",
            "site.origin.lat",
        ),
        (
            "detection_radius_m = 12.0",
            "detection_radius_m = -1.0",
            "sensors[0].detection_radius_m",
        ),
        ("id = \"cam-01\"", "id = \"gn-01\"", "sensors[1].id"),
        (
            "horizontal_fov_deg = 60.0",
            "horizontal_fov_deg = 0.0",
            "sensors[1].camera.horizontal_fov_deg",
        ),
        (
            "sigma_threshold = 4.5",
            "sigma_threshold = 0.0",
            "radiation.sigma_threshold",
        ),
        (
            "enu = [[-10.0, 50.0], [10.0, 50.0], [10.0, 70.0], [-10.0, 70.0]]",
            "enu = [[0.0, 0.0], [1.0, 1.0]]",
            "zones[0].enu",
        ),
        (
            "max_coast_time = 5.0",
            "max_coast_time = -5.0",
            "tracker.max_coast_time",
        ),
        (
            "publish_interval_s = 60.0",
            "publish_interval_s = -1.0",
            "health.publish_interval_s",
        ),
    ];
    for (from, to, key) in cases {
        let text = TOML.replacen(from, to, 1);
        assert_ne!(text, TOML, "{from}");
        let error = parse(&text).validate().unwrap_err();
        assert!(error.to_string().starts_with(key), "{error}");
        assert_eq!(key_of(error), key);
    }
}

#[test]
fn engine_new_validates() {
    let mut config = parse(TOML);
    config.sensors[0].serial_port = Some("/dev/ttyUSB1".into());
    config.sensors[2].serial_port = Some("/dev/ttyUSB1".into());
    let error = Engine::new(config).unwrap_err();
    assert_eq!(key_of(error), "sensors[2].serial_port");
}
