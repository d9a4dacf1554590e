//! Geodesy against an independent implementation: `geodesy/golden.csv` was
//! made by pymap3d (`geodesy/generate.py`) for points up to 20 km from four
//! site origins.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use picket_engine::geodesy::{Enu, Geodetic, LocalFrame};

const GOLDEN: &str = include_str!("../geodesy/golden.csv");

struct Case {
    origin: Geodetic,
    point: Geodetic,
    ecef: [f64; 3],
    enu: [f64; 3],
}

fn cases() -> Vec<Case> {
    GOLDEN
        .lines()
        .skip(1)
        .map(|line| {
            let v: Vec<f64> = line
                .split(',')
                .map(|field| field.parse().unwrap())
                .collect();
            let geodetic = |at: usize| Geodetic {
                lat_deg: v[at],
                lon_deg: v[at + 1],
                alt_m: v[at + 2],
            };
            Case {
                origin: geodetic(0),
                point: geodetic(3),
                ecef: [v[6], v[7], v[8]],
                enu: [v[9], v[10], v[11]],
            }
        })
        .collect()
}

#[test]
fn golden_file_covers_twenty_kilometres() {
    let cases = cases();
    assert!(cases.len() > 200);
    let farthest = cases
        .iter()
        .map(|case| case.enu[0].hypot(case.enu[1]))
        .fold(0.0, f64::max);
    assert!(farthest > 19_900.0, "{farthest}");
}

#[test]
fn geodetic_to_ecef_matches_to_a_millimetre() {
    for case in cases() {
        let ecef = case.point.to_ecef();
        let error = [
            ecef.x - case.ecef[0],
            ecef.y - case.ecef[1],
            ecef.z - case.ecef[2],
        ];
        let error = error.iter().map(|e| e * e).sum::<f64>().sqrt();
        assert!(error < 1e-3, "{:?}: {error} m", case.point);
    }
}

#[test]
fn geodetic_to_enu_matches_to_a_millimetre() {
    for case in cases() {
        let frame = LocalFrame::new(case.origin);
        let enu = frame.to_enu(case.point);
        let error = [
            enu.east - case.enu[0],
            enu.north - case.enu[1],
            enu.up - case.enu[2],
        ];
        let error = error.iter().map(|e| e * e).sum::<f64>().sqrt();
        assert!(
            error < 1e-3,
            "{:?} about {:?}: {error} m",
            case.point,
            case.origin
        );
    }
}

#[test]
fn enu_to_geodetic_inverts_to_a_tenth_of_a_millimetre() {
    for case in cases() {
        let frame = LocalFrame::new(case.origin);
        let back = frame.to_geodetic(Enu {
            east: case.enu[0],
            north: case.enu[1],
            up: case.enu[2],
        });
        // 1e-9 degrees is 0.1 mm of latitude.
        assert!(
            (back.lat_deg - case.point.lat_deg).abs() < 1e-9,
            "{back:?} vs {:?}",
            case.point
        );
        let lon_error = (back.lon_deg - case.point.lon_deg + 540.0).rem_euclid(360.0) - 180.0;
        assert!(lon_error.abs() < 1e-9, "{back:?} vs {:?}", case.point);
        assert!(
            (back.alt_m - case.point.alt_m).abs() < 1e-4,
            "{back:?} vs {:?}",
            case.point
        );
    }
}

#[test]
fn ground_points_round_trip_through_east_north_alone() {
    for case in cases() {
        if case.point.alt_m != case.origin.alt_m {
            continue;
        }
        let frame = LocalFrame::new(case.origin);
        let back = frame.ground_to_geodetic(case.enu[0], case.enu[1]);
        assert!(
            (back.lat_deg - case.point.lat_deg).abs() < 1e-9,
            "{back:?} vs {:?}",
            case.point
        );
        let lon_error = (back.lon_deg - case.point.lon_deg + 540.0).rem_euclid(360.0) - 180.0;
        assert!(lon_error.abs() < 1e-9, "{back:?} vs {:?}", case.point);
    }
}
