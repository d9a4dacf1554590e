//! Example messages of every kind and variant, and proptest strategies that
//! generate valid ones, shared by the integration tests.
#![allow(dead_code)]

use std::collections::BTreeMap;

use picket_schema::*;
use proptest::collection::{btree_map, btree_set, vec};
use proptest::option;
use proptest::prelude::*;

pub fn time(text: &str) -> Timestamp {
    text.parse().unwrap()
}

pub fn site() -> SiteId {
    SiteId::new("tower-07").unwrap()
}

pub fn sensor(id: &str) -> SensorId {
    SensorId::new(id).unwrap()
}

/// A confirmed person carrying a source past a portal: the golden track.
pub fn track() -> TrackMessage {
    TrackMessage {
        schema: SCHEMA_VERSION,
        seq: 1042,
        site: site(),
        track_id: 17,
        status: TrackStatus::Confirmed,
        time: time("2026-11-27T23:15:00.123456Z"),
        position: GeoPosition {
            lat: 31.334_512_3,
            lon: -110.943_210_9,
            alt_m: Some(1_201.5),
        },
        enu: EnuPosition {
            east_m: 412.25,
            north_m: -87.5,
        },
        velocity: EnuVelocity {
            east_mps: 1.2,
            north_mps: 0.5,
        },
        course_deg: 67.38,
        speed_mps: 1.3,
        position_covariance: PositionCovariance {
            var_e: 9.0,
            cov_en: 0.0,
            var_n: 4.0,
        },
        classification: Classification {
            class: TargetClass::Person,
            confidence: 0.87,
        },
        radiation: Radiation {
            flagged: true,
            evidence: vec![RadiationEvidence {
                detector: sensor("rad-portal-1"),
                time: time("2026-11-27T23:14:58Z"),
                gamma_counts: 1840,
                neutron_counts: 3,
                background: 1200.0,
                sigma: Some(18.5),
                source: AlarmSource::Picket,
            }],
        },
        sensors: vec![
            sensor("cam-2"),
            sensor("gn-north-07"),
            sensor("rad-portal-1"),
        ],
        first_seen: time("2026-11-27T23:12:41.5Z"),
        last_seen: time("2026-11-27T23:15:00.123456Z"),
    }
}

/// A tentative unknown track without altitude or radiation.
pub fn plain_track() -> TrackMessage {
    TrackMessage {
        status: TrackStatus::Tentative,
        position: GeoPosition {
            lat: -33.0,
            lon: 151.0,
            alt_m: None,
        },
        classification: Classification {
            class: TargetClass::Unknown,
            confidence: 0.0,
        },
        radiation: Radiation {
            flagged: false,
            evidence: vec![],
        },
        sensors: vec![],
        ..track()
    }
}

fn alert(kind: AlertKind, severity: Severity) -> AlertMessage {
    AlertMessage {
        schema: SCHEMA_VERSION,
        seq: 1043,
        site: site(),
        alert_id: 5,
        time: time("2026-11-27T23:14:58.250Z"),
        severity,
        kind,
    }
}

/// One alert of every kind, the radiation one both with and without a track.
pub fn alerts() -> Vec<AlertMessage> {
    vec![
        alert(
            AlertKind::Radiation {
                detector: sensor("rad-portal-1"),
                track_ids: vec![17],
                gamma_counts: 1840,
                neutron_counts: 3,
                background: 1200.0,
                sigma: Some(18.5),
                source: AlarmSource::Picket,
            },
            Severity::Critical,
        ),
        alert(
            AlertKind::Radiation {
                detector: sensor("rad-portal-1"),
                track_ids: vec![],
                gamma_counts: 2000,
                neutron_counts: 0,
                background: 1200.0,
                sigma: None,
                source: AlarmSource::Detector,
            },
            Severity::Critical,
        ),
        alert(
            AlertKind::Intrusion {
                zone: "exclusion-west".into(),
                track_id: 17,
            },
            Severity::Warning,
        ),
        alert(
            AlertKind::SensorTamper {
                sensor: sensor("gn-north-07"),
            },
            Severity::Warning,
        ),
        alert(
            AlertKind::SensorFault {
                sensor: sensor("cam-2"),
                faults: vec![SensorFault::LowBattery, SensorFault::ClockUnsynced],
            },
            Severity::Info,
        ),
    ]
}

/// An online birth with counters, and the offline will.
pub fn statuses() -> Vec<StatusMessage> {
    let started_at = time("2026-11-27T20:00:00Z");
    let online = StatusMessage {
        schema: SCHEMA_VERSION,
        seq: 1,
        site: site(),
        time: time("2026-11-27T23:15:00Z"),
        state: DaemonState::Online,
        version: "0.1.0".into(),
        started_at,
        uptime_s: 11_700,
        counters: BTreeMap::from([
            ("detections_in".to_owned(), 123_456),
            ("dropped_too_late".to_owned(), 2),
        ]),
    };
    let will = StatusMessage::offline(site(), 0, "0.1.0", time("2026-11-27T20:00:01Z"), started_at);
    vec![online, will]
}

