//! Motion model: nearly-constant velocity in the East-North plane.
//!
//! The state is `[x, y, vx, vy]` (metres, metres per second). Acceleration is
//! modelled as continuous white noise of power spectral density `q`
//! (m²/s³) on each axis independently, which gives the discrete transition
//! `F(dt)` and process noise `Q(dt)` below. Integrating white-noise
//! acceleration makes the model exactly consistent over any split of an
//! interval: predicting by `dt` twice equals predicting once by `2·dt`, which
//! the property tests check; this is why it is preferred here over the
//! discretised (piecewise-constant) acceleration variant.

use nalgebra::{Matrix4, Vector4};

use crate::ModelError;

/// Mean of a track state: `[x, y, vx, vy]` in metres and metres per second.
pub type StateVector = Vector4<f64>;

/// Covariance of a track state, in the order of [`StateVector`].
pub type StateCovariance = Matrix4<f64>;

/// Nearly-constant-velocity motion with white-noise acceleration.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ConstantVelocity {
    acceleration_psd: f64,
}

impl ConstantVelocity {
    /// A model whose acceleration noise has power spectral density
    /// `acceleration_psd` (m²/s³, per axis). Zero is allowed (a perfectly
    /// straight, constant-speed mover); negative or non-finite is rejected.
    pub fn new(acceleration_psd: f64) -> Result<Self, ModelError> {
        if acceleration_psd.is_finite() && acceleration_psd >= 0.0 {
            Ok(Self { acceleration_psd })
        } else {
            Err(ModelError::InvalidProcessNoise(acceleration_psd))
        }
    }

    /// The acceleration power spectral density `q` (m²/s³).
    pub fn acceleration_psd(&self) -> f64 {
        self.acceleration_psd
    }

    /// The model whose noise is the `weights`-weighted sum of `models`'
    /// (non-negative weights, so the result is a valid model): the noise
    /// of a mixture of models that share the transition.
    pub(crate) fn blend(models: &[Self; 2], weights: [f64; 2]) -> Self {
        Self {
            acceleration_psd: models[0].acceleration_psd * weights[0]
                + models[1].acceleration_psd * weights[1],
        }
    }

    /// Transition matrix `F(dt)`: position advances by velocity times `dt`.
    pub fn transition(dt: f64) -> StateCovariance {
        #[rustfmt::skip]
        let f = Matrix4::new(
            1.0, 0.0, dt, 0.0,
            0.0, 1.0, 0.0, dt,
            0.0, 0.0, 1.0, 0.0,
            0.0, 0.0, 0.0, 1.0,
        );
        f
    }

    /// Process noise `Q(dt) = q · [[dt³/3, dt²/2], [dt²/2, dt]]` per axis.
    pub fn process_noise(&self, dt: f64) -> StateCovariance {
        let (pp, pv, vv) = self.noise_terms(dt);
        #[rustfmt::skip]
        let q = Matrix4::new(
            pp,  0.0, pv,  0.0,
            0.0, pp,  0.0, pv,
            pv,  0.0, vv,  0.0,
            0.0, pv,  0.0, vv,
        );
        q
    }

    /// The three distinct entries of the per-axis block of `Q(dt)`:
    /// position-position, position-velocity and velocity-velocity.
    fn noise_terms(&self, dt: f64) -> (f64, f64, f64) {
        let q = self.acceleration_psd;
        let dt2 = dt * dt;
        (q * dt2 * dt / 3.0, q * dt2 / 2.0, q * dt)
    }

    /// Predicts `mean` and `covariance` forward by `dt` seconds in place.
    ///
    /// Equivalent to `x ← F x`, `P ← F P Fᵀ + Q`, but written out on the
    /// 2×2 blocks of `P = [[A, B], [Bᵀ, C]]` (position, cross, velocity):
    /// `F P Fᵀ = [[A + dt(B + Bᵀ) + dt² C, B + dt C], [Bᵀ + dt C, C]]`.
    /// This skips the two dense 4×4 products, which is most of the cost of a
    /// textbook predict. A negative `dt` retrodicts (Q is then not added).
    #[inline]
    pub fn predict(&self, mean: &mut StateVector, covariance: &mut StateCovariance, dt: f64) {
        mean[0] += dt * mean[2];
        mean[1] += dt * mean[3];

        let p = covariance;
        // Cross block B' = B + dt·C (rows are position, columns velocity).
        let b00 = p[(0, 2)] + dt * p[(2, 2)];
        let b01 = p[(0, 3)] + dt * p[(2, 3)];
        let b10 = p[(1, 2)] + dt * p[(3, 2)];
        let b11 = p[(1, 3)] + dt * p[(3, 3)];
        // Position block A' = A + dt·B' + dt·Bᵀ (using the updated B' folds
        // the dt² C term in).
        let a00 = p[(0, 0)] + dt * (p[(0, 2)] + b00);
        let a01 = p[(0, 1)] + dt * (p[(0, 3)] + b10);
        let a11 = p[(1, 1)] + dt * (p[(1, 3)] + b11);

        let (pp, pv, vv) = if dt > 0.0 {
            self.noise_terms(dt)
        } else {
            (0.0, 0.0, 0.0)
        };
        p[(0, 0)] = a00 + pp;
        p[(1, 1)] = a11 + pp;
        p[(0, 1)] = a01;
        p[(1, 0)] = a01;
        p[(0, 2)] = b00 + pv;
        p[(2, 0)] = b00 + pv;
        p[(0, 3)] = b01;
        p[(3, 0)] = b01;
        p[(1, 2)] = b10;
        p[(2, 1)] = b10;
        p[(1, 3)] = b11 + pv;
        p[(3, 1)] = b11 + pv;
        p[(2, 2)] += vv;
        p[(3, 3)] += vv;
    }
}

/// A dense, well-conditioned covariance (every entry non-zero), for tests
/// of closed forms against their dense definitions.
#[cfg(test)]
pub(crate) fn dense_test_covariance() -> StateCovariance {
    #[rustfmt::skip]
    let root = Matrix4::new(
        3.0, 0.2, 0.1, -0.4,
        0.1, 2.0, 0.3, 0.2,
        -0.2, 0.5, 1.5, 0.1,
        0.3, 0.0, 0.2, 1.2,
    );
    root * root.transpose()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn closed_form_predict_matches_dense_form() {
        let model = ConstantVelocity::new(0.7).unwrap();
        let mut p = dense_test_covariance();
        let mut x = Vector4::new(1.0, -2.0, 0.5, 3.0);
        let dt = 1.3;
        let f = ConstantVelocity::transition(dt);
        let expected_p = f * p * f.transpose() + model.process_noise(dt);
        let expected_x = f * x;
        model.predict(&mut x, &mut p, dt);
        assert!((x - expected_x).abs().max() < 1e-12);
        assert!((p - expected_p).abs().max() < 1e-12);
    }

    #[test]
    fn rejects_negative_noise() {
        assert!(ConstantVelocity::new(-1.0).is_err());
        assert!(ConstantVelocity::new(f64::NAN).is_err());
    }
}
