//! Cursor-on-Target output for a golden track.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use picket_schema::cot::track_event;
use picket_schema::*;

#[test]
fn golden_track_event() {
    let xml = track_event(&track(), "picket", 30);
    let expected = concat!(
        r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>"#,
        r#"<event version="2.0" uid="picket.tower-07.track.17" type="a-u-G-U-C-I" how="m-f" "#,
        r#"time="2026-11-27T23:15:00.123456Z" start="2026-11-27T23:15:00.123456Z" "#,
        r#"stale="2026-11-27T23:15:30.123456Z">"#,
        r#"<point lat="31.3345123" lon="-110.9432109" hae="1201.5" ce="3.0" le="9999999.0"/>"#,
        r#"<detail><contact callsign="tower-07 T17"/><track course="67.4" speed="1.30"/>"#,
        r#"<remarks>RADIATION ALARM (rad-portal-1); picket track 17 confirmed; class person (87%); "#,
        r#"sensors: cam-2, gn-north-07, rad-portal-1</remarks></detail></event>"#,
    );
    assert_eq!(xml, expected);
}

#[test]
fn unknown_altitude_and_plain_track() {
    let xml = track_event(&plain_track(), "picket", 30);
    assert!(xml.contains(r#"type="a-u-G" "#), "{xml}");
    assert!(xml.contains(r#"hae="9999999.0""#), "{xml}");
    assert!(
        xml.contains("<remarks>radiation: none; picket track 17 tentative"),
        "{xml}"
    );
}

#[test]
fn class_maps_to_type() {
    for (class, cot_type) in [
        (TargetClass::Person, "a-u-G-U-C-I"),
        (TargetClass::Vehicle, "a-u-G-E-V"),
        (TargetClass::Animal, "a-u-G"),
        (TargetClass::Unknown, "a-u-G"),
    ] {
        let mut track = track();
        track.classification.class = class;
        let xml = track_event(&track, "picket", 30);
        assert!(xml.contains(&format!(r#" type="{cot_type}" "#)), "{xml}");
    }
}

#[test]
fn coasting_track_is_a_prediction() {
    let mut track = track();
    track.status = TrackStatus::Coasting;
    assert!(track_event(&track, "picket", 30).contains(r#" how="m-p" "#));
}

#[test]
fn deleted_track_is_stale_at_once() {
    let mut track = track();
    track.status = TrackStatus::Deleted;
    let xml = track_event(&track, "picket", 30);
    assert!(
        xml.contains(r#"stale="2026-11-27T23:15:00.123456Z""#),
        "{xml}"
    );
}

#[test]
fn circular_error_covers_the_worst_axis() {
    let mut track = track();
    // Correlated: eigenvalues of [[5, 4], [4, 5]] are 9 and 1.
    track.position_covariance = PositionCovariance {
        var_e: 5.0,
        cov_en: 4.0,
        var_n: 5.0,
    };
    assert!((track.position_covariance.semi_major_sigma_m() - 3.0).abs() < 1e-12);
    assert!(track_event(&track, "picket", 30).contains(r#"ce="3.0""#));
}

#[test]
fn caller_text_is_escaped() {
    let xml = track_event(&track(), r#"a"b<c>&'"#, 30);
    assert!(
        xml.contains(r#"uid="a&quot;b&lt;c&gt;&amp;&apos;.tower-07.track.17""#),
        "{xml}"
    );
    assert_eq!(xml.matches('<').count(), xml.matches('>').count());
}
