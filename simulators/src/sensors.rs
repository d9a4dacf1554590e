//! Virtual sensors: what a scenario's sensors say, as the picket-wire
//! messages real firmware would send, and the picketd configuration that
//! describes those sensors.
//!
//! # Time
//! picketd stamps what it receives with the host clock and drops reports
//! from the future or older than its reorder lag, so a simulated sensor
//! must report "now". At N× speed scenario time `t` is reported as
//! `start + t / N` of wall time: picketd sees the scenario N times faster
//! (speeds N× higher, intervals N× shorter). The configuration written for
//! a speed scales the tracker's and health's time constants to match, so
//! that the tracker faces the same problem as at 1×, and [`Clock`] maps
//! picketd's times back to scenario time for scoring.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::path::Path;

use picket_engine::geodesy::{Geodetic, LocalFrame};
use picket_wire::{
    AlarmFlags, Bearing, CameraTarget, CameraTrigger, Elevation, FaultFlags, FirmwareVersion,
    GeoPosition, GroundEvent, Heartbeat, Hello, Message, PROTOCOL_VERSION, PositionReport,
    RadiationSample, RangeBearingReport, SensorKind, TargetClass, TimeBase,
};

use crate::scenario::{EventBody, ScenarioConfig, SensorEvent, SiteSpec, Transport};

/// Site used when a scenario has no `[site]` (the sample-shaped ones).
pub fn default_site() -> SiteSpec {
    SiteSpec {
        id: "sim".into(),
        lat: 31.33,
        lon: -110.94,
        alt_m: 1200.0,
    }
}

/// Maps scenario seconds to sensor timestamps (Unix µs) and back.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Clock {
    /// Unix µs of scenario time 0.
    pub start_us: i64,
    /// Scenario seconds per wall second.
    pub speed: f64,
}

impl Clock {
    /// Sensor timestamp of scenario time `t`.
    pub fn sensor_time_us(&self, t: f64) -> i64 {
        self.start_us + (t / self.speed * 1e6).round() as i64
    }

    /// Scenario time of a timestamp, to 0.1 ms. Timestamps are whole
    /// microseconds, so at most speeds a scan at `t` maps back to a hair
    /// after `t`; the scoring protocol evaluates at whole seconds and takes
    /// states no later than the evaluation time, so that hair would make
    /// every on-the-second scan a second late. Rounding to well below the
    /// simulation tick removes it (the error is at most speed/2 µs).
    pub fn scenario_time(&self, time_us: i64) -> f64 {
        let t = (time_us - self.start_us) as f64 / 1e6 * self.speed;
        (t * 1e4).round() / 1e4
    }
}

/// One sensor of a scenario, as picketd must be told about it.
#[derive(Debug, Clone, PartialEq)]
pub struct SensorSpec {
    /// Sensor id.
    pub id: String,
    /// picket-wire kind.
    pub kind: SensorKind,
    /// How its messages travel.
    pub transport: Transport,
    /// Where it stands in the site frame.
    pub position: [f64; 2],
    /// The `[[sensors]]` keys beyond id, kind and position, as TOML lines.
    extra: Vec<String>,
}

/// Every sensor of `config` that virtual sensors can play, in a fixed
/// order. The sample-shaped ground sensor line (`ugs`) is not among them:
/// its nodes report positions in the neutral format only.
pub fn sensors(config: &ScenarioConfig, speed: f64) -> Vec<SensorSpec> {
    let mut out = Vec::new();
    // A sensor unheard for `silence_factor` of this is reported silent.
    let interval = |seconds: f64| format!("expected_interval_s = {:.6}", seconds / speed);
    for node in &config.ground_nodes {
        out.push(SensorSpec {
            id: node.id.clone(),
            kind: SensorKind::GroundNode,
            transport: node.transport,
            position: node.position,
            extra: vec![
                format!("detection_radius_m = {:.3}", node.radius),
                interval(node.heartbeat),
            ],
        });
    }
    for portal in &config.portals {
        out.push(SensorSpec {
            id: portal.id.clone(),
            kind: SensorKind::RadiationDetector,
            transport: portal.transport,
            position: portal.position,
            extra: vec![
                format!("detection_radius_m = {:.3}", portal.radius),
                interval(portal.heartbeat.max(portal.interval)),
            ],
        });
    }
    for camera in &config.cameras {
        out.push(SensorSpec {
            id: camera.id.clone(),
            kind: SensorKind::Camera,
            transport: camera.transport,
            position: camera.position,
            extra: vec![
                format!("heading_deg = {:.3}", camera.heading_deg),
                format!("field_of_view_deg = {:.3}", camera.fov_deg),
                format!("bearing_sigma_deg = {:.3}", camera.bearing_sigma_deg),
                // Cameras speak only when they see something.
                interval(config.duration),
            ],
        });
    }
    for radar in &config.radars {
        let (kind, position, extra) = match radar.position {
            Some(position) => (
                SensorKind::Radar,
                position,
                vec![
                    format!("range_sigma_m = {:.3}", radar.sigma),
                    format!("bearing_sigma_deg = {:.3}", radar.bearing_sigma_deg),
                ],
            ),
            None => (
                SensorKind::GeolocatedDetector,
                radar.center.unwrap_or([0.0, 0.0]),
                vec![format!("position_sigma_m = {:.3}", radar.sigma)],
            ),
        };
        let mut extra = extra;
        extra.push(interval(config.duration));
        out.push(SensorSpec {
            id: radar.id.clone(),
            kind,
            transport: radar.transport,
            position,
            extra,
        });
    }
    out
}

