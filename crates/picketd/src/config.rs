//! picketd's configuration file (`/etc/picket/picketd.toml`).
//!
//! ```toml
//! [site]        # picket_engine::config::SiteConfig
//! [[sensors]]   # picket_engine::config::SensorConfig, one per sensor
//! [radiation]   # picket_engine::config::RadiationConfig
//! [[zones]]     # picket_engine::config::ZoneConfig
//! [tracker]     # picket_engine::config::TrackerSettings
//! [health]      # picket_engine::config::HealthConfig
//! [mqtt]        # crate::mqtt::MqttSettings: broker, TLS, subscriptions
//! [[serial]]    # SerialPortConfig, one per serial port
//! [state]       # StateConfig: state directory and outbox limits
//! [recording]   # crate::recording::RecordingSettings: raw-input recording
//! [daemon]      # DaemonSettings: channels, ticks, shutdown, watchdog
//! ```
//!
//! The engine's tables sit at the top level, as the engine documents them,
//! rather than under an `[engine]` table: a sensor is `[[sensors]]` in every
//! example. They are listed field by field below (not `#[serde(flatten)]`ed)
//! because serde's `flatten` silently disables `deny_unknown_fields`.
//!
//! Loading is two steps, and nothing starts until both pass: parse (serde,
//! every table denies unknown keys) and validate (ranges, references between
//! tables, the engine's own [`EngineConfig::validate`]). Every error names
//! the file, the line and the key in TOML path form (`sensors[2].kind`):
//! parse errors from toml's span, validation errors by looking the key's
//! path up in a spanned parse of the same text.
//!
//! Every default of the daemon's own tables is in [`defaults`].

use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

use picket_engine::EngineConfig;
use picket_engine::config::{
    HealthConfig, RadiationConfig, SensorConfig, SensorKind, SiteConfig, TrackerSettings,
    ZoneConfig,
};
use serde::Deserialize;
use toml::de::{DeTable, DeValue};

use crate::mqtt::MqttSettings;
use crate::outbox::OutboxLimits;
use crate::recording::RecordingSettings;

/// Every default of the daemon's own settings, in one place (the engine's
/// are in [`picket_engine::config::defaults`], the MQTT and outbox ones next
/// to their types).
pub mod defaults {
    /// 115,200 baud: what picket-wire sensors ship with.
    pub const BAUD_RATE: u32 = 115_200;
    /// First reconnect delay of a serial port, ms.
    pub const SERIAL_RECONNECT_MIN_MS: u64 = 250;
    /// Longest reconnect delay of a serial port, ms: an unplugged adapter is
    /// noticed within this long of being plugged back in.
    pub const SERIAL_RECONNECT_MAX_MS: u64 = 5_000;
    /// Bytes per serial read. 4 KiB is the Linux tty flip buffer size.
    pub const SERIAL_READ_BUFFER_BYTES: usize = 4_096;
    /// How long a serial chunk waits for room in a full input channel before
    /// it is dropped, ms.
    pub const SERIAL_INPUT_FULL_WAIT_MS: u64 = 100;
    /// Where the outbox lives; `StateDirectory=picket` in the unit.
    pub const STATE_DIR: &str = "/var/lib/picket";
    /// Raw inputs queued for the engine (serial chunks and MQTT payloads):
    /// about a second and a half at 10,000 inputs/s.
    pub const INPUT_CHANNEL_CAPACITY: usize = 16_384;
    /// Bytes of raw input queued for the engine, MiB. The item count alone
    /// allows 4 GiB of 256 KiB MQTT payloads; 32 MiB is 8,192 full serial
    /// reads or 128 payloads at the default packet limit, and the item
    /// count binds first for sensor reports of a few hundred bytes.
    pub const INPUT_CHANNEL_MIB: u64 = 32;
    /// Engine tick period, ms: how often time is advanced without input
    /// (reorder release, coasting, silence), and the watchdog loop period.
    pub const TICK_INTERVAL_MS: u64 = 100;
    /// How often the retained status message is refreshed, ms.
    pub const STATUS_INTERVAL_MS: u64 = 10_000;
    /// Longest graceful shutdown, ms, within systemd's default
    /// `TimeoutStopSec=` of 90 s by a wide margin.
    pub const SHUTDOWN_TIMEOUT_MS: u64 = 10_000;
    /// How long start-up waits for the broker before declaring `READY=1`
    /// anyway (outputs are kept in the outbox meanwhile), ms.
    pub const BROKER_READY_TIMEOUT_MS: u64 = 10_000;
    /// The `tracing` filter when `RUST_LOG` is not set.
    pub const LOG_FILTER: &str = "info";
    /// Recording group-commit interval, ms: what a power cut may take.
    pub const RECORDING_FSYNC_INTERVAL_MS: u64 = 200;
    /// Recording segment size, MiB: small enough to copy off a tower in
    /// pieces, large enough that rotation is rare.
    pub const RECORDING_MAX_SEGMENT_MIB: u64 = 64;
    /// Recording size limit, MiB (oldest segments deleted first).
    pub const RECORDING_MAX_TOTAL_MIB: u64 = 4_096;
    /// Recording age limit, hours (two weeks).
    pub const RECORDING_MAX_AGE_HOURS: u64 = 336;
    /// Items queued for the recorder thread: several seconds at 10,000
    /// inputs/s, so an fsync stall on slow flash costs nothing.
    pub const RECORDING_QUEUE_CAPACITY: usize = 65_536;
    /// Bytes of raw input queued for the recorder thread, MiB: the same
    /// reasoning as [`INPUT_CHANNEL_MIB`].
    pub const RECORDING_QUEUE_MIB: u64 = 32;
    /// Reopen attempts after a recording failure, s.
    pub const RECORDING_RETRY_INTERVAL_S: u64 = 30;
}

