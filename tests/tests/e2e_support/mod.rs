//! Shared fixtures of the picketd end-to-end tests: socat ptys, a config
//! builder, picket-wire message builders, the JSON Schemas, CPU time.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use picket_engine::geodesy::{Geodetic, LocalFrame};
use picket_wire::{
    AlarmFlags, FaultFlags, GeoPosition, Heartbeat, MAX_ENCODED_FRAME_LEN, Message, PositionReport,
    RadiationSample, TargetClass, encode_frame,
};
use picketd::Config;
use picketd::daemon::{DaemonError, RunOptions, RunReport};
use serde_json::Value;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub const SITE: &str = "e2e";
pub const ORIGIN: (f64, f64, f64) = (31.33, -110.94, 1200.0);

/// A socat pty pair with stable link names: the daemon opens `device`, the
/// test writes into `sensor`. Killing socat is an unplug; starting it again
/// with the same names is a re-plug.
pub struct Pty {
    pub device: PathBuf,
    pub sensor: PathBuf,
    child: Option<Child>,
}

impl Pty {
    pub fn start(dir: &Path, name: &str) -> Pty {
        let mut pty = Pty {
            device: dir.join(format!("{name}-dev")),
            sensor: dir.join(format!("{name}-sensor")),
            child: None,
        };
        pty.plug();
        pty
    }

