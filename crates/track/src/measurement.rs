//! Measurement models: what a sensor reports and how that relates to the
//! track state `[x, y, vx, vy]`.
//!
//! Angles are azimuths in radians, clockwise from grid north (the `y` axis),
//! as sensors and operators quote them; a target due east of the sensor has
//! azimuth π/2. Angle innovations are wrapped into (-π, π] so a target
//! crossing south of the sensor (where the azimuth jumps between π and -π)
//! is not seen as a 2π error.

use core::f64::consts::{PI, TAU};

use nalgebra::{Matrix1, Matrix1x2, Matrix2, SMatrix, SVector, Vector1, Vector2};

use crate::MeasurementError;
use crate::motion::StateVector;

/// One sensor report about one (possible) target.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Measurement {
    /// A position in the site frame with a full 2×2 covariance (radar plots,
    /// geolocated detections). Linear: the plain Kalman update applies.
    Position {
        /// East, north in metres.
        position: Vector2<f64>,
        /// Covariance in m²; must be symmetric positive definite.
        covariance: Matrix2<f64>,
    },
    /// Range and azimuth from a sensor at a known position (EKF).
    RangeBearing {
        /// Sensor position, east and north in metres.
        sensor: Vector2<f64>,
        /// Range in metres.
        range: f64,
        /// Azimuth in radians, clockwise from north.
        bearing: f64,
        /// Range variance in m².
        range_variance: f64,
        /// Azimuth variance in rad².
        bearing_variance: f64,
    },
    /// Azimuth only, from a sensor at a known position (EKF): cameras and
    /// acoustic arrays. Cannot start a track on its own.
    Bearing {
        /// Sensor position, east and north in metres.
        sensor: Vector2<f64>,
        /// Azimuth in radians, clockwise from north.
        bearing: f64,
        /// Azimuth variance in rad².
        variance: f64,
    },
    /// "Something is within `radius` of this ground node". Modelled as a
    /// position at the node whose covariance is that of a uniform disc,
    /// `radius²/4` per axis: the true error is bounded and flat, and
    /// matching its second moment is the least-informative Gaussian choice.
    Presence {
        /// Node position, east and north in metres.
        node: Vector2<f64>,
        /// Detection radius in metres.
        radius: f64,
    },
}

/// A measurement linearised about a predicted state: innovation `y`,
/// Jacobian `H` and noise `R`, with the dimension `M` in the type so the
/// filter works on stack-allocated matrices.
///
/// Every measurement here observes position only (position, presence,
/// range and bearing), so `H = [H_p 0]` and only its position block `H_p`
/// is kept: the filter then works in 2×2 blocks of the covariance.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Linearised<const M: usize> {
    pub(crate) innovation: SVector<f64, M>,
    /// `H_p = ∂h/∂[x, y]`; `∂h/∂[vx, vy]` is zero.
    pub(crate) position_jacobian: SMatrix<f64, M, 2>,
    pub(crate) noise: SMatrix<f64, M, M>,
}

/// A linearisation of either dimension a measurement can have.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Linearisation {
    /// Bearing only.
    Scalar(Linearised<1>),
    /// Position, range-bearing and presence.
    Planar(Linearised<2>),
}

/// Wraps an angle into (-π, π].
pub fn wrap_angle(angle: f64) -> f64 {
    let wrapped = angle.rem_euclid(TAU);
    if wrapped > PI { wrapped - TAU } else { wrapped }
}

/// Smallest range at which an azimuth is still meaningful; closer than this
/// the Jacobian blows up and the update would throw the track away.
const MIN_ANGLE_RANGE: f64 = 1e-3;

impl Measurement {
    /// A position with independent east and north variances (m²), the shape
    /// of the neutral JSONL `"position"` record.
    pub fn position(x: f64, y: f64, variance_x: f64, variance_y: f64) -> Self {
        Self::Position {
            position: Vector2::new(x, y),
            covariance: Matrix2::new(variance_x, 0.0, 0.0, variance_y),
        }
    }

    /// Checks that every value is finite and every noise term positive.
    pub fn validate(&self) -> Result<(), MeasurementError> {
        let finite = |values: &[f64]| values.iter().all(|v| v.is_finite());
        let positive = |values: &[f64]| values.iter().all(|v| v.is_finite() && *v > 0.0);
        let (values_ok, noise_ok) = match *self {
            Self::Position {
                position,
                covariance,
            } => {
                let c = covariance;
                let det = c[(0, 0)] * c[(1, 1)] - c[(0, 1)] * c[(1, 0)];
                (
                    finite(position.as_slice()),
                    positive(&[c[(0, 0)], c[(1, 1)], det]) && c[(0, 1)] == c[(1, 0)],
                )
            }
            Self::RangeBearing {
                sensor,
                range,
                bearing,
                range_variance,
                bearing_variance,
            } => (
                finite(sensor.as_slice()) && finite(&[range, bearing]) && range >= 0.0,
                positive(&[range_variance, bearing_variance]),
            ),
            Self::Bearing {
                sensor,
                bearing,
                variance,
            } => (
                finite(sensor.as_slice()) && bearing.is_finite(),
                positive(&[variance]),
            ),
            Self::Presence { node, radius } => (finite(node.as_slice()), positive(&[radius])),
        };
        if !values_ok {
            Err(MeasurementError::NonFinite)
        } else if !noise_ok {
            Err(MeasurementError::InvalidNoise)
        } else {
            Ok(())
        }
    }