fn kind_name(kind: SensorKind) -> &'static str {
    match kind {
        SensorKind::GroundNode => "ground_node",
        SensorKind::RadiationDetector => "radiation_detector",
        SensorKind::Camera => "camera",
        SensorKind::Radar => "radar",
        SensorKind::GeolocatedDetector => "geolocated_detector",
    }
}

/// Where picketd finds its broker, serial ports and state.
#[derive(Debug, Clone)]
pub struct DaemonSetup<'a> {
    /// Broker host.
    pub broker_host: &'a str,
    /// Broker port.
    pub broker_port: u16,
    /// MQTT client id of picketd.
    pub client_id: &'a str,
    /// Serial device of each serial sensor, by sensor id.
    pub serial_paths: &'a BTreeMap<String, String>,
    /// picketd's state directory (outbox).
    pub state_dir: &'a Path,
    /// Scenario seconds per wall second.
    pub speed: f64,
}

/// A TOML string literal (basic string, escaped).
fn quoted(text: &str) -> String {
    let mut out = String::from("\"");
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04X}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The topic an MQTT sensor publishes its reports on; `sensor` "+" gives
/// picketd's subscription to all of them.
pub fn report_topic(site: &str, sensor: &str) -> String {
    format!("picket/{site}/sensors/{sensor}/reports")
}

/// picketd's `daemon.tick_interval_ms` in the configuration
/// [`daemon_config`] writes (and the ticks `picket-sim record` records).
pub const TICK_INTERVAL_MS: u64 = 50;

/// The picketd configuration (TOML) for `config`'s sensors at `setup`.
pub fn daemon_config(config: &ScenarioConfig, setup: &DaemonSetup<'_>) -> String {
    let site = config.site.clone().unwrap_or_else(default_site);
    let frame = site_frame(&site);
    let speed = setup.speed;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "# picketd configuration for scenario seed {} at {speed}x speed, written by picket-sim.\n\
         # Time constants are divided by the speed (and the tracker's noise scaled)\n\
         # because picketd sees the scenario {speed} times faster than real time.\n",
        config.seed
    );
    let _ = writeln!(
        s,
        "[site]\nid = {}\norigin = {{ lat = {:.9}, lon = {:.9}, alt_m = {:.3} }}\n\
         reorder_lag_ms = 150\n",
        quoted(&site.id),
        site.lat,
        site.lon,
        site.alt_m
    );
    for sensor in sensors(config, speed) {
        let g = frame.ground_to_geodetic(sensor.position[0], sensor.position[1]);
        let _ = writeln!(
            s,
            "[[sensors]]\nid = {}\nkind = \"{}\"\nposition = {{ lat = {:.9}, lon = {:.9}, alt_m = {:.3} }}",
            quoted(&sensor.id),
            kind_name(sensor.kind),
            g.lat_deg,
            g.lon_deg,
            site.alt_m
        );
        for line in &sensor.extra {
            let _ = writeln!(s, "{line}");
        }
        s.push('\n');
    }
    let defaults = picket_track::TrackerConfig::default();
    let _ = writeln!(
        s,
        "[radiation]\nbackground_time_constant_s = {:.6}\n",
        120.0 / speed
    );
    // q has units m²/s³: scenario time compressed by N multiplies it by
    // N³; speeds by N; the turn noise (q per squared speed, 1/s) by N.
    let _ = writeln!(
        s,
        "[tracker]\nprocess_noise = {:.9}\nmanoeuvre_turn_noise = {:.9}\n\
         initial_speed_sigma = {:.6}\nmax_coast_time = {:.6}\ntentative_timeout = {:.6}\n\
         republish_interval_s = {:.6}\nmin_update_interval_s = {:.6}\n",
        defaults.process_noise * speed.powi(3),
        defaults.manoeuvre_turn_noise * speed,
        defaults.initial_speed_sigma * speed,
        defaults.max_coast_time / speed,
        defaults.tentative_timeout / speed,
        1.0 / speed,
        0.1 / speed
    );
    let _ = writeln!(s, "[health]\npublish_interval_s = {:.6}\n", 30.0 / speed);
    let _ = writeln!(
        s,
        "[mqtt]\nhost = {}\nport = {}\nclient_id = {}\nsubscriptions = [{}]\n\
         reconnect_backoff_min_ms = 100\nreconnect_backoff_max_ms = 1000\n",
        quoted(setup.broker_host),
        setup.broker_port,
        quoted(setup.client_id),
        quoted(&report_topic(&site.id, "+"))
    );
    for (sensor, path) in setup.serial_paths {
        let _ = writeln!(
            s,
            "[[serial]]\npath = {}\nsensor = {}\nreconnect_min_ms = 50\nreconnect_max_ms = 500\n",
            quoted(path),
            quoted(sensor)
        );
    }
    let _ = writeln!(
        s,
        "[state]\ndir = {}\n\n[state.outbox]\nfsync = \"never\"\n",
        quoted(&setup.state_dir.display().to_string())
    );
    let _ = writeln!(
        s,
        "[daemon]\ntick_interval_ms = {TICK_INTERVAL_MS}\nstatus_interval_ms = 1000\nshutdown_timeout_ms = 10000\n\
         broker_ready_timeout_ms = 5000\nwatchdog = false\nlog_filter = \"warn\""
    );
    s
}

