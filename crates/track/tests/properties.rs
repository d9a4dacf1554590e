//! Property tests of the motion model and the filter.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use nalgebra::{Matrix4, Vector2, Vector4};
use picket_track::{ConstantVelocity, Measurement, StateEstimate};
use proptest::prelude::*;

fn close(a: &Matrix4<f64>, b: &Matrix4<f64>) -> bool {
    let scale = a.abs().max().max(b.abs().max()).max(1.0);
    (a - b).abs().max() <= 1e-9 * scale
}

/// A random symmetric positive definite covariance with realistic scales.
fn covariance() -> impl Strategy<Value = Matrix4<f64>> {
    (prop::array::uniform16(-3.0..3.0_f64), 0.1..100.0_f64).prop_map(|(entries, scale)| {
        let a = Matrix4::from_row_slice(&entries) * scale.sqrt();
        a * a.transpose() + Matrix4::identity() * 0.01
    })
}

fn is_symmetric_positive_definite(p: &Matrix4<f64>) -> bool {
    let symmetric = (p - p.transpose()).abs().max() <= 1e-9 * p.abs().max().max(1.0);
    symmetric && p.cholesky().is_some()
}

/// One step of a random predict/update sequence.
#[derive(Debug, Clone)]
enum Step {
    Predict(f64),
    Position(f64, f64, f64),
    RangeBearing(f64, f64, f64, f64),
    Bearing(f64, f64, f64),
    Presence(f64, f64, f64),
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        (0.0..5.0_f64).prop_map(Step::Predict),
        (-1e3..1e3_f64, -1e3..1e3_f64, 0.01..1e3_f64).prop_map(|(x, y, v)| Step::Position(x, y, v)),
        (-1e3..1e3_f64, -1e3..1e3_f64, 1.0..2e3_f64, -4.0..4.0_f64)
            .prop_map(|(x, y, r, b)| Step::RangeBearing(x, y, r, b)),
        (-1e3..1e3_f64, -1e3..1e3_f64, -4.0..4.0_f64).prop_map(|(x, y, b)| Step::Bearing(x, y, b)),
        (-1e3..1e3_f64, -1e3..1e3_f64, 1.0..100.0_f64)
            .prop_map(|(x, y, r)| Step::Presence(x, y, r)),
    ]
}

proptest! {
    #[test]
    fn two_half_steps_equal_one_full_step(
        dt in 0.0..10.0_f64,
        q in 0.0..10.0_f64,
        p in covariance(),
        mean in prop::array::uniform4(-1e3..1e3_f64),
    ) {
        let f = ConstantVelocity::transition(dt);
        let f2 = ConstantVelocity::transition(2.0 * dt);
        prop_assert!(close(&(f * f), &f2));

        let model = ConstantVelocity::new(q).unwrap();
        let start = StateEstimate { mean: Vector4::from(mean), covariance: p };
        let mut twice = start;
        twice.predict(&model, dt);
        twice.predict(&model, dt);
        let mut once = start;
        once.predict(&model, 2.0 * dt);
        prop_assert!((twice.mean - once.mean).abs().max() <= 1e-9 * once.mean.abs().max().max(1.0));
        prop_assert!(close(&twice.covariance, &once.covariance));
        // The same identity holds for the textbook dense form F P Fᵀ + Q.
        let dense = f * (f * p * f.transpose() + model.process_noise(dt)) * f.transpose()
            + model.process_noise(dt);
        prop_assert!(close(&dense, &once.covariance));
    }

    #[test]
    fn covariance_stays_symmetric_positive_definite(
        p in covariance(),
        q in 0.0..5.0_f64,
        steps in prop::collection::vec(step(), 1..40),
    ) {
        let model = ConstantVelocity::new(q).unwrap();
        let mut estimate = StateEstimate { mean: Vector4::new(10.0, -20.0, 1.0, 0.5), covariance: p };
        for step in steps {
            let measurement = match step {
                Step::Predict(dt) => {
                    estimate.predict(&model, dt);
                    continue;
                }
                Step::Position(x, y, v) => Measurement::position(x, y, v, v),
                Step::RangeBearing(x, y, range, bearing) => Measurement::RangeBearing {
                    sensor: Vector2::new(x, y),
                    range,
                    bearing,
                    range_variance: 25.0,
                    bearing_variance: 1e-4,
                },
                Step::Bearing(x, y, bearing) => Measurement::Bearing {
                    sensor: Vector2::new(x, y),
                    bearing,
                    variance: 1e-4,
                },
                Step::Presence(x, y, radius) => Measurement::Presence { node: Vector2::new(x, y), radius },
            };
            let before = estimate;
            // A rejected update (degenerate geometry) must leave the state
            // untouched; an accepted one must keep it a valid Gaussian.
            if estimate.update(&measurement).is_err() {
                prop_assert_eq!(estimate, before);
            }
            prop_assert!(estimate.mean.iter().all(|v| v.is_finite()));
            prop_assert!(
                is_symmetric_positive_definite(&estimate.covariance),
                "not SPD: {}", estimate.covariance
            );
        }
    }
}