    /// Where in the plane this measurement puts the target, with a
    /// covariance, if it pins the target down in both axes. Used to start
    /// tracks and to place detections in the gating grid. `None` for a bare
    /// bearing, which only constrains a ray.
    pub fn position_estimate(&self) -> Option<(Vector2<f64>, Matrix2<f64>)> {
        match *self {
            Self::Position {
                position,
                covariance,
            } => Some((position, covariance)),
            Self::RangeBearing {
                sensor,
                range,
                bearing,
                range_variance,
                bearing_variance,
            } => {
                let (sin, cos) = bearing.sin_cos();
                let offset = Vector2::new(range * sin, range * cos);
                // Columns: derivative of the position by range, by azimuth.
                let jacobian = Matrix2::new(sin, range * cos, cos, -range * sin);
                let noise = Matrix2::new(range_variance, 0.0, 0.0, bearing_variance);
                Some((sensor + offset, jacobian * noise * jacobian.transpose()))
            }
            Self::Bearing { .. } => None,
            Self::Presence { node, radius } => Some((node, disc_covariance(radius))),
        }
    }

    /// Linearises about `state`: innovation (wrapped for angles), Jacobian
    /// and noise.
    #[inline]
    pub(crate) fn linearise(&self, state: &StateVector) -> Result<Linearisation, MeasurementError> {
        let predicted = Vector2::new(state[0], state[1]);
        match *self {
            Self::Position {
                position,
                covariance,
            } => Ok(Linearisation::Planar(Linearised {
                innovation: position - predicted,
                position_jacobian: Matrix2::identity(),
                noise: covariance,
            })),
            Self::Presence { node, radius } => Ok(Linearisation::Planar(Linearised {
                innovation: node - predicted,
                position_jacobian: Matrix2::identity(),
                noise: disc_covariance(radius),
            })),
            Self::RangeBearing {
                sensor,
                range,
                bearing,
                range_variance,
                bearing_variance,
            } => {
                let relative = predicted - sensor;
                let predicted_range = relative.norm();
                if predicted_range < MIN_ANGLE_RANGE {
                    return Err(MeasurementError::DegenerateGeometry);
                }
                let (dx, dy) = (relative[0], relative[1]);
                let r2 = predicted_range * predicted_range;
                #[rustfmt::skip]
                let position_jacobian = Matrix2::new(
                    dx / predicted_range, dy / predicted_range,
                    dy / r2,              -dx / r2,
                );
                Ok(Linearisation::Planar(Linearised {
                    innovation: Vector2::new(
                        range - predicted_range,
                        wrap_angle(bearing - dx.atan2(dy)),
                    ),
                    position_jacobian,
                    noise: Matrix2::new(range_variance, 0.0, 0.0, bearing_variance),
                }))
            }
            Self::Bearing {
                sensor,
                bearing,
                variance,
            } => {
                let relative = predicted - sensor;
                let r2 = relative.norm_squared();
                if r2 < MIN_ANGLE_RANGE * MIN_ANGLE_RANGE {
                    return Err(MeasurementError::DegenerateGeometry);
                }
                let (dx, dy) = (relative[0], relative[1]);
                Ok(Linearisation::Scalar(Linearised {
                    innovation: Vector1::new(wrap_angle(bearing - dx.atan2(dy))),
                    position_jacobian: Matrix1x2::new(dy / r2, -dx / r2),
                    noise: Matrix1::new(variance),
                }))
            }
        }
    }

    /// Whether a scan containing this measurement says something about
    /// targets it does *not* report. A radar or camera scan that misses a
    /// track is evidence against it; a ground node is silent about anything
    /// beyond its radius, so its reports never count as misses.
    pub fn is_scanning(&self) -> bool {
        !matches!(self, Self::Presence { .. })
    }
}

/// Per-axis variance of a uniform disc of the given radius: `r²/4`.
fn disc_covariance(radius: f64) -> Matrix2<f64> {
    let variance = radius * radius / 4.0;
    Matrix2::new(variance, 0.0, 0.0, variance)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrap_angle_lands_in_half_open_interval() {
        assert_eq!(wrap_angle(PI), PI);
        assert!((wrap_angle(-PI) - PI).abs() < 1e-15);
        assert!((wrap_angle(3.0 * PI / 2.0) + PI / 2.0).abs() < 1e-12);
        assert!((wrap_angle(-7.0 * PI / 2.0) - PI / 2.0).abs() < 1e-12);
        assert_eq!(wrap_angle(0.25), 0.25);
    }

    #[test]
    fn range_bearing_round_trips_through_position_estimate() {
        let m = Measurement::RangeBearing {
            sensor: Vector2::new(10.0, 20.0),
            range: 100.0,
            bearing: PI / 2.0,
            range_variance: 4.0,
            bearing_variance: 1e-4,
        };
        let (p, c) = m.position_estimate().unwrap();
        assert!((p - Vector2::new(110.0, 20.0)).norm() < 1e-9);
        // East of the sensor, range error is along x, azimuth error along y.
        assert!((c[(0, 0)] - 4.0).abs() < 1e-9);
        assert!((c[(1, 1)] - 1.0).abs() < 1e-9);
    }

    #[test]
    fn invalid_measurements_are_rejected() {
        assert_eq!(
            Measurement::position(f64::NAN, 0.0, 1.0, 1.0).validate(),
            Err(MeasurementError::NonFinite)
        );
        assert_eq!(
            Measurement::position(0.0, 0.0, 0.0, 1.0).validate(),
            Err(MeasurementError::InvalidNoise)
        );
        let presence = Measurement::Presence {
            node: Vector2::new(0.0, 0.0),
            radius: -1.0,
        };
        assert_eq!(presence.validate(), Err(MeasurementError::InvalidNoise));
    }
}
