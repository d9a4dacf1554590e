//! Shared test fixtures: a site, its sensors, and a deterministic checkpoint
//! scenario rendered into raw inputs (real picket-wire frames on serial
//! ports, JSON payloads on MQTT topics).
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use picket_engine::config::{
    CameraCalibration, GeodeticPosition, SensorConfig, SensorKind, SiteConfig, ZoneConfig,
};
use picket_engine::geodesy::{Geodetic, LocalFrame};
use picket_engine::{Engine, EngineConfig, InputSource, Output, RawInput};
use picket_schema::Timestamp;
use picket_wire::{
    AlarmFlags, Bearing, CameraTarget, CameraTrigger, Elevation, FaultFlags, FirmwareVersion,
    GroundEvent, GroundModality, Heartbeat, Hello, ImageBox, MAX_ENCODED_FRAME_LEN, Message,
    RadiationSample, RangeBearingReport, TargetClass, TimeBase, encode_frame,
};

/// 2026-01-01T00:00:00Z, µs.
pub const T0_US: i64 = 1_767_225_600_000_000;
pub const ORIGIN: GeodeticPosition = GeodeticPosition {
    lat: 31.33,
    lon: -110.94,
    alt_m: 1200.0,
};

pub fn frame() -> LocalFrame {
    LocalFrame::new(Geodetic {
        lat_deg: ORIGIN.lat,
        lon_deg: ORIGIN.lon,
        alt_m: ORIGIN.alt_m,
    })
}

/// WGS84 position of a point of the site frame.
pub fn at(east: f64, north: f64) -> GeodeticPosition {
    let geodetic = frame().ground_to_geodetic(east, north);
    GeodeticPosition {
        lat: geodetic.lat_deg,
        lon: geodetic.lon_deg,
        alt_m: geodetic.alt_m,
    }
}

pub fn wire_frame(message: &Message) -> Vec<u8> {
    let mut buffer = [0u8; MAX_ENCODED_FRAME_LEN];
    encode_frame(message, &mut buffer).unwrap().to_vec()
}

pub fn json(message: &Message) -> Vec<u8> {
    serde_json::to_vec(message).unwrap()
}

pub fn serial(port: &str, received_us: i64, bytes: Vec<u8>) -> RawInput {
    RawInput {
        source: InputSource::Serial(port.to_owned()),
        received_at: Timestamp::from_unix_micros(received_us).unwrap(),
        bytes,
    }
}

pub fn mqtt(topic: &str, received_us: i64, bytes: Vec<u8>) -> RawInput {
    RawInput {
        source: InputSource::Mqtt(topic.to_owned()),
        received_at: Timestamp::from_unix_micros(received_us).unwrap(),
        bytes,
    }
}

pub fn hello(id: &str, kind: picket_wire::SensorKind) -> Message {
    Message::Hello(Hello {
        sensor_id: id.try_into().unwrap(),
        kind,
        firmware: FirmwareVersion {
            major: 1,
            minor: 0,
            patch: 0,
        },
        protocol_version: picket_wire::PROTOCOL_VERSION,
        time_base: TimeBase::UnixEpoch,
    })
}

pub fn heartbeat(time_us: i64, uptime_s: u32, tamper: bool, faults: u32) -> Message {
    Message::Heartbeat(Heartbeat {
        sensor_time_us: time_us as u64,
        uptime_s,
        battery_mv: Some(3700),
        temperature_decicelsius: 215,
        tamper,
        faults: FaultFlags(faults),
    })
}

pub fn ground_event(sequence: u32, time_us: i64) -> Message {
    Message::GroundEvent(GroundEvent {
        sequence,
        sensor_time_us: time_us as u64,
        modality: GroundModality::Seismic,
        snr_db: 12.0,
        energy: 5000,
        class_hint: TargetClass::Unknown,
        bearing: None,
    })
}

pub fn radiation(sequence: u32, start_us: i64, gamma: u32, alarms: u16) -> Message {
    Message::RadiationSample(RadiationSample {
        sequence,
        interval_start_us: start_us as u64,
        interval_ms: 1000,
        gamma_counts: gamma,
        neutron_counts: 0,
        spectrum: None,
        alarms: AlarmFlags(alarms),
    })
}

pub fn range_bearing(sequence: u32, time_us: i64, range_m: f32, azimuth_deg: f32) -> Message {
    Message::RangeBearingReport(RangeBearingReport {
        sequence,
        sensor_time_us: time_us as u64,
        range_m,
        range_variance_m2: 9.0,
        azimuth: Bearing {
            azimuth_deg,
            variance_deg2: 0.25,
        },
        elevation: None,
        radial_velocity: None,
        sensor_track_id: None,
        class: TargetClass::Unknown,
    })
}

