//! picket-schema: what `picketd` publishes, where, and in which encodings.
//!
//! Everything a subscriber needs to read picket's output and nothing about
//! how it is produced: the four messages, the MQTT topic layout, JSON and
//! postcard encodings, the JSON Schema files, and Cursor-on-Target.
//!
//! # Topics
//!
//! Built by [`Topics`] from a checked [`SiteId`], parsed back by
//! [`Topic::parse`]. Every topic is QoS 1: subscribers drop the duplicates it
//! may deliver by `seq`.
//!
//! | topic | payload | retained | notes |
//! |---|---|---|---|
//! | `picket/<site>/tracks/<track-id>` | [`TrackMessage`] | yes | cleared with an empty retained payload ([`track_clear_payload`]) when the track ends, so `mosquitto_sub -t 'picket/<site>/tracks/#'` shows the live picture at once |
//! | `picket/<site>/alerts` | [`AlertMessage`] | no | events; a retained alert would be re-acted on |
//! | `picket/<site>/status` | [`StatusMessage`] | yes | birth `online` on every connect, last will [`StatusMessage::offline`] |
//! | `picket/<site>/sensors/<sensor-id>/health` | [`SensorHealthMessage`] | yes | one topic per sensor |
//!
//! Site and sensor ids are 1 to [`MAX_ID_LEN`] bytes of `A-Z a-z 0-9 - _ .`,
//! which keeps them free of MQTT wildcards and separators.
//!
//! # Common fields
//!
//! Every message starts with:
//!
//! | field | type | meaning |
//! |---|---|---|
//! | `schema` | u32 | [`SCHEMA_VERSION`]; decoders refuse others |
//! | `seq` | u64 | per-publisher sequence number assigned by the daemon: gaps mean lost messages, repeats are duplicates (QoS 1, broker restarts) |
//! | `site` | string | the publishing site's id |
//!
//! Times are [`Timestamp`]s: RFC 3339 UTC text with six fractional digits in
//! JSON (`"2026-11-27T23:15:00.123456Z"`), `i64` microseconds since the Unix
//! epoch in postcard. Units are in field names (`_m`, `_mps`, `_deg`, `_s`,
//! `_v`, `_c`); `lat`/`lon` are WGS84 degrees.
//!
//! # Track (`tracks/<id>`)
//!
//! | field | type | meaning |
//! |---|---|---|
//! | `track_id` | u64 | site-unique, never reused while the daemon runs |
//! | `status` | `tentative` \| `confirmed` \| `coasting` \| `deleted` | lifecycle |
//! | `time` | time | time of the estimate |
//! | `position` | `{lat, lon, alt_m}` | WGS84; `alt_m` null when unknown |
//! | `enu` | `{east_m, north_m}` | site frame, metres from the site origin |
//! | `velocity` | `{east_mps, north_mps}` | site frame |
//! | `course_deg` | number 0..360 | clockwise from true north |
//! | `speed_mps` | number >= 0 | ground speed |
//! | `position_covariance` | `{var_e, cov_en, var_n}` | m², horizontal 2x2 block (see [`PositionCovariance`]) |
//! | `classification` | `{class, confidence}` | `person` \| `vehicle` \| `animal` \| `unknown`, 0..1 |
//! | `radiation` | `{flagged, evidence[]}` | evidence: `{detector, time, gamma_counts, neutron_counts, background, sigma, source}` with `source` `detector` \| `picket` |
//! | `sensors` | string array | contributing sensor ids, distinct |
//! | `first_seen`, `last_seen` | time | first and latest detection |
//!
//! # Alert (`alerts`)
//!
//! | field | type | meaning |
//! |---|---|---|
//! | `alert_id` | u64 | site-unique |
//! | `time` | time | when the condition was observed |
//! | `severity` | `info` \| `warning` \| `critical` | |
//! | `kind` | one of the objects below | externally tagged: `{"radiation": {...}}` |
//!
//! | kind | fields |
//! |---|---|
//! | `radiation` | `detector`, `track_ids` (empty: no track), `gamma_counts`, `neutron_counts`, `background`, `sigma` (null if the detector gave none), `source` |
//! | `intrusion` | `zone`, `track_id` |
//! | `sensor_tamper` | `sensor` |
//! | `sensor_fault` | `sensor`, `faults` |
//!
//! # Status (`status`)
//!
//! | field | type | meaning |
//! |---|---|---|
//! | `time` | time | when made; for the last will, when registered |
//! | `state` | `online` \| `offline` | |
//! | `version` | string | daemon version |
//! | `started_at` | time | process start |
//! | `uptime_s` | u64 | seconds since `started_at` |
//! | `counters` | {string: u64} | named counters, sorted by name; new ones need no schema change |
//!
//! # Sensor health (`sensors/<id>/health`)
//!
//! | field | type | meaning |
//! |---|---|---|
//! | `time` | time | when assessed |
//! | `sensor` | string | sensor id |
//! | `kind` | `ground_node` \| `radiation_detector` \| `camera` \| `radar` \| `geolocated_detector` | |
//! | `state` | `ok` \| `degraded` \| `silent` \| `fault` | |
//! | `last_heard` | time or null | null if never heard |
//! | `battery_v` | number or null | volts (not percent: see [`SensorHealthMessage::battery_v`]) |
//! | `temperature_c` | number or null | °C |
//! | `tamper` | bool | enclosure open |
//! | `faults` | [`SensorFault`] array | snake_case names, distinct |
//! | `counters` | `{received, dropped: {reason: u64}}` | |
//!
//! # Encodings
//!
//! [`to_json`] / [`from_json`] and [`to_postcard`] / [`from_postcard`] take
//! any of the four messages or [`Message`]; the postcard layout is in
//! [`encoding`]. Both directions run [`Published::validate`], so what this
//! crate writes or accepts passes the JSON Schemas ([`TRACK_SCHEMA`] ...).
//! JSON input with unknown fields is rejected: adding a field is a schema
//! change, and bumps [`SCHEMA_VERSION`].
//!
//! ```
//! use picket_schema::*;
//!
//! let site = SiteId::new("tower-07")?;
//! let topics = Topics::new(&site);
//! let started = "2026-11-27T20:00:00Z".parse::<Timestamp>()?;
//! let will = StatusMessage::offline(site, 0, "0.1.0", started, started);
//! let payload = to_json(&will)?;
//! assert_eq!(topics.status(), "picket/tower-07/status");
//!
//! // What a subscriber does with a message read off the broker.
//! let topic = Topic::parse("picket/tower-07/status")?;
//! assert!(topic.kind.retained());
//! assert_eq!(from_json::<StatusMessage>(&payload)?, will);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod cot;
pub mod encoding;
mod id;
mod message;
mod time;
pub mod topic;