/// A healthy mains sensor and a degraded battery sensor.
pub fn sensor_healths() -> Vec<SensorHealthMessage> {
    let ok = SensorHealthMessage {
        schema: SCHEMA_VERSION,
        seq: 1044,
        site: site(),
        time: time("2026-11-27T23:15:00Z"),
        sensor: sensor("rad-portal-1"),
        kind: SensorKind::RadiationDetector,
        state: HealthState::Ok,
        last_heard: Some(time("2026-11-27T23:14:59.9Z")),
        battery_v: None,
        temperature_c: Some(21.5),
        tamper: false,
        faults: vec![],
        counters: SensorCounters {
            received: 9_000,
            dropped: BTreeMap::new(),
        },
    };
    let degraded = SensorHealthMessage {
        sensor: sensor("gn-north-07"),
        kind: SensorKind::GroundNode,
        state: HealthState::Degraded,
        battery_v: Some(3.41),
        temperature_c: Some(-12.0),
        tamper: true,
        faults: vec![SensorFault::LowBattery],
        counters: SensorCounters {
            received: 512,
            dropped: BTreeMap::from([("duplicate".to_owned(), 4)]),
        },
        ..ok.clone()
    };
    let silent = SensorHealthMessage {
        sensor: sensor("cam-2"),
        kind: SensorKind::Camera,
        state: HealthState::Silent,
        last_heard: None,
        ..ok.clone()
    };
    vec![ok, degraded, silent]
}

/// Every example, wrapped.
pub fn all_examples() -> Vec<Message> {
    let mut all = vec![Message::Track(track()), Message::Track(plain_track())];
    all.extend(alerts().into_iter().map(Message::Alert));
    all.extend(statuses().into_iter().map(Message::Status));
    all.extend(sensor_healths().into_iter().map(Message::SensorHealth));
    all
}

// ---- proptest strategies: every value inside the documented ranges ----

pub fn any_id() -> impl Strategy<Value = String> {
    "[A-Za-z0-9._-]{1,64}"
}

pub fn any_sensor() -> impl Strategy<Value = SensorId> {
    any_id().prop_map(|id| SensorId::new(id).unwrap())
}

pub fn any_time() -> impl Strategy<Value = Timestamp> {
    (Timestamp::MIN.as_unix_micros()..=Timestamp::MAX.as_unix_micros())
        .prop_map(|micros| Timestamp::from_unix_micros(micros).unwrap())
}

fn finite() -> impl Strategy<Value = f64> {
    prop_oneof![
        -1e7..1e7,
        any::<f64>().prop_filter("finite", |x| x.is_finite())
    ]
}

fn non_negative() -> impl Strategy<Value = f64> {
    prop_oneof![0.0..1e7, Just(0.0), Just(f64::MAX)]
}

fn class() -> impl Strategy<Value = TargetClass> {
    prop_oneof![
        Just(TargetClass::Person),
        Just(TargetClass::Vehicle),
        Just(TargetClass::Animal),
        Just(TargetClass::Unknown),
    ]
}

fn alarm_source() -> impl Strategy<Value = AlarmSource> {
    prop_oneof![Just(AlarmSource::Detector), Just(AlarmSource::Picket)]
}

fn fault() -> impl Strategy<Value = SensorFault> {
    prop_oneof![
        Just(SensorFault::ClockUnsynced),
        Just(SensorFault::SensorFailure),
        Just(SensorFault::LowBattery),
        Just(SensorFault::OverTemperature),
        Just(SensorFault::Storage),
        Just(SensorFault::Calibration),
        Just(SensorFault::MessagesDropped),
        Just(SensorFault::Unrecognised),
    ]
}

fn counters() -> impl Strategy<Value = BTreeMap<String, u64>> {
    btree_map("[a-z_]{1,20}", any::<u64>(), 0..5)
}

fn evidence() -> impl Strategy<Value = RadiationEvidence> {
    (
        any_sensor(),
        any_time(),
        any::<u64>(),
        any::<u64>(),
        non_negative(),
        option::of(finite()),
        alarm_source(),
    )
        .prop_map(
            |(detector, time, gamma_counts, neutron_counts, background, sigma, source)| {
                RadiationEvidence {
                    detector,
                    time,
                    gamma_counts,
                    neutron_counts,
                    background,
                    sigma,
                    source,
                }
            },
        )
}