/// The whole, validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// The engine's configuration (site, sensors, radiation, zones, tracker,
    /// health), with `[[serial]].sensor` bindings applied to the sensors'
    /// `serial_port`.
    pub engine: EngineConfig,
    /// `[mqtt]`.
    pub mqtt: MqttSettings,
    /// `[[serial]]`.
    pub serial: Vec<SerialPortConfig>,
    /// `[state]`.
    pub state: StateConfig,
    /// `[recording]`.
    pub recording: RecordingSettings,
    /// `[daemon]`.
    pub daemon: DaemonSettings,
}

/// One `[[serial]]` entry: a port picketd opens and reads.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SerialPortConfig {
    /// Device path. Use `/dev/serial/by-id/...`: `ttyUSB0` numbers change
    /// when adapters are re-plugged or enumerate in another order. This is
    /// also the port's name in the engine (`sensors[].serial_port`) and in
    /// the status counters.
    pub path: String,
    /// Line speed.
    #[serde(default = "baud_rate")]
    pub baud_rate: u32,
    /// The sensor wired to this port, bound before its `Hello` arrives (sets
    /// that sensor's `serial_port`). Without it, the port's sensor is known
    /// from its first `Hello`.
    #[serde(default)]
    pub sensor: Option<String>,
    /// First delay before reopening after a disconnect or failed open, ms.
    #[serde(default = "serial_reconnect_min_ms")]
    pub reconnect_min_ms: u64,
    /// Cap of the doubling reopen delay, ms.
    #[serde(default = "serial_reconnect_max_ms")]
    pub reconnect_max_ms: u64,
    /// Bytes per read.
    #[serde(default = "serial_read_buffer_bytes")]
    pub read_buffer_bytes: usize,
    /// How long a chunk waits for room in a full input channel before it is
    /// dropped and counted, ms.
    #[serde(default = "serial_input_full_wait_ms")]
    pub input_full_wait_ms: u64,
}

impl SerialPortConfig {
    /// A port at `path` with every other key at its default.
    pub fn new(path: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            baud_rate: defaults::BAUD_RATE,
            sensor: None,
            reconnect_min_ms: defaults::SERIAL_RECONNECT_MIN_MS,
            reconnect_max_ms: defaults::SERIAL_RECONNECT_MAX_MS,
            read_buffer_bytes: defaults::SERIAL_READ_BUFFER_BYTES,
            input_full_wait_ms: defaults::SERIAL_INPUT_FULL_WAIT_MS,
        }
    }
}

/// `[state]`: what survives a restart.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StateConfig {
    /// Directory of the durable outbox; must be writable. The unit's
    /// `StateDirectory=picket` creates `/var/lib/picket`.
    #[serde(default = "state_dir")]
    pub dir: PathBuf,
    /// `[state.outbox]`: `max_entries`, `max_bytes`, `fsync` (`"always"`,
    /// `"never"`, or `{ group_commit = { interval_ms = 10 } }`).
    #[serde(default)]
    pub outbox: OutboxLimits,
}

impl Default for StateConfig {
    fn default() -> Self {
        Self {
            dir: PathBuf::from(defaults::STATE_DIR),
            outbox: OutboxLimits::default(),
        }
    }
}

/// Upper bound of the `*_mib` queue budgets: 4 GiB, far beyond a tower's
/// memory, only to keep the byte count in range.
pub const MAX_QUEUE_MIB: u64 = 4_096;

