//! picketd: the edge daemon, an I/O shell around the sans-IO
//! [`picket_engine::Engine`].
//!
//! * [`config`]: the TOML file, parsed and validated before anything starts.
//! * [`serial`]: one task per serial port (exclusive open, reconnect with
//!   backoff) feeding raw chunks to the engine.
//! * [`mqtt`]: the rumqttc task: sensor subscriptions in, the durable
//!   [`outbox`] out (QoS 1, persistent session), status birth and last will.
//! * [`outbox_sync`]: the thread that `fsync`s the outbox, so neither the
//!   engine nor the publisher waits on the disk.
//! * [`daemon`]: the wiring, the engine thread, graceful shutdown.
//! * [`queue`]: the engine's input channel, bounded in items and in bytes,
//!   and the byte budget the recorder's queue shares.
//! * [`recording`]: every raw input, tick and flush recorded, on a thread
//!   of its own, for `picket replay`.
//! * [`notify`]: systemd readiness, watchdog and status.
//! * [`telemetry`]: logging (journald or stderr) and counted internal events.
//! * [`background`]: the threads above, awaited at shutdown without
//!   blocking the runtime.
//!
//! Module ownership (two engineers work in parallel): `outbox` and `mqtt`
//! belong to the MQTT side; `config`, `serial`, `daemon`, `notify` and
//! `telemetry` to the daemon side.

pub mod background;
pub mod config;
pub mod daemon;
pub mod mqtt;
pub mod notify;
pub mod outbox;
pub mod outbox_sync;
pub mod queue;
pub mod recording;
pub mod serial;
pub mod telemetry;

pub use config::Config;
pub use daemon::{DaemonError, RunOptions, RunReport, run, run_with};

use picket_schema::Timestamp;

/// The host's wall-clock time as a [`Timestamp`]: the `received_at` of
/// every input and the time of every tick. A clock before 1970 or past 9999
/// (never on a working host) reads as the epoch rather than failing.
pub fn now() -> Timestamp {
    let micros = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| {
            i64::try_from(elapsed.as_micros()).unwrap_or(i64::MAX)
        });
    Timestamp::from_unix_micros(micros).unwrap_or(Timestamp::UNIX_EPOCH)
}