// ---- The checkpoint site -------------------------------------------------

pub const GROUND_NODES: [(&str, f64, f64); 5] = [
    ("gn-01", 5.0, -100.0),
    ("gn-02", 5.0, -50.0),
    ("gn-03", 5.0, 0.0),
    ("gn-04", 5.0, 50.0),
    ("gn-05", 5.0, 100.0),
];
pub const PORTAL: (f64, f64) = (3.0, 60.0);
pub const PORTAL_PORT: &str = "/dev/ttyPORTAL";
pub const CAMERA: (f64, f64) = (20.0, 60.0);
pub const CAMERA_TOPIC: &str = "sensors/cam-01/reports";
pub const RADAR: (f64, f64) = (-200.0, 0.0);
pub const RADAR_TOPIC: &str = "sensors/radar-01/reports";

pub fn node_port(id: &str) -> String {
    format!("/dev/tty-{id}")
}

/// The site: five ground nodes on serial (identified by their Hello), a
/// radiation portal on a configured serial port, a camera and a radar on
/// MQTT, and a zone around the portal.
pub fn site_config() -> EngineConfig {
    let mut config = EngineConfig::new(SiteConfig::new("checkpoint-1", ORIGIN));
    for (id, east, north) in GROUND_NODES {
        let mut node = SensorConfig::new(id, SensorKind::GroundNode, at(east, north));
        node.detection_radius_m = 15.0;
        node.expected_interval_s = 30.0;
        config.sensors.push(node);
    }
    let mut portal = SensorConfig::new(
        "rad-01",
        SensorKind::RadiationDetector,
        at(PORTAL.0, PORTAL.1),
    );
    portal.detection_radius_m = 5.0;
    portal.serial_port = Some(PORTAL_PORT.to_owned());
    portal.expected_interval_s = 5.0;
    config.sensors.push(portal);
    let mut camera = SensorConfig::new("cam-01", SensorKind::Camera, at(CAMERA.0, CAMERA.1));
    camera.heading_deg = 270.0;
    camera.field_of_view_deg = 90.0;
    camera.bearing_sigma_deg = 1.0;
    camera.camera = Some(CameraCalibration {
        horizontal_fov_deg: 90.0,
        principal_x_px: None,
    });
    config.sensors.push(camera);
    let mut radar = SensorConfig::new("radar-01", SensorKind::Radar, at(RADAR.0, RADAR.1));
    radar.range_sigma_m = 3.0;
    radar.bearing_sigma_deg = 0.5;
    config.sensors.push(radar);
    config.zones.push(ZoneConfig {
        name: "portal-lane".into(),
        wgs84: None,
        enu: Some(vec![
            [-10.0, 55.0],
            [10.0, 55.0],
            [10.0, 65.0],
            [-10.0, 65.0],
        ]),
    });
    config
}

// ---- Movers ---------------------------------------------------------------

/// One simulated target.
#[derive(Debug, Clone, Copy)]
pub struct Mover {
    pub name: &'static str,
    pub start: (f64, f64),
    pub velocity: (f64, f64),
    pub begin_s: f64,
    pub end_s: f64,
    pub class: TargetClass,
    pub confidence_pct: u8,
    pub carries_source: bool,
}

impl Mover {
    pub fn position(&self, t: f64) -> Option<(f64, f64)> {
        if t < self.begin_s || t > self.end_s {
            return None;
        }
        let dt = t - self.begin_s;
        Some((
            self.start.0 + self.velocity.0 * dt,
            self.start.1 + self.velocity.1 * dt,
        ))
    }
}

/// A vehicle carrying a source, a walker behind it on the same lane, and an
/// animal crossing the lane.
pub const MOVERS: [Mover; 3] = [
    Mover {
        name: "carrier",
        start: (0.0, -150.0),
        velocity: (0.0, 3.0),
        begin_s: 0.0,
        end_s: 100.0,
        class: TargetClass::Vehicle,
        confidence_pct: 90,
        carries_source: true,
    },
    Mover {
        name: "walker",
        start: (0.0, -190.0),
        velocity: (0.0, 1.5),
        begin_s: 0.0,
        end_s: 200.0,
        class: TargetClass::Person,
        confidence_pct: 85,
        carries_source: false,
    },
    Mover {
        name: "animal",
        start: (-100.0, 20.0),
        velocity: (1.2, 0.0),
        begin_s: 40.0,
        end_s: 200.0,
        class: TargetClass::Animal,
        confidence_pct: 70,
        carries_source: false,
    },
];

