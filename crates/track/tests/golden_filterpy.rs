//! The filter against golden vectors from filterpy, an independent
//! implementation (`tests/golden/gen_filterpy.py` generates
//! `tests/golden/filterpy.csv`).

use nalgebra::{Matrix4, Vector2, Vector4};
use picket_track::{ConstantVelocity, Measurement, StateEstimate};

const GOLDEN: &str = include_str!("golden/filterpy.csv");

fn close(actual: f64, expected: f64) -> bool {
    (actual - expected).abs() <= 1e-9 * expected.abs().max(1.0)
}

#[test]
fn predict_update_matches_filterpy() {
    let mut cases = 0;
    for (line, row) in GOLDEN.lines().enumerate() {
        let mut fields = row.split(',');
        let kind = fields.next().unwrap();
        let values: Vec<f64> = fields.map(|f| f.parse().unwrap()).collect();
        assert_eq!(values.len(), 2 + 20 + 6 + 20, "line {}", line + 1);
        let (dt, q) = (values[0], values[1]);
        let prior = &values[2..22];
        let p = &values[22..28];
        let posterior = &values[28..48];

        let mut estimate = StateEstimate {
            mean: Vector4::from_row_slice(&prior[..4]),
            covariance: Matrix4::from_row_slice(&prior[4..]),
        };
        let measurement = match kind {
            "position" => Measurement::position(p[0], p[1], p[2], p[3]),
            "range_bearing" => Measurement::RangeBearing {
                sensor: Vector2::new(p[0], p[1]),
                range: p[2],
                bearing: p[3],
                range_variance: p[4],
                bearing_variance: p[5],
            },
            "bearing" => Measurement::Bearing {
                sensor: Vector2::new(p[0], p[1]),
                bearing: p[2],
                variance: p[3],
            },
            other => panic!("unknown kind {other}"),
        };
        estimate.predict(&ConstantVelocity::new(q).unwrap(), dt);
        estimate.update(&measurement).unwrap();

        let expected_mean = Vector4::from_row_slice(&posterior[..4]);
        let expected_covariance = Matrix4::from_row_slice(&posterior[4..]);
        for (a, e) in estimate.mean.iter().zip(expected_mean.iter()) {
            assert!(close(*a, *e), "line {}: mean {a} vs {e}", line + 1);
        }
        for (a, e) in estimate.covariance.iter().zip(expected_covariance.iter()) {
            assert!(close(*a, *e), "line {}: covariance {a} vs {e}", line + 1);
        }
        cases += 1;
    }
    assert_eq!(cases, 30);
}
