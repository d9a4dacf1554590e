//! picket-track: the sans-IO multi-target tracking core.
//!
//! Feed [`Tracker::handle_scan`] the detections of each sensor scan in time
//! order and read back [`TrackEvent`]s; nothing here reads a clock, does I/O,
//! spawns threads or draws random numbers, so a recording replays to
//! bit-identical tracks. All arithmetic is `f64` on stack-allocated,
//! statically sized matrices.
//!
//! The parts, each usable alone:
//! - [`motion`]: nearly-constant-velocity model, `F(dt)` and `Q(dt)`;
//! - [`measurement`]: position, range-bearing, bearing-only and ground-node
//!   presence models;
//! - [`filter`]: Kalman / extended Kalman predict and Joseph-form update;
//! - [`imm`]: two-mode (quiet / manoeuvring) interacting multiple model;
//! - [`gating`]: chi-square gate thresholds (the spatial index is internal);
//! - [`tracker`]: clustering, GNN association, track lifecycle;
//! - [`assign`]: optimal rectangular assignment; [`gospa`]: the GOSPA metric.

pub mod assign;
mod cluster;
pub mod config;
mod error;
pub mod filter;
pub mod gating;
pub mod gospa;
pub mod imm;
pub mod measurement;
pub mod motion;
pub mod tracker;

pub use config::TrackerConfig;
pub use error::{ConfigError, FilterError, MeasurementError, ModelError, TrackerError};
pub use filter::{Innovation, StateEstimate};
pub use measurement::Measurement;
pub use motion::ConstantVelocity;
pub use tracker::{
    DeletionReason, Detection, SensorId, Track, TrackEvent, TrackEventKind, TrackId, TrackStatus,
    Tracker, TrackerStats,
};
