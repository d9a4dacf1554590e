//! Error types of the tracking core. Every failure is a value: the tracker
//! never panics on bad input and never lets a NaN into a track.

use thiserror::Error;

/// A motion model parameter is out of range.
#[derive(Debug, Clone, Copy, PartialEq, Error)]
pub enum ModelError {
    /// The acceleration noise density must be finite and non-negative.
    #[error("process noise must be finite and >= 0, got {0}")]
    InvalidProcessNoise(f64),
}

/// A measurement cannot be used as given.
#[derive(Debug, Clone, Copy, PartialEq, Error)]
pub enum MeasurementError {
    /// A value (position, angle, range) is NaN or infinite.
    #[error("measurement value is not finite")]
    NonFinite,
    /// A variance or radius is zero, negative or not finite, or a covariance
    /// is not positive definite.
    #[error("measurement noise is not positive definite")]
    InvalidNoise,
    /// A range or bearing was evaluated with the target on top of the sensor,
    /// where the angle is undefined.
    #[error("target is too close to the sensor for an angle measurement")]
    DegenerateGeometry,
}

/// A filter step could not be carried out; the state is left unchanged.
#[derive(Debug, Clone, Copy, PartialEq, Error)]
pub enum FilterError {
    /// The measurement itself is invalid.
    #[error(transparent)]
    Measurement(#[from] MeasurementError),
    /// The innovation covariance `S = H P Hᵀ + R` is singular or not finite,
    /// so neither a likelihood nor a gain exists.
    #[error("innovation covariance is singular")]
    SingularInnovation,
    /// The update produced a non-finite state (e.g. overflow from absurd
    /// magnitudes); it was discarded.
    #[error("update produced a non-finite state")]
    NonFiniteState,
}

/// A [`TrackerConfig`](crate::TrackerConfig) field is out of range. The
/// string names the field.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum ConfigError {
    /// A probability must lie strictly between 0 and 1.
    #[error("{0} must be strictly between 0 and 1")]
    Probability(&'static str),
    /// A quantity must be finite and strictly positive.
    #[error("{0} must be finite and > 0")]
    NotPositive(&'static str),
    /// The M-of-N confirmation rule needs 1 <= M <= N <= 32.
    #[error("confirmation needs 1 <= hits <= window <= 32")]
    ConfirmationRule,
    /// The motion model rejected its parameters.
    #[error(transparent)]
    Model(#[from] ModelError),
}

/// The tracker refused a call; its state is unchanged.
#[derive(Debug, Clone, Copy, PartialEq, Error)]
pub enum TrackerError {
    /// Scan times must be finite and must not go backwards; reordering is the
    /// caller's job (the engine holds a reorder buffer).
    #[error("time {time} is before the tracker time {current} or not finite")]
    TimeWentBackwards {
        /// The time passed in.
        time: f64,
        /// The time the tracker has already reached.
        current: f64,
    },
}