/// The site's local frame.
pub fn site_frame(site: &SiteSpec) -> LocalFrame {
    LocalFrame::new(Geodetic {
        lat_deg: site.lat,
        lon_deg: site.lon,
        alt_m: site.alt_m,
    })
}

/// The `Hello` a sensor sends at boot.
pub fn hello(sensor: &SensorSpec) -> Option<Message> {
    Some(Message::Hello(Hello {
        sensor_id: picket_wire::SensorId::try_from(sensor.id.as_str()).ok()?,
        kind: sensor.kind,
        firmware: FirmwareVersion {
            major: 1,
            minor: 0,
            patch: 0,
        },
        protocol_version: PROTOCOL_VERSION,
        time_base: TimeBase::UnixEpoch,
    }))
}

/// Turns scenario events into messages, numbering each sensor's
/// detections.
#[derive(Debug)]
pub struct Encoder {
    frame: LocalFrame,
    clock: Clock,
    /// Per sensor: next sequence number, and bearing variance (deg²).
    sensors: BTreeMap<String, (u32, f32)>,
    range_variance: BTreeMap<String, f32>,
}

fn geo(frame: &LocalFrame, x: f64, y: f64, variance: f32) -> GeoPosition {
    let g = frame.ground_to_geodetic(x, y);
    GeoPosition {
        latitude_e7: (g.lat_deg * 1e7).round() as i32,
        longitude_e7: (g.lon_deg * 1e7).round() as i32,
        variance_east_m2: variance,
        variance_north_m2: variance,
        covariance_east_north_m2: 0.0,
    }
}

impl Encoder {
    /// An encoder for `config`'s sensors on `clock`.
    pub fn new(config: &ScenarioConfig, clock: Clock) -> Self {
        let site = config.site.clone().unwrap_or_else(default_site);
        let mut sensors = BTreeMap::new();
        let mut range_variance = BTreeMap::new();
        for camera in &config.cameras {
            let v = camera.bearing_sigma_deg.powi(2) as f32;
            sensors.insert(camera.id.clone(), (1, v));
        }
        for radar in &config.radars {
            sensors.insert(
                radar.id.clone(),
                (1, radar.bearing_sigma_deg.powi(2) as f32),
            );
            range_variance.insert(radar.id.clone(), radar.sigma.powi(2) as f32);
        }
        Self {
            frame: site_frame(&site),
            clock,
            sensors,
            range_variance,
        }
    }

    /// The clock in use.
    pub fn clock(&self) -> Clock {
        self.clock
    }