/// SplitMix64: a tiny deterministic generator for noise.
pub struct Noise(u64);

impl Noise {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Standard normal (Box-Muller).
    pub fn normal(&mut self) -> f64 {
        let u1 = self.uniform().max(1e-12);
        let u2 = self.uniform();
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }
}

/// One report as a sensor emits it: its sensor time and the input that
/// carries it (the receive time is filled in by [`deliver`]).
#[derive(Debug, Clone)]
pub struct Emission {
    pub time_us: i64,
    pub source: InputSource,
    pub bytes: Vec<u8>,
}

fn emit_serial(port: &str, time_us: i64, message: &Message) -> Emission {
    Emission {
        time_us,
        source: InputSource::Serial(port.to_owned()),
        bytes: wire_frame(message),
    }
}

fn emit_mqtt(topic: &str, time_us: i64, message: &Message) -> Emission {
    Emission {
        time_us,
        source: InputSource::Mqtt(topic.to_owned()),
        bytes: json(message),
    }
}

fn seconds_to_us(t: f64) -> i64 {
    T0_US + (t * 1e6).round() as i64
}

fn distance(a: (f64, f64), b: (f64, f64)) -> f64 {
    (a.0 - b.0).hypot(a.1 - b.1)
}

/// Every sensor emission of the scenario, in sensor-time order.
pub fn scenario_emissions(duration_s: u32) -> Vec<Emission> {
    let mut noise = Noise::new(7);
    let mut out = Vec::new();
    // Serial sensors introduce themselves.
    for (id, _, _) in GROUND_NODES {
        out.push(emit_serial(
            &node_port(id),
            T0_US - 500_000,
            &hello(id, picket_wire::SensorKind::GroundNode),
        ));
    }
    out.push(emit_serial(
        PORTAL_PORT,
        T0_US - 500_000,
        &hello("rad-01", picket_wire::SensorKind::RadiationDetector),
    ));
    let mut node_sequence = [0u32; 5];
    let mut radar_sequence = 0;
    let mut camera_sequence = 0;
    for second in 0..duration_s {
        let t = f64::from(second);
        // Heartbeats: nodes every 30 s, the portal with every sample.
        if second % 30 == 0 {
            for (index, (id, _, _)) in GROUND_NODES.iter().enumerate() {
                let time = seconds_to_us(t + 0.05 * index as f64);
                out.push(emit_serial(
                    &node_port(id),
                    time,
                    &heartbeat(time, 100 + second, false, 0),
                ));
            }
        }
        // Radar sweep at whole seconds.
        for mover in &MOVERS {
            if let Some(position) = mover.position(t) {
                let dx = position.0 - RADAR.0;
                let dy = position.1 - RADAR.1;
                let range = dx.hypot(dy) + 3.0 * noise.normal();
                let azimuth = dx.atan2(dy).to_degrees().rem_euclid(360.0) + 0.5 * noise.normal();
                radar_sequence += 1;
                out.push(emit_mqtt(
                    RADAR_TOPIC,
                    seconds_to_us(t),
                    &range_bearing(
                        radar_sequence,
                        seconds_to_us(t),
                        range as f32,
                        azimuth as f32,
                    ),
                ));
            }
        }
        // Ground nodes: presence while a mover is within 15 m.
        for (index, (id, east, north)) in GROUND_NODES.iter().enumerate() {
            let time_s = t + 0.3 + 0.01 * index as f64;
            for mover in &MOVERS {
                if let Some(position) = mover.position(time_s)
                    && distance(position, (*east, *north)) < 15.0
                {
                    node_sequence[index] += 1;
                    let time = seconds_to_us(time_s);
                    out.push(emit_serial(
                        &node_port(id),
                        time,
                        &ground_event(node_sequence[index], time),
                    ));
                }
            }
        }
        // Camera: movers within 45 m and inside its 90° field of view.
        let camera_time_s = t + 0.5;
        for mover in &MOVERS {
            let Some(position) = mover.position(camera_time_s) else {
                continue;
            };
            let dx = position.0 - CAMERA.0;
            let dy = position.1 - CAMERA.1;
            let azimuth = dx.atan2(dy).to_degrees().rem_euclid(360.0);
            let off_axis = azimuth - 270.0;
            if dx.hypot(dy) > 45.0 || off_axis.abs() > 44.0 {
                continue;
            }
            camera_sequence += 1;
            let measured = azimuth + 0.5 * noise.normal();
            // Alternate the two target forms the camera can send.
            let target = if camera_sequence % 2 == 0 {
                CameraTarget::Direction {
                    azimuth: Bearing {
                        azimuth_deg: measured as f32,
                        variance_deg2: 1.0,
                    },
                    elevation: Elevation {
                        elevation_deg: -2.0,
                        variance_deg2: 1.0,
                    },
                }
            } else {
                let width = 1920.0;
                let focal = (width / 2.0) / 45f64.to_radians().tan();
                let column = width / 2.0 + focal * (measured - 270.0).to_radians().tan();
                CameraTarget::ImageBox(ImageBox {
                    x: (column - 20.0).round() as u16,
                    y: 500,
                    width: 40,
                    height: 80,
                    image_width: 1920,
                    image_height: 1080,
                })
            };
            let time = seconds_to_us(camera_time_s);
            out.push(emit_mqtt(
                CAMERA_TOPIC,
                time,
                &Message::CameraTrigger(CameraTrigger {
                    sequence: camera_sequence,
                    sensor_time_us: time as u64,
                    target,
                    class: mover.class,
                    confidence_pct: mover.confidence_pct,
                    ground_position: None,
                }),
            ));
        }
        // Portal: one-second samples; background about 100 counts, plus the
        // source while the carrier is within 6 m.
        let start = seconds_to_us(t);
        let mut gamma = 90 + (noise.next_u64() % 21) as u32;
        for mover in &MOVERS {
            let closest = (0..10)
                .filter_map(|tenth| mover.position(t + f64::from(tenth) / 10.0))
                .map(|position| distance(position, PORTAL))
                .fold(f64::INFINITY, f64::min);
            if mover.carries_source && closest < 6.0 {
                gamma += 400;
            }
        }
        out.push(emit_serial(
            PORTAL_PORT,
            start + 1_000_000,
            &radiation(second + 1, start, gamma, 0),
        ));
        if second % 10 == 0 {
            out.push(emit_serial(
                PORTAL_PORT,
                start + 1_000_000,
                &heartbeat(start + 1_000_000, 500 + second, false, 0),
            ));
        }
    }
    out.sort_by_key(|emission| emission.time_us);
    out
}

