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

#[test]
fn ecef_to_geodetic_round_trips_everywhere_including_the_poles() {
    let mut worst = (0.0_f64, 0.0_f64);
    for lat_step in -180..=180 {
        let lat_deg = f64::from(lat_step) * 0.5;
        for lon_deg in [-179.5, -110.94, 0.0, 45.0, 180.0] {
            for alt_m in [-430.0, 0.0, 1200.0, 8_848.0, 50_000.0] {
                let point = Geodetic {
                    lat_deg,
                    lon_deg,
                    alt_m,
                };
                let back = point.to_ecef().to_geodetic();
                worst.0 = worst.0.max((back.lat_deg - lat_deg).abs());
                worst.1 = worst.1.max((back.alt_m - alt_m).abs());
                if lat_deg.abs() < 90.0 {
                    let lon_error = (back.lon_deg - lon_deg + 540.0).rem_euclid(360.0) - 180.0;
                    assert!(lon_error.abs() < 1e-12, "{point:?} → {back:?}");
                }
            }
        }
    }
    // 1e-12° is 0.1 µm; the heights are to a micrometre.
    assert!(worst.0 < 1e-12 && worst.1 < 1e-6, "{worst:?}");
}