pub use encoding::{
    CodecError, Message, Published, from_json, from_postcard, to_json, to_postcard,
};
pub use id::{IdError, MAX_ID_LEN, SensorId, SiteId};
pub use message::{
    AlarmSource, AlertKind, AlertMessage, Classification, DaemonState, EnuPosition, EnuVelocity,
    GeoPosition, HealthState, PositionCovariance, Radiation, RadiationEvidence, SensorCounters,
    SensorFault, SensorHealthMessage, SensorKind, Severity, StatusMessage, TargetClass,
    TrackMessage, TrackStatus,
};
pub use time::{TimeError, Timestamp};
pub use topic::{Topic, TopicError, TopicKind, Topics, track_clear_payload};

/// The version of every message layout in this crate, carried in each
/// message's `schema` field and as the first byte of postcard payloads.
///
/// Bump it for any change a version-1 decoder could misread: a field added,
/// removed, renamed or reordered, a variant added, a unit changed.
pub const SCHEMA_VERSION: u32 = 1;

/// JSON Schema (draft 2020-12) of [`TrackMessage`], for validating payloads
/// read off the broker.
pub const TRACK_SCHEMA: &str = include_str!("../json-schema/track.schema.json");
/// JSON Schema (draft 2020-12) of [`AlertMessage`].
pub const ALERT_SCHEMA: &str = include_str!("../json-schema/alert.schema.json");
/// JSON Schema (draft 2020-12) of [`StatusMessage`].
pub const STATUS_SCHEMA: &str = include_str!("../json-schema/status.schema.json");
/// JSON Schema (draft 2020-12) of [`SensorHealthMessage`].
pub const SENSOR_HEALTH_SCHEMA: &str = include_str!("../json-schema/sensor-health.schema.json");