pub fn any_track() -> impl Strategy<Value = TrackMessage> {
    let kinematics = (
        -90.0..=90.0f64,
        -180.0..=180.0f64,
        option::of(finite()),
        finite(),
        finite(),
        finite(),
        finite(),
        0.0..360.0f64,
        non_negative(),
        (non_negative(), finite(), non_negative()),
    );
    let identity = (
        any::<u64>(),
        any::<u64>(),
        prop_oneof![
            Just(TrackStatus::Tentative),
            Just(TrackStatus::Confirmed),
            Just(TrackStatus::Coasting),
            Just(TrackStatus::Deleted),
        ],
        (any_time(), any_time(), any_time()),
    );
    let attributes = (
        class(),
        0.0..=1.0f64,
        any::<bool>(),
        vec(evidence(), 0..3),
        btree_set(any_sensor(), 0..4),
    );
    (kinematics, identity, attributes).prop_map(
        |(
            (lat, lon, alt_m, east_m, north_m, east_mps, north_mps, course_deg, speed_mps, cov),
            (seq, track_id, status, (time, first_seen, last_seen)),
            (class, confidence, flagged, evidence, sensors),
        )| TrackMessage {
            schema: SCHEMA_VERSION,
            seq,
            site: site(),
            track_id,
            status,
            time,
            position: GeoPosition { lat, lon, alt_m },
            enu: EnuPosition { east_m, north_m },
            velocity: EnuVelocity {
                east_mps,
                north_mps,
            },
            course_deg,
            speed_mps,
            position_covariance: PositionCovariance {
                var_e: cov.0,
                cov_en: cov.1,
                var_n: cov.2,
            },
            classification: Classification { class, confidence },
            radiation: Radiation { flagged, evidence },
            sensors: sensors.into_iter().collect(),
            first_seen,
            last_seen,
        },
    )
}

fn alert_kind() -> impl Strategy<Value = AlertKind> {
    prop_oneof![
        (
            any_sensor(),
            vec(any::<u64>(), 0..4),
            any::<u64>(),
            any::<u64>(),
            non_negative(),
            option::of(finite()),
            alarm_source(),
        )
            .prop_map(
                |(detector, track_ids, gamma_counts, neutron_counts, background, sigma, source)| {
                    AlertKind::Radiation {
                        detector,
                        track_ids,
                        gamma_counts,
                        neutron_counts,
                        background,
                        sigma,
                        source,
                    }
                }
            ),
        (".{0,30}", any::<u64>())
            .prop_map(|(zone, track_id)| AlertKind::Intrusion { zone, track_id }),
        any_sensor().prop_map(|sensor| AlertKind::SensorTamper { sensor }),
        (any_sensor(), btree_set(fault(), 0..4)).prop_map(|(sensor, faults)| {
            AlertKind::SensorFault {
                sensor,
                faults: faults.into_iter().collect(),
            }
        }),
    ]
}

pub fn any_alert() -> impl Strategy<Value = AlertMessage> {
    (
        any::<u64>(),
        any::<u64>(),
        any_time(),
        prop_oneof![
            Just(Severity::Info),
            Just(Severity::Warning),
            Just(Severity::Critical)
        ],
        alert_kind(),
    )
        .prop_map(|(seq, alert_id, time, severity, kind)| AlertMessage {
            schema: SCHEMA_VERSION,
            seq,
            site: site(),
            alert_id,
            time,
            severity,
            kind,
        })
}

pub fn any_status() -> impl Strategy<Value = StatusMessage> {
    (
        any::<u64>(),
        any_time(),
        any::<bool>(),
        ".{0,20}",
        any_time(),
        any::<u64>(),
        counters(),
    )
        .prop_map(
            |(seq, time, online, version, started_at, uptime_s, counters)| StatusMessage {
                schema: SCHEMA_VERSION,
                seq,
                site: site(),
                time,
                state: if online {
                    DaemonState::Online
                } else {
                    DaemonState::Offline
                },
                version,
                started_at,
                uptime_s,
                counters,
            },
        )
}

pub fn any_sensor_health() -> impl Strategy<Value = SensorHealthMessage> {
    (
        (any::<u64>(), any_time(), any_sensor()),
        prop_oneof![
            Just(SensorKind::GroundNode),
            Just(SensorKind::RadiationDetector),
            Just(SensorKind::Camera),
            Just(SensorKind::Radar),
            Just(SensorKind::GeolocatedDetector),
        ],
        prop_oneof![
            Just(HealthState::Ok),
            Just(HealthState::Degraded),
            Just(HealthState::Silent),
            Just(HealthState::Fault),
        ],
        option::of(any_time()),
        option::of(0.0..60.0f64),
        option::of(-273.15..200.0f64),
        any::<bool>(),
        btree_set(fault(), 0..4),
        (any::<u64>(), counters()),
    )
        .prop_map(
            |(
                (seq, time, sensor),
                kind,
                state,
                last_heard,
                battery_v,
                temperature_c,
                tamper,
                faults,
                (received, dropped),
            )| SensorHealthMessage {
                schema: SCHEMA_VERSION,
                seq,
                site: site(),
                time,
                sensor,
                kind,
                state,
                last_heard,
                battery_v,
                temperature_c,
                tamper,
                faults: faults.into_iter().collect(),
                counters: SensorCounters { received, dropped },
            },
        )
}

pub fn any_message() -> impl Strategy<Value = Message> {
    prop_oneof![
        any_track().prop_map(Message::Track),
        any_alert().prop_map(Message::Alert),
        any_status().prop_map(Message::Status),
        any_sensor_health().prop_map(Message::SensorHealth),
    ]
}