/// `[daemon]`: the shell's own knobs.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DaemonSettings {
    /// Capacity of the engine's input channel (serial chunks and MQTT
    /// payloads), items. Full: serial waits `input_full_wait_ms` then drops,
    /// MQTT drops at once; both count.
    pub input_channel_capacity: usize,
    /// Most bytes of input the engine's channel holds, MiB, whatever the
    /// item count: full is handled as above. At least the largest input
    /// (`mqtt.max_incoming_packet_bytes`, a serial `read_buffer_bytes`).
    pub input_channel_mib: u64,
    /// Engine tick period, ms.
    pub tick_interval_ms: u64,
    /// Status message refresh period, ms.
    pub status_interval_ms: u64,
    /// Longest graceful shutdown (stop sources, flush the engine, drain the
    /// outbox, disconnect), ms.
    pub shutdown_timeout_ms: u64,
    /// How long start-up waits for the broker before `READY=1`, ms.
    pub broker_ready_timeout_ms: u64,
    /// Send `WATCHDOG=1` when systemd arms a watchdog (`WatchdogSec=`).
    pub watchdog: bool,
    /// `tracing` filter used when `RUST_LOG` is unset, e.g.
    /// `"info,picketd=debug"`.
    pub log_filter: String,
}

impl DaemonSettings {
    /// `input_channel_mib` in bytes.
    pub fn input_channel_bytes(&self) -> usize {
        mib_to_bytes(self.input_channel_mib)
    }
}

/// `mib` MiB in bytes, saturating (validation keeps it within
/// [`MAX_QUEUE_MIB`]).
pub fn mib_to_bytes(mib: u64) -> usize {
    usize::try_from(mib.saturating_mul(1024 * 1024)).unwrap_or(usize::MAX)
}

impl Default for DaemonSettings {
    fn default() -> Self {
        Self {
            input_channel_capacity: defaults::INPUT_CHANNEL_CAPACITY,
            input_channel_mib: defaults::INPUT_CHANNEL_MIB,
            tick_interval_ms: defaults::TICK_INTERVAL_MS,
            status_interval_ms: defaults::STATUS_INTERVAL_MS,
            shutdown_timeout_ms: defaults::SHUTDOWN_TIMEOUT_MS,
            broker_ready_timeout_ms: defaults::BROKER_READY_TIMEOUT_MS,
            watchdog: true,
            log_filter: defaults::LOG_FILTER.to_owned(),
        }
    }
}

// serde's `default = "..."` needs functions; each forwards to `defaults`.
fn baud_rate() -> u32 {
    defaults::BAUD_RATE
}
fn serial_reconnect_min_ms() -> u64 {
    defaults::SERIAL_RECONNECT_MIN_MS
}
fn serial_reconnect_max_ms() -> u64 {
    defaults::SERIAL_RECONNECT_MAX_MS
}
fn serial_read_buffer_bytes() -> usize {
    defaults::SERIAL_READ_BUFFER_BYTES
}
fn serial_input_full_wait_ms() -> u64 {
    defaults::SERIAL_INPUT_FULL_WAIT_MS
}
fn state_dir() -> PathBuf {
    PathBuf::from(defaults::STATE_DIR)
}

/// The file as written: every table, nothing checked yet.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    site: SiteConfig,
    #[serde(default)]
    sensors: Vec<SensorConfig>,
    #[serde(default)]
    radiation: RadiationConfig,
    #[serde(default)]
    zones: Vec<ZoneConfig>,
    #[serde(default)]
    tracker: TrackerSettings,
    #[serde(default)]
    health: HealthConfig,
    mqtt: MqttSettings,
    #[serde(default)]
    serial: Vec<SerialPortConfig>,
    #[serde(default)]
    state: StateConfig,
    #[serde(default)]
    recording: RecordingSettings,
    #[serde(default)]
    daemon: DaemonSettings,
}

/// Why a configuration cannot be used. The `Display` form is
/// `file:line:column: key: message`, what an editor jumps to.
#[derive(Debug, thiserror::Error)]
pub enum ConfigLoadError {
    /// The file could not be read.
    #[error("{}: cannot read: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// Not valid TOML, an unknown key, a missing key or a wrong type.
    #[error("{}:{}:{}: {}{message}", path.display(), location.line, location.column, key_prefix(key.as_deref()))]
    Parse {
        /// The file.
        path: PathBuf,
        /// Where (1-based).
        location: Location,
        /// The key in TOML path form, when the error is about one.
        key: Option<String>,
        /// toml's explanation.
        message: String,
    },
    /// Parsed, but a value is unusable (range, duplicate, dangling
    /// reference).
    #[error("{}:{}:{}: {key}: {message}", path.display(), location.line, location.column)]
    Invalid {
        /// The file.
        path: PathBuf,
        /// Where the key (or, when it was left out, its table) is; 1:1 when
        /// it cannot be located.
        location: Location,
        /// The key in TOML path form, e.g. `sensors[2].detection_radius_m`.
        key: String,
        /// What is wrong.
        message: String,
    },
}

