//! Kalman and extended Kalman filter steps on a 4-state estimate.
//!
//! Everything is stack-allocated and statically sized: a track is a
//! [`StateEstimate`] (mean plus covariance, 160 bytes), and the update is
//! written once, generic over the measurement dimension, so a 2-D position
//! update compiles to straight-line 2×4 / 4×4 arithmetic with a closed-form
//! 2×2 inverse.
//!
//! The covariance update uses the Joseph form
//! `P⁺ = (I − K H) P (I − K H)ᵀ + K R Kᵀ`, which stays positive
//! semi-definite under rounding and for any gain, then symmetrises. The
//! shorter `(I − K H) P` loses symmetry and definiteness after many updates
//! with very precise measurements, which a long-lived track will meet.
//!
//! Measurements observe position only (`H = [H_p 0]`), so with
//! `P = [A B; Bᵀ C]` in 2×2 blocks, `P Hᵀ = [A H_pᵀ; Bᵀ H_pᵀ]` and
//! `I − K H = [L 0; N I]` (`L = I − K_p H_p`, `N = −K_v H_p`): the Joseph
//! product is a handful of 2×2 products, `L A Lᵀ`, `L A Nᵀ + L B` and
//! `(N A + Bᵀ) Nᵀ + N B + C`, instead of two dense 4×4 ones (which were
//! most of a replay's update time).

use core::f64::consts::TAU;

use nalgebra::{Matrix1, Matrix2, Matrix4, SMatrix};

use crate::FilterError;
use crate::measurement::{Linearisation, Linearised, Measurement};
use crate::motion::{ConstantVelocity, StateCovariance, StateVector};

/// A Gaussian track state: mean `[x, y, vx, vy]` and its covariance.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StateEstimate {
    /// Mean, metres and metres per second.
    pub mean: StateVector,
    /// Covariance of the mean.
    pub covariance: StateCovariance,
}

/// How well a measurement fits a predicted state.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Innovation {
    /// Squared Mahalanobis distance `yᵀ S⁻¹ y`.
    pub mahalanobis_squared: f64,
    /// `det S`, the innovation covariance's determinant (positive).
    pub determinant: f64,
    /// Measurement dimension (1 or 2).
    pub dimension: usize,
}

impl Innovation {
    /// Negative log of the Gaussian likelihood `N(y; 0, S)`:
    /// `(d² + ln det S + m ln 2π) / 2`.
    pub fn negative_log_likelihood(&self) -> f64 {
        // usize -> f64 is exact for the dimensions used here (1 or 2).
        0.5 * (self.mahalanobis_squared + self.log_det() + self.dimension as f64 * TAU.ln())
    }

    /// Natural log of `det S`. Computed on demand: the logarithm is a
    /// noticeable part of an update that does not need it.
    pub fn log_det(&self) -> f64 {
        self.determinant.ln()
    }
}

impl StateEstimate {
    /// The covariance of the position `[x, y]`.
    pub fn position_covariance(&self) -> Matrix2<f64> {
        self.covariance.fixed_view::<2, 2>(0, 0).into_owned()
    }

    /// Predicts the estimate forward by `dt` seconds.
    #[inline]
    pub fn predict(&mut self, motion: &ConstantVelocity, dt: f64) {
        motion.predict(&mut self.mean, &mut self.covariance, dt);
    }

    /// Scores `measurement` against this (predicted) estimate without
    /// changing it: the gating and association statistic.
    pub fn innovation(&self, measurement: &Measurement) -> Result<Innovation, FilterError> {
        match measurement.linearise(&self.mean)? {
            Linearisation::Scalar(lin) => innovation_of(&self.covariance, &lin).map(|(i, ..)| i),
            Linearisation::Planar(lin) => innovation_of(&self.covariance, &lin).map(|(i, ..)| i),
        }
    }

    /// Updates the estimate with `measurement` (KF for position and
    /// presence, EKF for angles) and returns the innovation it was scored
    /// with. On error the estimate is unchanged.
    #[inline]
    pub fn update(&mut self, measurement: &Measurement) -> Result<Innovation, FilterError> {
        match measurement.linearise(&self.mean)? {
            Linearisation::Scalar(lin) => self.update_linearised(&lin),
            Linearisation::Planar(lin) => self.update_linearised(&lin),
        }
    }

