//! JSON and postcard round trips, the golden JSON form, and decode errors.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use picket_schema::*;
use proptest::prelude::*;

#[test]
fn golden_track_json() {
    let json = String::from_utf8(to_json(&track()).unwrap()).unwrap();
    let expected = concat!(
        r#"{"schema":1,"seq":1042,"site":"tower-07","track_id":17,"status":"confirmed","#,
        r#""time":"2026-11-27T23:15:00.123456Z","#,
        r#""position":{"lat":31.3345123,"lon":-110.9432109,"alt_m":1201.5},"#,
        r#""enu":{"east_m":412.25,"north_m":-87.5},"velocity":{"east_mps":1.2,"north_mps":0.5},"#,
        r#""course_deg":67.38,"speed_mps":1.3,"#,
        r#""position_covariance":{"var_e":9.0,"cov_en":0.0,"var_n":4.0},"#,
        r#""classification":{"class":"person","confidence":0.87},"#,
        r#""radiation":{"flagged":true,"evidence":[{"detector":"rad-portal-1","#,
        r#""time":"2026-11-27T23:14:58.000000Z","gamma_counts":1840,"neutron_counts":3,"#,
        r#""background":1200.0,"sigma":18.5,"source":"picket"}]},"#,
        r#""sensors":["cam-2","gn-north-07","rad-portal-1"],"#,
        r#""first_seen":"2026-11-27T23:12:41.500000Z","last_seen":"2026-11-27T23:15:00.123456Z"}"#,
    );
    assert_eq!(json, expected);
}