fn key_prefix(key: Option<&str>) -> String {
    key.map(|key| format!("{key}: ")).unwrap_or_default()
}

impl ConfigLoadError {
    /// The offending key, if the error names one.
    pub fn key(&self) -> Option<&str> {
        match self {
            ConfigLoadError::Read { .. } => None,
            ConfigLoadError::Parse { key, .. } => key.as_deref(),
            ConfigLoadError::Invalid { key, .. } => Some(key),
        }
    }

    /// The 1-based line, if the error has one.
    pub fn line(&self) -> Option<usize> {
        match self {
            ConfigLoadError::Read { .. } => None,
            ConfigLoadError::Parse { location, .. } | ConfigLoadError::Invalid { location, .. } => {
                Some(location.line)
            }
        }
    }
}

/// A 1-based line and column in the configuration text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Location {
    /// Line, from 1.
    pub line: usize,
    /// Column (in characters), from 1.
    pub column: usize,
}

impl Location {
    fn of(text: &str, offset: usize) -> Self {
        let before = text.get(..offset.min(text.len())).unwrap_or(text);
        let line = before.matches('\n').count() + 1;
        let column = before
            .rsplit('\n')
            .next()
            .map_or(0, |line| line.chars().count())
            + 1;
        Location { line, column }
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.column)
    }
}

impl Config {
    /// Reads, parses and validates `path`.
    pub fn load(path: &Path) -> Result<Config, ConfigLoadError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigLoadError::Read {
            path: path.to_owned(),
            source,
        })?;
        Config::parse(&text, path)
    }

    /// Parses and validates `text`; `path` names it in errors.
    pub fn parse(text: &str, path: &Path) -> Result<Config, ConfigLoadError> {
        let raw: RawConfig = toml::from_str(text).map_err(|error| {
            let span = error.span();
            let location = span
                .as_ref()
                .map_or(Location { line: 1, column: 1 }, |span| {
                    Location::of(text, span.start)
                });
            let key = span.and_then(|span| key_at(text, &span));
            ConfigLoadError::Parse {
                path: path.to_owned(),
                location,
                key,
                message: error.message().trim_end().to_owned(),
            }
        })?;
        let invalid = |key: String, message: String| {
            let location = locate_key(text, &key).unwrap_or(Location { line: 1, column: 1 });
            ConfigLoadError::Invalid {
                path: path.to_owned(),
                location,
                key,
                message,
            }
        };
        let RawConfig {
            site,
            sensors,
            radiation,
            zones,
            tracker,
            health,
            mqtt,
            serial,
            state,
            recording,
            daemon,
        } = raw;
        let mut engine = EngineConfig {
            site,
            sensors,
            radiation,
            zones,
            tracker,
            health,
        };
        validate_serial(&mut engine, &serial).map_err(|(key, message)| invalid(key, message))?;
        engine
            .validate()
            .map_err(|error| invalid(engine_error_key(&error), engine_error_message(&error)))?;
        validate_state(&state).map_err(|(key, message)| invalid(key, message))?;
        recording
            .validate()
            .map_err(|(key, message)| invalid(key, message))?;
        validate_daemon(&daemon).map_err(|(key, message)| invalid(key, message))?;
        validate_mqtt(&mqtt).map_err(|(key, message)| invalid(key, message))?;
        let largest_input = serial
            .iter()
            .map(|port| port.read_buffer_bytes)
            .fold(mqtt.max_incoming_packet_bytes, usize::max);
        for (key, bytes) in [
            ("daemon.input_channel_mib", daemon.input_channel_bytes()),
            ("recording.queue_mib", recording.queue_bytes()),
        ] {
            if bytes < largest_input {
                return Err(invalid(
                    key.into(),
                    format!(
                        "must hold the largest input, {largest_input} bytes (mqtt.max_incoming_packet_bytes or a serial read_buffer_bytes)"
                    ),
                ));
            }
        }
        if daemon.shutdown_timeout_ms <= mqtt.drain_timeout_ms {
            return Err(invalid(
                "daemon.shutdown_timeout_ms".into(),
                format!(
                    "must exceed mqtt.drain_timeout_ms ({} ms): the outbox drain is part of the shutdown",
                    mqtt.drain_timeout_ms
                ),
            ));
        }
        Ok(Config {
            engine,
            mqtt,
            serial,
            state,
            recording,
            daemon,
        })
    }

    /// The site id (validated at load).
    pub fn site_id(&self) -> Result<picket_schema::SiteId, picket_engine::ConfigError> {
        self.engine.site_id()
    }

    /// A human summary for `picketd --check-config`.
    pub fn summary(&self) -> String {
        use std::fmt::Write as _;
        let mut out = String::new();
        let _ = writeln!(out, "site: {}", self.engine.site.id);
        let kinds = [
            (SensorKind::GroundNode, "ground_node"),
            (SensorKind::RadiationDetector, "radiation_detector"),
            (SensorKind::Camera, "camera"),
            (SensorKind::Radar, "radar"),
            (SensorKind::GeolocatedDetector, "geolocated_detector"),
        ];
        let by_kind: Vec<String> = kinds
            .iter()
            .filter_map(|(kind, name)| {
                let count = self
                    .engine
                    .sensors
                    .iter()
                    .filter(|s| s.kind == *kind)
                    .count();
                (count > 0).then(|| format!("{count} {name}"))
            })
            .collect();
        let _ = writeln!(
            out,
            "sensors: {} ({})",
            self.engine.sensors.len(),
            if by_kind.is_empty() {
                "none".to_owned()
            } else {
                by_kind.join(", ")
            }
        );
        let _ = writeln!(out, "serial ports: {}", self.serial.len());
        for port in &self.serial {
            let _ = writeln!(
                out,
                "  {} @ {} baud{}",
                port.path,
                port.baud_rate,
                port.sensor
                    .as_deref()
                    .map(|sensor| format!(" (sensor {sensor})"))
                    .unwrap_or_default()
            );
        }
        let _ = writeln!(out, "broker: {}", broker_summary(&self.mqtt));
        let _ = writeln!(out, "zones: {}", self.engine.zones.len());
        let _ = writeln!(out, "state: {}", self.state.dir.display());
        let _ = write!(
            out,
            "recording: {}",
            if self.recording.enabled {
                self.recording.dir_in(&self.state.dir).display().to_string()
            } else {
                "off".to_owned()
            }
        );
        out
    }
}