    #[inline]
    fn update_linearised<const M: usize>(
        &mut self,
        lin: &Linearised<M>,
    ) -> Result<Innovation, FilterError>
    where
        SMatrix<f64, M, M>: SmallSymmetricInverse,
    {
        let (innovation, s_inverse, p_ht) = innovation_of(&self.covariance, lin)?;
        let gain = p_ht * s_inverse;
        let h = &lin.position_jacobian;
        let l = Matrix2::identity() - gain.fixed_rows::<2>(0) * h;
        let n = -(gain.fixed_rows::<2>(2) * h);
        let (a, b, c) = blocks(&self.covariance);
        let la = l * a;
        let top_right = la * n.transpose() + l * b;
        let mut joseph = Matrix4::zeros();
        joseph
            .fixed_view_mut::<2, 2>(0, 0)
            .copy_from(&(la * l.transpose()));
        joseph.fixed_view_mut::<2, 2>(0, 2).copy_from(&top_right);
        joseph
            .fixed_view_mut::<2, 2>(2, 0)
            .copy_from(&top_right.transpose());
        joseph
            .fixed_view_mut::<2, 2>(2, 2)
            .copy_from(&((n * a + b.transpose()) * n.transpose() + n * b + c));
        joseph += gain * lin.noise * gain.transpose();
        let covariance = (joseph + joseph.transpose()) * 0.5;
        let mean = self.mean + gain * lin.innovation;
        // NaN and infinity survive summation, so one branch checks all 20
        // values (a sum overflowing from finite entries near 1e308 is
        // rejected too, which is no loss).
        if !(mean.sum() + covariance.sum()).is_finite() {
            return Err(FilterError::NonFiniteState);
        }
        self.mean = mean;
        self.covariance = covariance;
        Ok(innovation)
    }
}

/// Innovation statistics, `S⁻¹` and `P Hᵀ` (which the gain reuses) for a
/// linearised measurement.
#[allow(clippy::type_complexity)]
#[inline]
fn innovation_of<const M: usize>(
    covariance: &StateCovariance,
    lin: &Linearised<M>,
) -> Result<(Innovation, SMatrix<f64, M, M>, SMatrix<f64, 4, M>), FilterError>
where
    SMatrix<f64, M, M>: SmallSymmetricInverse,
{
    let (a, b, _) = blocks(covariance);
    let h_t = lin.position_jacobian.transpose();
    let position_rows = a * h_t;
    let s = lin.position_jacobian * position_rows + lin.noise;
    let mut p_ht = SMatrix::<f64, 4, M>::zeros();
    p_ht.fixed_view_mut::<2, M>(0, 0).copy_from(&position_rows);
    p_ht.fixed_view_mut::<2, M>(2, 0)
        .copy_from(&(b.transpose() * h_t));
    let (s_inverse, det) = s.symmetric_inverse()?;
    let mahalanobis_squared = (lin.innovation.transpose() * s_inverse * lin.innovation)[(0, 0)];
    if !mahalanobis_squared.is_finite() {
        return Err(FilterError::SingularInnovation);
    }
    Ok((
        Innovation {
            mahalanobis_squared,
            determinant: det,
            dimension: M,
        },
        s_inverse,
        p_ht,
    ))
}

/// The 2×2 blocks `A` (position), `B` (position × velocity) and `C`
/// (velocity) of a state covariance.
#[inline]
fn blocks(covariance: &StateCovariance) -> (Matrix2<f64>, Matrix2<f64>, Matrix2<f64>) {
    (
        covariance.fixed_view::<2, 2>(0, 0).into_owned(),
        covariance.fixed_view::<2, 2>(0, 2).into_owned(),
        covariance.fixed_view::<2, 2>(2, 2).into_owned(),
    )
}

/// Closed-form inverse of the small symmetric innovation covariances, with
/// the determinant (needed for the likelihood anyway). Singular, indefinite
/// or non-finite matrices are an error rather than a NaN.
pub(crate) trait SmallSymmetricInverse: Sized {
    /// Returns `(S⁻¹, det S)`.
    fn symmetric_inverse(&self) -> Result<(Self, f64), FilterError>;
}

impl SmallSymmetricInverse for Matrix1<f64> {
    fn symmetric_inverse(&self) -> Result<(Self, f64), FilterError> {
        let det = self[(0, 0)];
        if det.is_finite() && det > 0.0 {
            Ok((Matrix1::new(1.0 / det), det))
        } else {
            Err(FilterError::SingularInnovation)
        }
    }
}