/// Stamps receive times (sensor time plus `delay_us(index)`) and returns the
/// inputs in receive order, as a host would read them. Serial frames are
/// sometimes split across two reads to exercise the decoders.
pub fn deliver(emissions: &[Emission], mut delay_us: impl FnMut(usize) -> i64) -> Vec<RawInput> {
    let mut inputs: Vec<(i64, usize, RawInput)> = Vec::new();
    for (index, emission) in emissions.iter().enumerate() {
        let received = emission.time_us + delay_us(index);
        let input = RawInput {
            source: emission.source.clone(),
            received_at: Timestamp::from_unix_micros(received).unwrap(),
            bytes: emission.bytes.clone(),
        };
        if matches!(emission.source, InputSource::Serial(_)) && index % 7 == 3 {
            let (head, tail) = input.bytes.split_at(input.bytes.len() / 2);
            let mut first = input.clone();
            first.bytes = head.to_vec();
            let mut second = input.clone();
            second.bytes = tail.to_vec();
            inputs.push((received, 2 * index, first));
            inputs.push((received, 2 * index + 1, second));
        } else {
            inputs.push((received, 2 * index, input));
        }
    }
    inputs.sort_by_key(|(received, order, _)| (*received, *order));
    inputs.into_iter().map(|(_, _, input)| input).collect()
}

/// Runs inputs through a fresh engine with a tick at every whole second of
/// host time, then flushes; returns every output in order.
pub fn run(config: EngineConfig, inputs: &[RawInput]) -> (Engine, Vec<Output>) {
    let mut engine = Engine::new(config).unwrap();
    let mut outputs = Vec::new();
    let mut next_tick = inputs
        .first()
        .map(|input| input.received_at.as_unix_micros() / 1_000_000 * 1_000_000 + 1_000_000);
    for input in inputs {
        while let Some(tick) = next_tick
            && tick <= input.received_at.as_unix_micros()
        {
            outputs
                .extend_from_slice(engine.handle_tick(Timestamp::from_unix_micros(tick).unwrap()));
            next_tick = Some(tick + 1_000_000);
        }
        outputs.extend_from_slice(engine.handle_input(input));
    }
    outputs.extend_from_slice(engine.flush());
    (engine, outputs)
}

/// Every output as its topic and JSON bytes, for byte-exact comparison.
pub fn encoded(outputs: &[Output]) -> Vec<(String, Vec<u8>)> {
    outputs
        .iter()
        .map(|output| (output.topic.clone(), output.to_json().unwrap()))
        .collect()
}