/// `[[serial]]` checks, and applying `sensor` bindings to the engine's
/// sensors. Errors are `(key, message)`.
fn validate_serial(
    engine: &mut EngineConfig,
    serial: &[SerialPortConfig],
) -> Result<(), (String, String)> {
    for (index, port) in serial.iter().enumerate() {
        let key = |field: &str| format!("serial[{index}].{field}");
        if port.path.trim().is_empty() {
            return Err((key("path"), "must not be empty".into()));
        }
        if serial[..index].iter().any(|other| other.path == port.path) {
            return Err((
                key("path"),
                format!("{:?} is already used by another entry", port.path),
            ));
        }
        if port.baud_rate == 0 {
            return Err((key("baud_rate"), "must be > 0".into()));
        }
        if port.reconnect_min_ms == 0 {
            return Err((
                key("reconnect_min_ms"),
                "must be > 0 (a zero delay would spin on a dead port)".into(),
            ));
        }
        if port.reconnect_max_ms < port.reconnect_min_ms {
            return Err((
                key("reconnect_max_ms"),
                "must be >= reconnect_min_ms".into(),
            ));
        }
        if !(1..=1_048_576).contains(&port.read_buffer_bytes) {
            return Err((
                key("read_buffer_bytes"),
                "must be within 1..=1048576".into(),
            ));
        }
        if port.input_full_wait_ms > 60_000 {
            return Err((key("input_full_wait_ms"), "must be at most 60000 ms".into()));
        }
        if let Some(sensor_id) = &port.sensor {
            let Some(sensor) = engine.sensors.iter_mut().find(|s| &s.id == sensor_id) else {
                return Err((
                    key("sensor"),
                    format!("no [[sensors]] entry has id {sensor_id:?}"),
                ));
            };
            match &sensor.serial_port {
                Some(bound) if bound != &port.path => {
                    return Err((
                        key("sensor"),
                        format!("sensor {sensor_id:?} is already bound to serial_port {bound:?}"),
                    ));
                }
                _ => sensor.serial_port = Some(port.path.clone()),
            }
        }
    }
    // A sensor bound to a port nobody opens would stay silent forever: say
    // so now rather than at 3 a.m.
    for (index, sensor) in engine.sensors.iter().enumerate() {
        if let Some(bound) = &sensor.serial_port
            && !serial.iter().any(|port| &port.path == bound)
        {
            return Err((
                format!("sensors[{index}].serial_port"),
                format!("no [[serial]] entry opens {bound:?}"),
            ));
        }
    }
    Ok(())
}

fn validate_state(state: &StateConfig) -> Result<(), (String, String)> {
    if state.dir.as_os_str().is_empty() {
        return Err(("state.dir".into(), "must not be empty".into()));
    }
    if state.outbox.max_entries == 0 {
        return Err(("state.outbox.max_entries".into(), "must be > 0".into()));
    }
    if state.outbox.max_bytes == 0 {
        return Err(("state.outbox.max_bytes".into(), "must be > 0".into()));
    }
    Ok(())
}

