//! picketd: the edge daemon around the sans-IO `picket-engine`.
//!
//! Module ownership (two engineers work in parallel): `outbox` and `mqtt`
//! belong to the MQTT side; `config`, `serial`, `daemon`, `notify` and
//! `telemetry` to the daemon side.

pub mod mqtt;
pub mod outbox;