impl SmallSymmetricInverse for Matrix2<f64> {
    #[inline]
    fn symmetric_inverse(&self) -> Result<(Self, f64), FilterError> {
        let (a, b, d) = (self[(0, 0)], self[(0, 1)], self[(1, 1)]);
        let det = a * d - b * b;
        // A positive determinant with a positive diagonal entry is exactly
        // positive definiteness for a symmetric 2×2.
        if det.is_finite() && det > 0.0 && a > 0.0 {
            let inv = 1.0 / det;
            Ok((Matrix2::new(d * inv, -b * inv, -b * inv, a * inv), det))
        } else {
            Err(FilterError::SingularInnovation)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nalgebra::{Vector2, Vector4};

    fn estimate() -> StateEstimate {
        StateEstimate {
            mean: Vector4::new(100.0, 50.0, 2.0, -1.0),
            covariance: Matrix4::from_diagonal(&Vector4::new(25.0, 25.0, 4.0, 4.0)),
        }
    }

    #[test]
    fn singular_innovation_is_an_error_not_nan() {
        let mut e = estimate();
        e.covariance = Matrix4::zeros();
        let m = Measurement::Position {
            position: Vector2::new(1.0, 2.0),
            covariance: Matrix2::zeros(),
        };
        assert_eq!(e.update(&m), Err(FilterError::SingularInnovation));
        assert_eq!(e, {
            let mut expected = estimate();
            expected.covariance = Matrix4::zeros();
            expected
        });
    }

    #[test]
    fn block_update_matches_the_dense_joseph_form() {
        let mut e = estimate();
        e.covariance = crate::motion::dense_test_covariance();
        let m = Measurement::RangeBearing {
            sensor: Vector2::new(-20.0, 10.0),
            range: 125.0,
            bearing: 1.4,
            range_variance: 4.0,
            bearing_variance: 1e-4,
        };
        let Ok(Linearisation::Planar(lin)) = m.linearise(&e.mean) else {
            panic!("range-bearing is planar");
        };
        let mut h = nalgebra::Matrix2x4::zeros();
        h.fixed_view_mut::<2, 2>(0, 0)
            .copy_from(&lin.position_jacobian);
        let p = e.covariance;
        let s = h * p * h.transpose() + lin.noise;
        let gain = p * h.transpose() * s.try_inverse().unwrap();
        let i_kh = Matrix4::identity() - gain * h;
        let expected = i_kh * p * i_kh.transpose() + gain * lin.noise * gain.transpose();
        let expected_mean = e.mean + gain * lin.innovation;
        e.update(&m).unwrap();
        assert!(
            (e.covariance - expected).abs().max() < 1e-12,
            "{}",
            e.covariance - expected
        );
        assert!((e.mean - expected_mean).abs().max() < 1e-12);
    }

    #[test]
    fn position_update_moves_towards_measurement() {
        let mut e = estimate();
        let m = Measurement::position(110.0, 50.0, 25.0, 25.0);
        let innovation = e.update(&m).unwrap();
        assert!((e.mean[0] - 105.0).abs() < 1e-12);
        assert!((innovation.mahalanobis_squared - 2.0).abs() < 1e-12);
        assert!((e.covariance[(0, 0)] - 12.5).abs() < 1e-12);
    }

    #[test]
    fn bearing_update_wraps_across_south() {
        // Target due south of the sensor: predicted azimuth is ±π. A
        // measurement of -π + 0.01 is 0.01 rad away, not 2π - 0.01.
        let mut e = estimate();
        e.mean = Vector4::new(0.0, -100.0, 0.0, 0.0);
        let m = Measurement::Bearing {
            sensor: Vector2::new(0.0, 0.0),
            bearing: -core::f64::consts::PI + 0.01,
            variance: 1e-4,
        };
        let innovation = e.innovation(&m).unwrap();
        // y = 0.01 rad; S = (1/r²)·25 + 1e-4 = 2.6e-3 → d² ≈ 0.0385.
        assert!((innovation.mahalanobis_squared - 1e-4 / 2.6e-3).abs() < 1e-9);
        e.update(&m).unwrap();
        // Azimuth -π + 0.01 (clockwise from north) points slightly west of
        // south, so the estimate moves west, by about r·0.01·25/26.
        assert!(e.mean[0] < 0.0 && e.mean[0] > -1.0);
    }
}