fn validate_daemon(daemon: &DaemonSettings) -> Result<(), (String, String)> {
    let key = |field: &str| format!("daemon.{field}");
    if daemon.input_channel_capacity == 0 || daemon.input_channel_capacity > 16_777_216 {
        return Err((
            key("input_channel_capacity"),
            "must be within 1..=16777216".into(),
        ));
    }
    if !(1..=MAX_QUEUE_MIB).contains(&daemon.input_channel_mib) {
        return Err((
            key("input_channel_mib"),
            format!("must be within 1..={MAX_QUEUE_MIB}"),
        ));
    }
    for (field, value, max) in [
        ("tick_interval_ms", daemon.tick_interval_ms, 10_000),
        ("status_interval_ms", daemon.status_interval_ms, 3_600_000),
        ("shutdown_timeout_ms", daemon.shutdown_timeout_ms, 600_000),
        (
            "broker_ready_timeout_ms",
            daemon.broker_ready_timeout_ms,
            600_000,
        ),
    ] {
        if value == 0 || value > max {
            return Err((key(field), format!("must be within 1..={max} ms")));
        }
    }
    if let Err(error) = tracing_subscriber::EnvFilter::try_new(&daemon.log_filter) {
        return Err((key("log_filter"), format!("not a tracing filter: {error}")));
    }
    Ok(())
}

fn validate_mqtt(mqtt: &MqttSettings) -> Result<(), (String, String)> {
    match mqtt.validate() {
        Ok(()) => Ok(()),
        Err(crate::mqtt::MqttError::Settings { key, reason }) => {
            Err((format!("mqtt.{key}"), reason))
        }
        Err(other) => Err(("mqtt".into(), other.to_string())),
    }
}

/// `host:port (TLS|plaintext), N subscriptions` for the summary.
fn broker_summary(mqtt: &MqttSettings) -> String {
    let transport = match &mqtt.tls {
        Some(tls) if tls.cert_file.is_some() => "TLS, client certificate",
        Some(_) => "TLS",
        None => "plaintext",
    };
    let credentials = if mqtt.credentials_file.is_some() || mqtt.credential.is_some() {
        ", password"
    } else {
        ""
    };
    format!(
        "{}:{} ({transport}{credentials}), subscriptions: {}",
        mqtt.host,
        mqtt.port,
        if mqtt.subscriptions.is_empty() {
            "none".to_owned()
        } else {
            mqtt.subscriptions.join(" ")
        }
    )
}

/// The TOML path an engine configuration error is about.
fn engine_error_key(error: &picket_engine::ConfigError) -> String {
    use picket_engine::ConfigError;
    match error {
        ConfigError::OutOfRange { key, .. }
        | ConfigError::InvalidId { key, .. }
        | ConfigError::Duplicate { key, .. }
        | ConfigError::Inconsistent { key, .. } => key.clone(),
        ConfigError::Tracker { field, .. } => format!("tracker.{field}"),
    }
}

/// The engine error's text without its leading `key: `.
fn engine_error_message(error: &picket_engine::ConfigError) -> String {
    let text = error.to_string();
    let key = engine_error_key(error);
    text.strip_prefix(&format!("{key}: "))
        .map(str::to_owned)
        .unwrap_or(text)
}

/// One step of a TOML path.
#[derive(Debug, PartialEq, Eq)]
enum Step {
    Key(String),
    Index(usize),
}

/// Splits `sensors[2].camera.horizontal_fov_deg` into steps.
fn parse_path(path: &str) -> Vec<Step> {
    let mut steps = Vec::new();
    for part in path.split('.') {
        let mut rest = part;
        if let Some(open) = rest.find('[') {
            let (name, indices) = rest.split_at(open);
            if !name.is_empty() {
                steps.push(Step::Key(name.to_owned()));
            }
            rest = indices;
            while let Some(stripped) = rest.strip_prefix('[') {
                let Some(close) = stripped.find(']') else {
                    break;
                };
                if let Ok(index) = stripped[..close].parse() {
                    steps.push(Step::Index(index));
                }
                rest = &stripped[close + 1..];
            }
        } else if !rest.is_empty() {
            steps.push(Step::Key(rest.to_owned()));
        }
    }
    steps
}

/// Where the key at `path` is written, or the deepest table on the way to it
/// when the key itself was left out (its default is what failed).
fn locate_key(text: &str, path: &str) -> Option<Location> {
    let root = DeTable::parse(text).ok()?;
    let steps = parse_path(path);
    let mut best: Range<usize> = root.span();
    let mut table = Some(root.get_ref());
    let mut value: Option<&DeValue<'_>> = None;
    for step in &steps {
        let next = match (step, table, value) {
            (Step::Key(name), Some(table), _) => table
                .iter()
                .find(|(key, _)| key.get_ref().as_ref() == name.as_str())
                .map(|(key, value)| (key.span(), value)),
            (Step::Index(index), _, Some(DeValue::Array(array))) => {
                array.get(*index).map(|item| (item.span(), item))
            }
            _ => None,
        };
        let Some((span, item)) = next else {
            break;
        };
        best = span;
        value = Some(item.get_ref());
        table = match item.get_ref() {
            DeValue::Table(inner) => Some(inner),
            _ => None,
        };
    }
    Some(Location::of(text, best.start))
}

