//! picket-engine: the sans-IO fusion pipeline between sensor bytes and
//! published tracks, alerts and sensor health.
//!
//! ```text
//!  RawInput{source, received_at, bytes}
//!     │ serial chunk ──► FrameDecoder (one per port) ──┐
//!     │ MQTT payload ──► JSON or one wire frame ───────┤ picket_wire::Message
//!     ▼                                                ▼
//!  sensor identity (Hello / port binding / topic) ─► normalise:
//!     time (sensor Unix time checked against skew, or receive time),
//!     measurement model in the site ENU frame, NaN / area / kind checks,
//!     duplicate (sensor, sequence) ──► counted drops
//!     ▼
//!  reorder buffer (bounded lag and capacity, keyed by report time)
//!     ▼ released in time order, grouped into scans by (sensor, time)
//!  ┌─ detections ─► picket_track::Tracker ─► track events
//!  │                   └─► class fusion, zones ─► TrackMessage / clear, intrusion alerts
//!  ├─ radiation ─► background + n-sigma ─► attribution to tracks ─► radiation alerts, flags
//!  └─ heartbeats ─► sensor health ─► SensorHealthMessage, tamper / fault alerts
//! ```
//!
//! [`Engine`] has no clock, does no I/O and spawns nothing: inputs are
//! values with their receive time, outputs are returned, and every map it
//! keeps is ordered, so a recording of [`RawInput`]s and ticks replays to
//! byte-identical [`Output`]s. Messages come out with `seq: 0`; the
//! daemon's durable outbox stamps sequence numbers ([`Output::set_seq`]).
//!
//! Configuration ([`EngineConfig`]) is what picketd reads from TOML; see
//! [`config`] for every key and its default.
//!
//! # Using it
//! ```no_run
//! # use picket_engine::*;
//! # fn publish(_: &Output) {}
//! # fn next_input() -> Option<RawInput> { None }
//! fn run(config: EngineConfig) -> Result<(), ConfigError> {
//!     let mut engine = Engine::new(config)?;
//!     while let Some(input) = next_input() {
//!         // Record `input` first; replaying the recording repeats this loop.
//!         for output in engine.handle_input(&input) {
//!             publish(output); // the outbox stamps `seq` with Output::set_seq
//!         }
//!     }
//!     for output in engine.flush() {
//!         publish(output);
//!     }
//!     Ok(())
//! }
//! ```
//! Call [`Engine::handle_tick`] about once a second from the host clock (and
//! record the ticks too): it releases reports when no input arrives,
//! coasts and deletes tracks nobody sees any more, and reports silent
//! sensors.
//!
//! # Known limits
//! * A scan is one sensor's detections at one timestamp. A radar that
//!   stamps each plot of a sweep with its own time gives one-plot scans, and
//!   picket-track then counts the sweep's other targets as missed; such a
//!   radar must stamp plots with the sweep time.
//! * Boot-clock sensors are timed by arrival (less a configured latency),
//!   so their reports inherit transport jitter.

mod classify;
pub mod config;
mod counters;
mod engine;
pub mod geodesy;
mod health;
mod input;
mod normalise;
mod output;
mod radiation;
mod registry;
mod reorder;
mod zones;

pub use config::{ConfigError, EngineConfig};
pub use counters::{DropCounters, DropReason, EngineCounters, FrameErrorKind};
pub use engine::{DecodedMqtt, Engine, MqttDecoder};
pub use input::{InputSource, RawInput};
pub use output::{Output, OutputMessage};