#[test]
fn golden_alert_and_status_json() {
    let alert = String::from_utf8(to_json(&alerts()[1]).unwrap()).unwrap();
    assert!(
        alert.contains(r#""kind":{"radiation":{"detector":"rad-portal-1","track_ids":[],"#),
        "{alert}"
    );
    assert!(
        alert.contains(r#""sigma":null,"source":"detector""#),
        "{alert}"
    );
    let will = String::from_utf8(to_json(&statuses()[1]).unwrap()).unwrap();
    assert_eq!(
        will,
        concat!(
            r#"{"schema":1,"seq":0,"site":"tower-07","time":"2026-11-27T20:00:01.000000Z","#,
            r#""state":"offline","version":"0.1.0","started_at":"2026-11-27T20:00:00.000000Z","#,
            r#""uptime_s":1,"counters":{}}"#
        )
    );
}

#[test]
fn every_example_round_trips_in_both_encodings() {
    for message in all_examples() {
        assert_eq!(
            from_json::<Message>(&to_json(&message).unwrap()).unwrap(),
            message
        );
        assert_eq!(
            from_postcard::<Message>(&to_postcard(&message).unwrap()).unwrap(),
            message
        );
    }
    let track = track();
    assert_eq!(
        from_json::<TrackMessage>(&to_json(&track).unwrap()).unwrap(),
        track
    );
    let bytes = to_postcard(&track).unwrap();
    assert_eq!(from_postcard::<TrackMessage>(&bytes).unwrap(), track);
    // A kind-specific encode is the same bytes as the wrapped one.
    assert_eq!(bytes, to_postcard(&Message::Track(track)).unwrap());
}

#[test]
fn postcard_layout_is_version_then_variant() {
    let track = to_postcard(&track()).unwrap();
    assert_eq!(&track[..2], &[SCHEMA_VERSION as u8, 0]);
    assert_eq!(to_postcard(&alerts()[0]).unwrap()[1], 1);
    assert_eq!(to_postcard(&statuses()[0]).unwrap()[1], 2);
    assert_eq!(to_postcard(&sensor_healths()[0]).unwrap()[1], 3);
    // Thin links are the point: postcard is far smaller than JSON.
    let json = to_json(&self::track()).unwrap();
    assert!(
        track.len() * 2 < json.len(),
        "{} vs {}",
        track.len(),
        json.len()
    );
}

#[test]
fn postcard_decode_errors() {
    let good = to_postcard(&track()).unwrap();
    assert!(matches!(
        from_postcard::<Message>(&[]),
        Err(CodecError::Empty)
    ));

    let mut newer = good.clone();
    newer[0] = 2;
    assert!(matches!(
        from_postcard::<Message>(&newer),
        Err(CodecError::UnsupportedVersion {
            found: 2,
            expected: 1
        })
    ));

    let mut trailing = good.clone();
    trailing.push(0);
    assert!(matches!(
        from_postcard::<Message>(&trailing),
        Err(CodecError::TrailingBytes { count: 1 })
    ));

    assert!(matches!(
        from_postcard::<AlertMessage>(&good),
        Err(CodecError::WrongKind {
            expected: "alert",
            found: "track"
        })
    ));

    for cut in 1..good.len() {
        assert!(
            from_postcard::<Message>(&good[..cut]).is_err(),
            "cut at {cut}"
        );
    }
}

#[test]
fn invalid_messages_are_neither_written_nor_read() {
    let mut track = track();
    track.position.lat = 120.0;
    assert!(matches!(
        to_json(&track),
        Err(CodecError::OutOfRange {
            field: "position.lat",
            ..
        })
    ));
    assert!(to_postcard(&track).is_err());

    let mut nan = self::track();
    nan.speed_mps = f64::NAN;
    assert!(to_json(&nan).is_err());

    let mut full_circle = self::track();
    full_circle.course_deg = 360.0;
    assert!(to_json(&full_circle).is_err());

    let mut repeated = self::track();
    repeated.sensors = vec![sensor("a"), sensor("a")];
    assert!(matches!(
        to_json(&repeated),
        Err(CodecError::Repeated { field: "sensors" })
    ));

    let mut future = self::track();
    future.schema = 2;
    assert!(matches!(
        to_json(&future),
        Err(CodecError::UnsupportedVersion { found: 2, .. })
    ));
    let json = String::from_utf8(to_json(&self::track()).unwrap())
        .unwrap()
        .replace(r#""schema":1"#, r#""schema":2"#);
    assert!(matches!(
        from_json::<TrackMessage>(json.as_bytes()),
        Err(CodecError::UnsupportedVersion { found: 2, .. })
    ));
}

#[test]
fn json_rejects_unknown_fields_and_bad_ids() {
    let json = String::from_utf8(to_json(&track()).unwrap()).unwrap();
    let extra = json.replacen('{', r#"{"extra":1,"#, 1);
    assert!(from_json::<TrackMessage>(extra.as_bytes()).is_err());
    let bad_site = json.replace("tower-07", "tower/07");
    assert!(from_json::<TrackMessage>(bad_site.as_bytes()).is_err());
    assert!(from_json::<TrackMessage>(track_clear_payload()).is_err());
}

#[test]
fn offline_will_is_built_at_connect_time() {
    let started = time("2026-11-27T20:00:00Z");
    let will = StatusMessage::offline(site(), 7, "9.9.9", time("2026-11-27T21:00:00Z"), started);
    assert_eq!(will.state, DaemonState::Offline);
    assert_eq!(will.uptime_s, 3600);
    assert_eq!(will.seq, 7);
    assert!(will.counters.is_empty());
    // A clock that stepped back before the start gives 0, not a wrap.
    let stepped = StatusMessage::offline(site(), 7, "9.9.9", time("2026-11-27T19:00:00Z"), started);
    assert_eq!(stepped.uptime_s, 0);
}

proptest! {
    #[test]
    fn json_round_trips(message in any_message()) {
        let json = to_json(&message).unwrap();
        prop_assert_eq!(from_json::<Message>(&json).unwrap(), message);
    }

    #[test]
    fn postcard_round_trips(message in any_message()) {
        let bytes = to_postcard(&message).unwrap();
        prop_assert_eq!(from_postcard::<Message>(&bytes).unwrap(), message);
    }

    #[test]
    fn postcard_decoding_garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        let _ = from_postcard::<Message>(&bytes);
    }

    #[test]
    fn topics_round_trip(site in any_id(), track_id in any::<u64>(), sensor in any_sensor()) {
        let topics = Topics::for_site(&site).unwrap();
        let parsed = Topic::parse(&topics.tracks(track_id)).unwrap();
        prop_assert_eq!(parsed.site.as_str(), site.as_str());
        prop_assert_eq!(parsed.kind, TopicKind::Track { track_id });
        let parsed = Topic::parse(&topics.sensor_health(&sensor)).unwrap();
        prop_assert_eq!(parsed.kind, TopicKind::SensorHealth { sensor });
    }
}