/// The TOML path of the innermost key whose key or value span contains
/// `span.start`, for naming the key in a serde error.
fn key_at(text: &str, span: &Range<usize>) -> Option<String> {
    let root = DeTable::parse(text).ok()?;
    let mut path = String::new();
    let mut found = false;
    walk_table(root.get_ref(), span.start, &mut path, &mut found);
    found.then_some(path)
}

fn walk_table(table: &DeTable<'_>, offset: usize, path: &mut String, found: &mut bool) {
    for (key, value) in table.iter() {
        let key_span = key.span();
        let value_span = value.span();
        let in_key = key_span.contains(&offset);
        let in_value = value_span.contains(&offset);
        // A table header's value span may not cover its body, so also
        // descend into tables and arrays whose children contain the offset.
        if in_key || in_value || contains_offset(value.get_ref(), offset) {
            if !path.is_empty() {
                path.push('.');
            }
            path.push_str(key.get_ref());
            *found = true;
            if !in_key {
                walk_value(value.get_ref(), offset, path, found);
            }
            return;
        }
    }
}

fn walk_value(value: &DeValue<'_>, offset: usize, path: &mut String, found: &mut bool) {
    match value {
        DeValue::Table(table) => walk_table(table, offset, path, found),
        DeValue::Array(array) => {
            for (index, item) in array.iter().enumerate() {
                if item.span().contains(&offset) || contains_offset(item.get_ref(), offset) {
                    path.push_str(&format!("[{index}]"));
                    walk_value(item.get_ref(), offset, path, found);
                    return;
                }
            }
        }
        _ => {}
    }
}