    /// Starts socat and waits (bounded) for both links.
    pub fn plug(&mut self) {
        assert!(self.child.is_none(), "already plugged");
        let _ = std::fs::remove_file(&self.device);
        let _ = std::fs::remove_file(&self.sensor);
        let child = Command::new("socat")
            .arg(format!(
                "pty,raw,echo=0,link={}",
                self.device.to_str().unwrap()
            ))
            .arg(format!(
                "pty,raw,echo=0,link={}",
                self.sensor.to_str().unwrap()
            ))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("socat is installed (apt-get install socat)");
        self.child = Some(child);
        // socat has no readiness signal; its links appear when both ptys
        // exist. Poll with a bound.
        let deadline = Instant::now() + Duration::from_secs(10);
        while !(self.device.exists() && self.sensor.exists()) {
            assert!(Instant::now() < deadline, "socat links did not appear");
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Kills socat: the daemon's side reads EOF/EIO, the links vanish.
    pub fn unplug(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Opens the sensor end for writing.
    pub fn writer(&self) -> std::fs::File {
        std::fs::OpenOptions::new()
            .write(true)
            .open(&self.sensor)
            .expect("open the sensor end of the pty")
    }
}

impl Drop for Pty {
    fn drop(&mut self) {
        self.unplug();
    }
}

pub fn frame() -> LocalFrame {
    LocalFrame::new(Geodetic {
        lat_deg: ORIGIN.0,
        lon_deg: ORIGIN.1,
        alt_m: ORIGIN.2,
    })
}

/// `lat, lon` of a point of the site frame.
pub fn at(east: f64, north: f64) -> (f64, f64) {
    let g = frame().ground_to_geodetic(east, north);
    (g.lat_deg, g.lon_deg)
}

/// A TOML configuration: a radar on the serial pty (bound), a radiation
/// detector on MQTT, short lags and intervals for tests. `extra` is
/// appended (more tables).
pub fn config_text(broker_port: u16, state: &Path, serial_path: &Path, extra: &str) -> String {
    let (geo_lat, geo_lon) = at(0.0, -100.0);
    let (rad_lat, rad_lon) = at(0.0, 0.0);
    format!(
        r#"
[site]
id = "{SITE}"
origin = {{ lat = {}, lon = {}, alt_m = {} }}
reorder_lag_ms = 100

[[sensors]]
id = "geo-01"
kind = "geolocated_detector"
position = {{ lat = {geo_lat}, lon = {geo_lon}, alt_m = 1200.0 }}
position_sigma_m = 3.0
expected_interval_s = 5.0

[[sensors]]
id = "rad-01"
kind = "radiation_detector"
position = {{ lat = {rad_lat}, lon = {rad_lon}, alt_m = 1200.0 }}
detection_radius_m = 10.0
expected_interval_s = 5.0

[health]
publish_interval_s = 1.0

[mqtt]
host = "127.0.0.1"
port = {broker_port}
client_id = "picketd-e2e"
subscriptions = ["picket/{SITE}/sensors/+/reports"]
reconnect_backoff_min_ms = 100
reconnect_backoff_max_ms = 500
drain_timeout_ms = 5000

[[serial]]
path = "{}"
sensor = "geo-01"
reconnect_min_ms = 50
reconnect_max_ms = 500

[state]
dir = "{}"

[state.outbox]
fsync = "never"

[daemon]
tick_interval_ms = 50
status_interval_ms = 200
shutdown_timeout_ms = 10000
broker_ready_timeout_ms = 5000
{extra}
"#,
        ORIGIN.0,
        ORIGIN.1,
        ORIGIN.2,
        serial_path.display(),
        state.display(),
    )
}

pub fn parse_config(text: &str) -> Config {
    Config::parse(text, Path::new("e2e.toml")).unwrap_or_else(|e| panic!("{e}\n{text}"))
}

/// A running in-process daemon with an injected shutdown.
pub struct Daemon {
    pub task: JoinHandle<Result<RunReport, DaemonError>>,
    stop: Option<oneshot::Sender<()>>,
}

impl Daemon {
    pub fn start(config: Config) -> Daemon {
        Self::start_with(config, RunOptions::default())
    }

    pub fn start_with(config: Config, options: RunOptions) -> Daemon {
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(picketd::run_with(config, options, async move {
            let _ = stopped.await;
        }));
        Daemon {
            task,
            stop: Some(stop),
        }
    }

    /// Triggers the graceful shutdown and waits (bounded) for the report.
    pub async fn stop(mut self, bound: Duration) -> (RunReport, Duration) {
        let started = Instant::now();
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let report = tokio::time::timeout(bound, &mut self.task)
            .await
            .expect("daemon stopped within the bound")
            .expect("daemon task did not panic")
            .expect("daemon run succeeded");
        (report, started.elapsed())
    }
}

pub fn now_us() -> i64 {
    picketd::now().as_unix_micros()
}

pub fn wire(message: &Message) -> Vec<u8> {
    let mut buffer = [0u8; MAX_ENCODED_FRAME_LEN];
    encode_frame(message, &mut buffer).unwrap().to_vec()
}

pub fn json(message: &Message) -> Vec<u8> {
    serde_json::to_vec(message).unwrap()
}

/// A position report at `(east, north)` of the site frame, timed now.
pub fn position(sequence: u32, east: f64, north: f64) -> Message {
    position_at(sequence, now_us(), east, north)
}

/// A position report at `time_us`. A sensor reports every target of one
/// scan with the same time: the tracker takes a scan as one time step, and
/// targets missing from it as missed detections.
pub fn position_at(sequence: u32, time_us: i64, east: f64, north: f64) -> Message {
    let (lat, lon) = at(east, north);
    Message::PositionReport(PositionReport {
        sequence,
        sensor_time_us: time_us as u64,
        position: GeoPosition {
            latitude_e7: (lat * 1e7).round() as i32,
            longitude_e7: (lon * 1e7).round() as i32,
            variance_east_m2: 4.0,
            variance_north_m2: 4.0,
            covariance_east_north_m2: 0.0,
        },
        altitude_m: None,
        velocity: None,
        sensor_track_id: None,
        class: TargetClass::Person,
    })
}

pub fn heartbeat() -> Message {
    Message::Heartbeat(Heartbeat {
        sensor_time_us: now_us() as u64,
        uptime_s: 100,
        battery_mv: Some(3700),
        temperature_decicelsius: 215,
        tamper: false,
        faults: FaultFlags(0),
    })
}

/// A one-second radiation sample ending now, alarmed by the detector.
pub fn radiation_alarm(sequence: u32) -> Message {
    Message::RadiationSample(RadiationSample {
        sequence,
        interval_start_us: (now_us() - 1_000_000) as u64,
        interval_ms: 1000,
        gamma_counts: 5000,
        neutron_counts: 0,
        spectrum: None,
        alarms: AlarmFlags(AlarmFlags::GAMMA),
    })
}

/// Writes `bytes` into the pty (whole write, flushed).
pub fn write_all(writer: &mut std::fs::File, bytes: &[u8]) {
    writer.write_all(bytes).unwrap();
    writer.flush().unwrap();
}

/// The four JSON Schemas.
pub struct Schemas {
    pub track: jsonschema::Validator,
    pub alert: jsonschema::Validator,
    pub status: jsonschema::Validator,
    pub health: jsonschema::Validator,
}

impl Schemas {
    pub fn new() -> Schemas {
        let load = |text: &str| {
            let schema: Value = serde_json::from_str(text).unwrap();
            jsonschema::draft202012::new(&schema).unwrap()
        };
        Schemas {
            track: load(picket_schema::TRACK_SCHEMA),
            alert: load(picket_schema::ALERT_SCHEMA),
            status: load(picket_schema::STATUS_SCHEMA),
            health: load(picket_schema::SENSOR_HEALTH_SCHEMA),
        }
    }

    /// Validates a message read off `topic` against its schema (empty
    /// payloads are track clears and have no body). Returns the JSON.
    pub fn check(&self, topic: &str, payload: &[u8]) -> Option<Value> {
        if payload.is_empty() {
            return None;
        }
        let value: Value =
            serde_json::from_slice(payload).unwrap_or_else(|e| panic!("{topic}: not JSON ({e})"));
        let prefix = format!("picket/{SITE}/");
        let rest = topic.strip_prefix(&prefix).unwrap_or(topic);
        let validator = if rest.starts_with("tracks/") {
            &self.track
        } else if rest == "alerts" {
            &self.alert
        } else if rest == "status" {
            &self.status
        } else if rest.starts_with("sensors/") && rest.ends_with("/health") {
            &self.health
        } else {
            return Some(value);
        };
        if let Err(error) = validator.validate(&value) {
            panic!("{topic}: fails its JSON Schema: {error}\n{value}");
        }
        Some(value)
    }
}

/// utime + stime of this process, in clock ticks (`/proc/self/stat`).
pub fn cpu_ticks() -> u64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
    // Fields after the command name (which may contain spaces) start after
    // the last ')'; utime and stime are fields 14 and 15 overall.
    let after = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<&str> = after.split_whitespace().collect();
    let utime: u64 = fields[11].parse().unwrap();
    let stime: u64 = fields[12].parse().unwrap();
    utime + stime
}

/// Clock ticks per second (`getconf CLK_TCK`, 100 on Linux).
pub fn ticks_per_second() -> u64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|out| String::from_utf8(out.stdout).ok())
        .and_then(|text| text.trim().parse().ok())
        .unwrap_or(100)
}