    /// The message `event` stands for.
    pub fn message(&mut self, event: &SensorEvent) -> Message {
        let entry = self.sensors.entry(event.sensor.clone()).or_insert((1, 1.0));
        let bearing_variance = entry.1;
        let time_us = self.clock.sensor_time_us(event.t);
        let sensor_time_us = time_us.max(0) as u64;
        let mut next = || {
            let sequence = entry.0;
            entry.0 = entry.0.wrapping_add(1);
            sequence
        };
        match &event.body {
            EventBody::Heartbeat => Message::Heartbeat(Heartbeat {
                sensor_time_us,
                uptime_s: event.t.max(0.0) as u32 + 3600,
                battery_mv: Some(3650),
                temperature_decicelsius: 215,
                tamper: false,
                faults: FaultFlags(0),
            }),
            EventBody::Ground {
                modality,
                snr_db,
                class,
            } => Message::GroundEvent(GroundEvent {
                sequence: next(),
                sensor_time_us,
                modality: *modality,
                snr_db: *snr_db as f32,
                energy: (snr_db.max(0.0) * 100.0) as u32,
                class_hint: *class,
                bearing: None,
            }),
            EventBody::Camera {
                azimuth_deg,
                class,
                confidence_pct,
            } => Message::CameraTrigger(CameraTrigger {
                sequence: next(),
                sensor_time_us,
                target: CameraTarget::Direction {
                    azimuth: Bearing {
                        azimuth_deg: *azimuth_deg as f32,
                        variance_deg2: bearing_variance,
                    },
                    elevation: Elevation {
                        elevation_deg: -1.0,
                        variance_deg2: 1.0,
                    },
                },
                class: *class,
                confidence_pct: *confidence_pct,
                ground_position: None,
            }),
            EventBody::RangeBearing {
                range,
                azimuth_deg,
                class,
            } => Message::RangeBearingReport(RangeBearingReport {
                sequence: next(),
                sensor_time_us,
                range_m: *range as f32,
                range_variance_m2: self
                    .range_variance
                    .get(&event.sensor)
                    .copied()
                    .unwrap_or(25.0),
                azimuth: Bearing {
                    azimuth_deg: *azimuth_deg as f32,
                    variance_deg2: bearing_variance,
                },
                elevation: None,
                radial_velocity: None,
                sensor_track_id: None,
                class: *class,
            }),
            EventBody::Position { x, y, sigma } => Message::PositionReport(PositionReport {
                sequence: next(),
                sensor_time_us,
                position: geo(&self.frame, *x, *y, (sigma * sigma) as f32),
                altitude_m: None,
                velocity: None,
                sensor_track_id: None,
                class: TargetClass::Unknown,
            }),
            EventBody::Radiation {
                interval,
                gamma,
                neutron,
            } => {
                let interval_ms = ((interval / self.clock.speed) * 1000.0).round().max(1.0) as u32;
                Message::RadiationSample(RadiationSample {
                    sequence: next(),
                    interval_start_us: sensor_time_us.saturating_sub(u64::from(interval_ms) * 1000),
                    interval_ms,
                    gamma_counts: *gamma,
                    neutron_counts: *neutron,
                    spectrum: None,
                    alarms: AlarmFlags(0),
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::generate;
    use crate::scenario_file;

    fn checkpoint() -> ScenarioConfig {
        scenario_file::load(
            &Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/checkpoint.toml"),
        )
        .unwrap()
    }

    #[test]
    fn written_config_is_accepted_by_picketd() {
        let config = checkpoint();
        let mut serial = BTreeMap::new();
        for s in sensors(&config, 5.0) {
            if s.transport == Transport::Serial {
                serial.insert(s.id.clone(), format!("/dev/pts/sim-{}", s.id));
            }
        }
        let text = daemon_config(
            &config,
            &DaemonSetup {
                broker_host: "127.0.0.1",
                broker_port: 1883,
                client_id: "picketd-sim",
                serial_paths: &serial,
                state_dir: Path::new("/tmp/picket-sim-state"),
                speed: 5.0,
            },
        );
        let parsed = picketd::Config::parse(&text, Path::new("sim.toml"))
            .unwrap_or_else(|e| panic!("{e}\n{text}"));
        assert_eq!(parsed.engine.sensors.len(), sensors(&config, 5.0).len());
        assert_eq!(parsed.serial.len(), serial.len());
        assert_eq!(parsed.engine.site.id, "checkpoint");
    }

    #[test]
    fn every_event_encodes_to_a_frame_that_decodes_back() {
        let config = checkpoint();
        let scenario = generate(&config);
        let clock = Clock {
            start_us: 1_700_000_000_000_000,
            speed: 5.0,
        };
        let mut encoder = Encoder::new(&config, clock);
        let mut buffer = [0u8; picket_wire::MAX_ENCODED_FRAME_LEN];
        let mut kinds = std::collections::HashSet::new();
        for event in &scenario.events {
            let message = encoder.message(event);
            let frame = picket_wire::encode_frame(&message, &mut buffer).unwrap();
            let len = frame.len() - 1;
            let decoded = picket_wire::decode_frame(&mut frame[..len]).unwrap();
            assert_eq!(decoded, message);
            kinds.insert(std::mem::discriminant(&message));
        }
        // Heartbeats, ground events, camera triggers, range-bearing and
        // radiation samples all occur in the checkpoint scenario.
        assert_eq!(kinds.len(), 5, "{kinds:?}");
        assert!((clock.scenario_time(clock.sensor_time_us(12.5)) - 12.5).abs() < 1e-6);
    }
}