fn contains_offset(value: &DeValue<'_>, offset: usize) -> bool {
    match value {
        DeValue::Table(table) => table.iter().any(|(key, value)| {
            key.span().contains(&offset)
                || value.span().contains(&offset)
                || contains_offset(value.get_ref(), offset)
        }),
        DeValue::Array(array) => array
            .iter()
            .any(|item| item.span().contains(&offset) || contains_offset(item.get_ref(), offset)),
        _ => false,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"
[site]
id = "tower-07"
origin = { lat = 31.33, lon = -110.94, alt_m = 1200.0 }

[[sensors]]
id = "gn-01"
kind = "ground_node"
position = { lat = 31.3301, lon = -110.94 }

[[sensors]]
id = "rad-01"
kind = "radiation_detector"
position = { lat = 31.3302, lon = -110.94 }
detection_radius_m = 5.0

[mqtt]
host = "127.0.0.1"
port = 1883
client_id = "picketd-tower-07"

[[serial]]
path = "/dev/serial/by-id/usb-rad"
sensor = "rad-01"

[state]
dir = "/tmp/picket-state"
"#;

    fn parse(text: &str) -> Result<Config, ConfigLoadError> {
        Config::parse(text, Path::new("/etc/picket/picketd.toml"))
    }

    #[test]
    fn minimal_config_parses_and_binds_ports() {
        let config = parse(MINIMAL).unwrap();
        assert_eq!(config.engine.sensors.len(), 2);
        assert_eq!(
            config.engine.sensors[1].serial_port.as_deref(),
            Some("/dev/serial/by-id/usb-rad")
        );
        assert_eq!(config.serial[0].baud_rate, defaults::BAUD_RATE);
        assert_eq!(
            config.daemon.input_channel_capacity,
            defaults::INPUT_CHANNEL_CAPACITY
        );
        let summary = config.summary();
        assert!(
            summary.contains("1 ground_node, 1 radiation_detector"),
            "{summary}"
        );
    }

    #[test]
    fn parse_error_names_file_line_and_key() {
        let text = MINIMAL.replace("detection_radius_m = 5.0", "detection_radius_mm = 5.0");
        let error = parse(&text).unwrap_err();
        let line = text
            .lines()
            .position(|l| l.starts_with("detection_radius_mm"))
            .unwrap()
            + 1;
        assert!(matches!(error, ConfigLoadError::Parse { .. }), "{error}");
        assert_eq!(error.line(), Some(line), "{error}");
        assert_eq!(
            error.key(),
            Some("sensors[1].detection_radius_mm"),
            "{error}"
        );
        let shown = error.to_string();
        assert!(
            shown.starts_with(&format!("/etc/picket/picketd.toml:{line}:")),
            "{shown}"
        );
        assert!(shown.contains("sensors[1].detection_radius_mm"), "{shown}");
    }

    #[test]
    fn wrong_type_names_the_key() {
        let text = MINIMAL.replace("port = 1883", "port = \"1883\"");
        let error = parse(&text).unwrap_err();
        let line = text.lines().position(|l| l.starts_with("port =")).unwrap() + 1;
        assert_eq!(error.line(), Some(line), "{error}");
        assert_eq!(error.key(), Some("mqtt.port"), "{error}");
    }

    #[test]
    fn validation_error_names_file_line_and_key() {
        let text = MINIMAL.replace("detection_radius_m = 5.0", "detection_radius_m = -5.0");
        let error = parse(&text).unwrap_err();
        let line = text
            .lines()
            .position(|l| l.starts_with("detection_radius_m"))
            .unwrap()
            + 1;
        assert!(matches!(error, ConfigLoadError::Invalid { .. }), "{error}");
        assert_eq!(error.key(), Some("sensors[1].detection_radius_m"));
        assert_eq!(error.line(), Some(line), "{error}");
        assert!(
            error
                .to_string()
                .starts_with(&format!("/etc/picket/picketd.toml:{line}:")),
            "{error}"
        );
    }

    #[test]
    fn dangling_serial_sensor_is_rejected_at_its_line() {
        let text = MINIMAL.replace("sensor = \"rad-01\"", "sensor = \"rad-99\"");
        let error = parse(&text).unwrap_err();
        let line = text
            .lines()
            .position(|l| l.starts_with("sensor ="))
            .unwrap()
            + 1;
        assert_eq!(error.key(), Some("serial[0].sensor"));
        assert_eq!(error.line(), Some(line), "{error}");
    }

    #[test]
    fn sensor_port_without_serial_entry_is_rejected() {
        let text = MINIMAL.replace(
            "position = { lat = 31.3301, lon = -110.94 }",
            "position = { lat = 31.3301, lon = -110.94 }\nserial_port = \"/dev/ttyUSB9\"",
        );
        let error = parse(&text).unwrap_err();
        assert_eq!(error.key(), Some("sensors[0].serial_port"), "{error}");
    }

    #[test]
    fn queue_budgets_must_hold_the_largest_input() {
        // 2 MiB MQTT packets, and a 1 MiB budget in `table`.
        let with_big_packets = |table: &str| {
            let minimal = MINIMAL.replace(
                "port = 1883",
                "port = 1883\nmax_incoming_packet_bytes = 2097152",
            );
            format!("{minimal}\n{table}\n")
        };
        let text = with_big_packets("[daemon]\ninput_channel_mib = 1");
        let error = parse(&text).unwrap_err();
        assert_eq!(error.key(), Some("daemon.input_channel_mib"), "{error}");
        assert_eq!(error.line(), Some(text.lines().count()), "{error}");
        assert!(error.to_string().contains("2097152 bytes"), "{error}");
        let text = with_big_packets("[recording]\nqueue_mib = 1");
        let error = parse(&text).unwrap_err();
        assert_eq!(error.key(), Some("recording.queue_mib"), "{error}");
        // 2 MiB holds it.
        parse(&text.replace("queue_mib = 1", "queue_mib = 2")).unwrap();
        // The defaults hold the default packet limit.
        let config = parse(MINIMAL).unwrap();
        assert_eq!(config.daemon.input_channel_bytes(), 32 << 20);
        assert_eq!(config.recording.queue_bytes(), 32 << 20);
    }

    #[test]
    fn daemon_settings_are_checked() {
        let text = format!("{MINIMAL}\n[daemon]\ntick_interval_ms = 0\n");
        let error = parse(&text).unwrap_err();
        assert_eq!(error.key(), Some("daemon.tick_interval_ms"));
        assert_eq!(error.line(), Some(text.lines().count()), "{error}");
    }

    #[test]
    fn example_config_is_valid() {
        let text = include_str!("../../../config/picketd.toml");
        let config = parse(text).unwrap();
        let kinds: Vec<SensorKind> = config.engine.sensors.iter().map(|s| s.kind).collect();
        for kind in [
            SensorKind::GroundNode,
            SensorKind::RadiationDetector,
            SensorKind::Camera,
            SensorKind::Radar,
            SensorKind::GeolocatedDetector,
        ] {
            assert!(kinds.contains(&kind), "example lacks {kind:?}");
        }
        assert!(!config.serial.is_empty() && !config.mqtt.subscriptions.is_empty());
    }

    #[test]
    fn paths_split_into_steps() {
        assert_eq!(
            parse_path("zones[0].wgs84[3]"),
            vec![
                Step::Key("zones".into()),
                Step::Index(0),
                Step::Key("wgs84".into()),
                Step::Index(3)
            ]
        );
    }
}