/// The latest status message's counter `name`, if any status was received.
pub fn status_counter(
    messages: &[picket_system_tests::mosquitto::Received],
    name: &str,
) -> Option<u64> {
    let topic = format!("picket/{SITE}/status");
    messages
        .iter()
        .rev()
        .filter(|m| m.topic == topic && !m.payload.is_empty())
        .find_map(|m| {
            let value: Value = serde_json::from_slice(&m.payload).ok()?;
            if value["state"] != "online" {
                return None;
            }
            value["counters"][name].as_u64()
        })
}

// ---- Fault-suite rigs ------------------------------------------------------

/// Confirmed track messages among `messages`.
pub fn confirmed_tracks(messages: &[picket_system_tests::mosquitto::Received]) -> usize {
    messages
        .iter()
        .filter(|m| m.topic.contains("/tracks/") && !m.payload.is_empty())
        .filter_map(|m| serde_json::from_slice::<Value>(&m.payload).ok())
        .filter(|v| v["status"] == "confirmed")
        .count()
}

/// The outbox sequence numbers of the outputs among `messages` (not the
/// status, which has its own, nor sensor reports; track clears carry none).
pub fn output_seqs(
    messages: &[picket_system_tests::mosquitto::Received],
) -> std::collections::BTreeSet<u64> {
    messages
        .iter()
        .filter(|m| {
            !m.payload.is_empty() && !m.topic.ends_with("/status") && !m.topic.ends_with("/reports")
        })
        .filter_map(|m| serde_json::from_slice::<Value>(&m.payload).ok())
        .filter_map(|v| v["seq"].as_u64())
        .collect()
}

/// A broker, a pty and a daemon reading it (config from `config_text`,
/// edited by `edit`), and a subscriber to everything under the site.
pub struct Rig {
    pub broker: picket_system_tests::mosquitto::Mosquitto,
    _dir: tempfile::TempDir,
    pub pty: Pty,
    pub sub: picket_system_tests::mosquitto::Subscriber,
    pub daemon: Daemon,
    pub port_key: String,
}

pub async fn rig(name: &str, edit: impl FnOnce(String) -> String) -> Rig {
    let broker = picket_system_tests::mosquitto::Mosquitto::start().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let pty = Pty::start(dir.path(), "geo");
    let state = dir.path().join("state");
    let config = parse_config(&edit(config_text(broker.port(), &state, &pty.device, "")));
    let sub = picket_system_tests::mosquitto::Subscriber::connect(
        broker.port(),
        name,
        &[&format!("picket/{SITE}/#")],
    )
    .await
    .unwrap();
    let daemon = Daemon::start(config);
    let port_key = format!("serial.{}", pty.device.display());
    sub.wait_for(Duration::from_secs(30), |m| {
        status_counter(m, &format!("{port_key}.connected")) == Some(1)
    })
    .await
    .expect("birth status with the port open");
    Rig {
        broker,
        _dir: dir,
        pty,
        sub,
        daemon,
        port_key,
    }
}

/// A walker going north at 2 m/s, `step` at 20 Hz.
pub fn walker_frame(sequence: u32, step: u32) -> Vec<u8> {
    wire(&position(
        sequence,
        0.5,
        -20.0 + f64::from(step) * 2.0 / 20.0,
    ))
}
