//! Seeded border scenarios: movers, sensors, clutter, and the ground truth.
//!
//! A scenario is a border segment along the x axis with the border line at
//! mid-height: walkers cross it, vehicles drive along it, both turn now and
//! then; two radars and a line of unattended ground sensors (UGS) watch it.
//! The defaults mirror the public sample in `shared/formats/sample/`, so a
//! tracker tuned on the sample can be checked on scenarios it has never
//! seen. Every random draw comes from one seeded [`Rng`], in a fixed order,
//! so a seed gives the same files on every machine.
//!
//! A site scenario (a scenario file, see [`crate::scenario_file`]) adds what
//! a real border segment has: ground nodes of each modality, a checkpoint
//! lane with a radiation portal, cameras, positioned radars, scripted
//! movers (walkers, vehicles, erratic animals, radiation carriers) and
//! sensor faults. Those sensors produce [`SensorEvent`]s, what the real
//! sensor would say in its own terms (presence, bearing, range-bearing,
//! counts), which [`crate::sensors`] turns into picket-wire messages. Their
//! draws come from a second stream seeded from the same seed, so the
//! sample-shaped scenarios above keep their exact streams.

use crate::rng::Rng;
use picket_cli::formats::{DetectionRecord, MeasurementRecord, TruthRecord};
use picket_wire::{GroundModality, TargetClass};

/// Simulation time step in seconds. Every sensor schedule is a multiple of
/// it, so scans fall exactly on the grid and truth is exact at scan times.
pub const TICK: f64 = 0.25;

/// A radar, or any geolocating sensor that reports positions.
#[derive(Debug, Clone, PartialEq)]
pub struct RadarConfig {
    /// Sensor id written into detections.
    pub id: String,
    /// Coverage: a disc of `radius` around `center`, or the whole area when
    /// `center` is `None`.
    pub center: Option<[f64; 2]>,
    /// Coverage radius in metres (ignored for whole-area coverage).
    pub radius: f64,
    /// Seconds between scans (a multiple of [`TICK`]).
    pub period: f64,
    /// Time of the first scan (a multiple of [`TICK`]).
    pub offset: f64,
    /// Position noise standard deviation per axis, metres.
    pub sigma: f64,
    /// Probability of detecting a target in coverage on a scan.
    pub pd: f64,
    /// Mean number of false detections per scan (Poisson, uniform over
    /// coverage).
    pub clutter_per_scan: f64,
    /// Where the radar stands, for a radar that measures range and bearing
    /// (then `center` is this and `radius` its range, and `sigma` is its
    /// range noise); `None` for one that reports positions.
    pub position: Option<[f64; 2]>,
    /// Bearing noise of a positioned radar, degrees (1 sigma).
    pub bearing_sigma_deg: f64,
    /// How its reports reach picketd.
    pub transport: Transport,
}

/// A line of unattended ground sensors along the border.
#[derive(Debug, Clone, PartialEq)]
pub struct UgsConfig {
    /// Number of nodes, spread evenly along the border with jitter.
    pub count: usize,
    /// Detection radius is drawn per node from this range, metres.
    pub radius: [f64; 2],
    /// Each node reports on one of these periods, seconds.
    pub periods: Vec<f64>,
    /// Declared standard deviation drawn per node from this range, metres.
    /// The node reports its own position; the true error is that of a
    /// uniform disc of the detection radius, not this Gaussian.
    pub declared_sigma: [f64; 2],
    /// Probability a node reports when a target is within its radius.
    pub pd: f64,
    /// Probability of a false report on a scan with no target in range.
    pub false_report: f64,
    /// Largest distance of a node from the border line, metres.
    pub jitter: f64,
}

/// How a virtual sensor reaches picketd.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// picket-wire frames on a serial line (a pty in the simulator).
    Serial,
    /// JSON messages on `picket/<site>/sensors/<id>/reports`.
    Mqtt,
}

/// An unattended ground node: reports presence when a mover it can sense
/// is within its radius.
#[derive(Debug, Clone, PartialEq)]
pub struct GroundNodeConfig {
    /// Sensor id.
    pub id: String,
    /// Sensing principle; a magnetic node senses vehicles only.
    pub modality: GroundModality,
    /// Position in the site frame (east, north), metres.
    pub position: [f64; 2],
    /// Detection radius, metres.
    pub radius: f64,
    /// Probability of reporting a mover in range, per `period`.
    pub pd: f64,
    /// False reports per hour with nothing in range.
    pub false_alarms_per_hour: f64,
    /// Shortest gap between two reports, seconds (the node's hold-off).
    pub period: f64,
    /// Heartbeat period, seconds.
    pub heartbeat: f64,
    /// Serial or MQTT.
    pub transport: Transport,
}

/// A radiation portal monitor on the checkpoint lane.
#[derive(Debug, Clone, PartialEq)]
pub struct PortalConfig {
    /// Sensor id.
    pub id: String,
    /// Position in the site frame, metres.
    pub position: [f64; 2],
    /// Attribution radius given to picketd, metres.
    pub radius: f64,
    /// Counting interval, seconds.
    pub interval: f64,
    /// Gamma background, counts per second.
    pub gamma_background_cps: f64,
    /// Neutron background, counts per second.
    pub neutron_background_cps: f64,
    /// Heartbeat period, seconds.
    pub heartbeat: f64,
    /// Serial or MQTT.
    pub transport: Transport,
}

/// A camera with on-board detection: reports the bearing and class of
/// movers in its field of view and range.
#[derive(Debug, Clone, PartialEq)]
pub struct CameraConfig {
    /// Sensor id.
    pub id: String,
    /// Position in the site frame, metres.
    pub position: [f64; 2],
    /// Optical axis, degrees clockwise from north.
    pub heading_deg: f64,
    /// Full horizontal field of view, degrees.
    pub fov_deg: f64,
    /// Detection range, metres.
    pub range: f64,
    /// Seconds between analysed frames.
    pub period: f64,
    /// Probability of detecting a mover in view on a frame.
    pub pd: f64,
    /// Bearing noise, degrees (1 sigma).
    pub bearing_sigma_deg: f64,
    /// False detections per hour.
    pub false_alarms_per_hour: f64,
    /// Serial or MQTT.
    pub transport: Transport,
}

/// What a mover is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MoverKind {
    /// A person on foot.
    Walker,
    /// A car or truck.
    Vehicle,
    /// A nuisance: trips ground nodes, wanders, never carries a source.
    Animal,
}

impl MoverKind {
    /// The class a sensor that recognises it would report.
    pub fn class(self) -> TargetClass {
        match self {
            MoverKind::Walker => TargetClass::Person,
            MoverKind::Vehicle => TargetClass::Vehicle,
            MoverKind::Animal => TargetClass::Animal,
        }
    }
}

/// A radioactive source carried by a mover: count rates it adds at 1 m
/// from a detector, falling with the square of the distance.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RadiationSource {
    /// Gamma counts per second at 1 m.
    pub gamma_cps_at_1m: f64,
    /// Neutron counts per second at 1 m.
    pub neutron_cps_at_1m: f64,
}

/// A scripted mover of a site scenario.
#[derive(Debug, Clone, PartialEq)]
pub struct MoverSpec {
    /// Walker, vehicle or animal.
    pub kind: MoverKind,
    /// When it appears, seconds.
    pub start: f64,
    /// Speed, m/s (an animal's mean speed).
    pub speed: f64,
    /// Waypoints in the site frame; a walker or vehicle follows them and
    /// leaves at the last one, an animal starts at the first and wanders
    /// within the box they span.
    pub path: Vec<[f64; 2]>,
    /// A carried source, for radiation carriers.
    pub source: Option<RadiationSource>,
}

/// What goes wrong with a sensor, and when.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum FaultKind {
    /// Says nothing at all (no reports, no heartbeats).
    Silent,
    /// False reports at this many per hour on top of its own rate.
    Noisy {
        /// Extra false reports per hour.
        false_alarms_per_hour: f64,
    },
}

/// A sensor fault over an interval.
#[derive(Debug, Clone, PartialEq)]
pub struct FaultConfig {
    /// The sensor.
    pub sensor: String,
    /// The fault.
    pub kind: FaultKind,
    /// Start, seconds.
    pub from: f64,
    /// End, seconds.
    pub to: f64,
}

/// The site: its id and where its frame's origin is.
#[derive(Debug, Clone, PartialEq)]
pub struct SiteSpec {
    /// Site id (the second level of picketd's topics).
    pub id: String,
    /// Origin latitude, degrees (WGS84).
    pub lat: f64,
    /// Origin longitude, degrees.
    pub lon: f64,
    /// Origin height above the ellipsoid, metres.
    pub alt_m: f64,
}

/// Everything that defines a scenario; [`ScenarioConfig::sample_like`] gives
/// the shape of the public sample.
#[derive(Debug, Clone, PartialEq)]
pub struct ScenarioConfig {
    /// Seed of the one random stream.
    pub seed: u64,
    /// Scenario length, seconds.
    pub duration: f64,
    /// Area width (x, along the border) and height (y), metres.
    pub area: [f64; 2],
    /// People on foot crossing the border, 1-2 m/s.
    pub walkers: usize,
    /// Vehicles driving along the border, 5-15 m/s.
    pub vehicles: usize,
    /// Chance per second that a mover starts a 30-90 degree turn.
    pub turn_rate: f64,
    /// Position-reporting sensors.
    pub radars: Vec<RadarConfig>,
    /// Ground sensor line.
    pub ugs: UgsConfig,
    /// The site (id and WGS84 origin) of a site scenario.
    pub site: Option<SiteSpec>,
    /// Individually placed ground nodes.
    pub ground_nodes: Vec<GroundNodeConfig>,
    /// Radiation portals.
    pub portals: Vec<PortalConfig>,
    /// Cameras.
    pub cameras: Vec<CameraConfig>,
    /// Scripted movers.
    pub movers: Vec<MoverSpec>,
    /// Sensor faults.
    pub faults: Vec<FaultConfig>,
}

impl ScenarioConfig {
    /// A scenario with the sample's sensors, area and target mix.
    pub fn sample_like(seed: u64) -> Self {
        Self {
            seed,
            duration: 300.0,
            area: [6000.0, 3000.0],
            walkers: 5,
            vehicles: 5,
            turn_rate: 1.0 / 60.0,
            radars: vec![
                RadarConfig {
                    id: "radar-1".into(),
                    center: None,
                    radius: 0.0,
                    period: 1.0,
                    offset: 0.0,
                    sigma: 5.0,
                    pd: 0.9,
                    clutter_per_scan: 4.0,
                    position: None,
                    bearing_sigma_deg: 0.0,
                    transport: Transport::Mqtt,
                },
                RadarConfig {
                    id: "radar-2".into(),
                    center: Some([3000.0, 1000.0]),
                    radius: 2000.0,
                    period: 1.5,
                    offset: 0.25,
                    sigma: 10.0,
                    pd: 0.8,
                    clutter_per_scan: 2.0,
                    position: None,
                    bearing_sigma_deg: 0.0,
                    transport: Transport::Mqtt,
                },
            ],
            ugs: UgsConfig {
                count: 80,
                radius: [30.0, 50.0],
                periods: vec![2.0, 4.0],
                declared_sigma: [15.0, 25.0],
                pd: 0.9,
                false_report: 0.002,
                jitter: 60.0,
            },
            site: None,
            ground_nodes: Vec::new(),
            portals: Vec::new(),
            cameras: Vec::new(),
            movers: Vec::new(),
            faults: Vec::new(),
        }
    }

    /// True if the scenario has any site sensor (ground node, portal,
    /// camera or positioned radar): then truth is written every tick.
    fn has_site_sensors(&self) -> bool {
        !self.ground_nodes.is_empty()
            || !self.portals.is_empty()
            || !self.cameras.is_empty()
            || self.radars.iter().any(|r| r.position.is_some())
    }
}

/// A generated scenario: detections sorted by time, and truth at every scan
/// time for every live target.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Scenario {
    /// What the sensors reported.
    pub detections: Vec<DetectionRecord>,
    /// Where the movers really were.
    pub truth: Vec<TruthRecord>,
    /// How many detections were false (clutter or false node reports).
    pub false_detections: usize,
    /// What every sensor said in its own terms, sorted by time: the input
    /// of the virtual sensors.
    pub events: Vec<SensorEvent>,
    /// Truth ids of movers carrying a radiation source.
    pub carriers: Vec<u64>,
    /// Truth id and kind of every mover.
    pub kinds: Vec<(u64, MoverKind)>,
}

/// One thing a sensor said, in its own terms.
#[derive(Debug, Clone, PartialEq)]
pub struct SensorEvent {
    /// Scenario time, seconds.
    pub t: f64,
    /// Sensor id.
    pub sensor: String,
    /// What it said.
    pub body: EventBody,
}

/// The content of a [`SensorEvent`].
#[derive(Debug, Clone, PartialEq)]
pub enum EventBody {
    /// A position in the site frame (a radar without a known position, a
    /// geolocating detector).
    Position {
        /// East, metres.
        x: f64,
        /// North, metres.
        y: f64,
        /// Declared noise per axis, metres.
        sigma: f64,
    },
    /// Range and azimuth from a positioned radar.
    RangeBearing {
        /// Ground range, metres.
        range: f64,
        /// Azimuth, degrees clockwise from north.
        azimuth_deg: f64,
        /// What the radar makes of it.
        class: TargetClass,
    },
    /// A ground node's presence report.
    Ground {
        /// Sensing principle.
        modality: GroundModality,
        /// Signal-to-noise ratio, dB.
        snr_db: f64,
        /// The node's class hint.
        class: TargetClass,
    },
    /// A camera detection.
    Camera {
        /// Azimuth, degrees clockwise from north.
        azimuth_deg: f64,
        /// The detector's class.
        class: TargetClass,
        /// Its confidence, percent.
        confidence_pct: u8,
    },
    /// One counting interval of a radiation detector, ending at `t`.
    Radiation {
        /// Interval length, seconds.
        interval: f64,
        /// Gamma counts.
        gamma: u32,
        /// Neutron counts.
        neutron: u32,
    },
    /// A health report.
    Heartbeat,
}

/// One mover: position, velocity and an ongoing turn.
#[derive(Debug, Clone)]
struct Mover {
    id: u64,
    start_tick: u64,
    pos: [f64; 2],
    vel: [f64; 2],
    /// Turn rate in rad/s while turning, and ticks of turn left.
    turn: (f64, u64),
    alive: bool,
    kind: MoverKind,
    /// Remaining waypoints of a scripted mover (next first).
    route: Vec<[f64; 2]>,
    speed: f64,
    /// An animal's wander box.
    wander: Option<[[f64; 2]; 2]>,
    source: Option<RadiationSource>,
    /// When it left the scene for good (a scripted mover at its last
    /// waypoint), so that leaving is not mistaken for walking out of area.
    done: bool,
    /// A mover of a scenario file (route or animal): it draws from the site
    /// stream, never from the sample-shaped one.
    scripted: bool,
}

impl Mover {
    /// Moves one tick along a coordinated turn (exact for constant rate) or
    /// a straight line.
    fn step(&mut self) {
        let (w, left) = self.turn;
        let [vx, vy] = self.vel;
        if left > 0 && w != 0.0 {
            let (s, c) = (w * TICK).sin_cos();
            self.pos[0] += (vx * s - vy * (1.0 - c)) / w;
            self.pos[1] += (vy * s + vx * (1.0 - c)) / w;
            self.vel = [vx * c - vy * s, vx * s + vy * c];
            self.turn.1 = left - 1;
        } else {
            self.pos[0] += vx * TICK;
            self.pos[1] += vy * TICK;
        }
    }

    /// One tick towards the next waypoint; leaves at the last one.
    fn follow_route(&mut self) {
        let mut budget = self.speed * TICK;
        while let Some(&target) = self.route.first() {
            let d = [target[0] - self.pos[0], target[1] - self.pos[1]];
            let dist = d[0].hypot(d[1]);
            if dist > budget {
                self.vel = [d[0] / dist * self.speed, d[1] / dist * self.speed];
                self.pos[0] += self.vel[0] * budget / self.speed;
                self.pos[1] += self.vel[1] * budget / self.speed;
                return;
            }
            self.pos = target;
            budget -= dist;
            self.route.remove(0);
        }
        self.alive = false;
        self.done = true;
    }

    /// One tick of an animal: straight on, bouncing off its box; the
    /// heading is redrawn once a second by the caller.
    fn wander_step(&mut self) {
        let Some([lo, hi]) = self.wander else {
            return;
        };
        for axis in 0..2 {
            self.pos[axis] += self.vel[axis] * TICK;
            let (min, max) = (lo[axis].min(hi[axis]), lo[axis].max(hi[axis]));
            if self.pos[axis] < min || self.pos[axis] > max {
                self.vel[axis] = -self.vel[axis];
                self.pos[axis] = self.pos[axis].clamp(min, max);
            }
        }
    }
}

#[derive(Debug)]
struct Node {
    id: String,
    pos: [f64; 2],
    radius: f64,
    period_ticks: u64,
    offset_ticks: u64,
    var: f64,
}

fn ticks(seconds: f64) -> u64 {
    (seconds / TICK).round().max(0.0) as u64
}

fn on_schedule(tick: u64, period_ticks: u64, offset_ticks: u64) -> bool {
    tick >= offset_ticks && (tick - offset_ticks).is_multiple_of(period_ticks.max(1))
}

fn round_mm(v: f64) -> f64 {
    (v * 1000.0).round() / 1000.0
}

fn position(t: f64, sensor: &str, x: f64, y: f64, var: f64) -> DetectionRecord {
    DetectionRecord {
        t,
        sensor: sensor.to_owned(),
        measurement: MeasurementRecord::Position {
            x: round_mm(x),
            y: round_mm(y),
            var: [var, var],
        },
    }
}

/// Azimuth of `to` seen from `from`, degrees clockwise from north in
/// [0, 360).
pub fn azimuth_deg(from: [f64; 2], to: [f64; 2]) -> f64 {
    (to[0] - from[0])
        .atan2(to[1] - from[1])
        .to_degrees()
        .rem_euclid(360.0)
}

fn distance(a: [f64; 2], b: [f64; 2]) -> f64 {
    (a[0] - b[0]).hypot(a[1] - b[1])
}

/// The fault in force on `sensor` at `t`: silent, and extra false reports
/// per hour.
fn fault_at(faults: &[FaultConfig], sensor: &str, t: f64) -> (bool, f64) {
    let mut silent = false;
    let mut extra = 0.0;
    for f in faults
        .iter()
        .filter(|f| f.sensor == sensor && (f.from..f.to).contains(&t))
    {
        match f.kind {
            FaultKind::Silent => silent = true,
            FaultKind::Noisy {
                false_alarms_per_hour,
            } => extra += false_alarms_per_hour,
        }
    }
    (silent, extra)
}

/// Staggers periodic reports of sensor number `index` so that a site's
/// heartbeats do not all land on one tick.
fn stagger(index: usize, period_ticks: u64) -> u64 {
    (index as u64 * 7) % period_ticks.max(1)
}

/// State of the site sensors between ticks.
#[derive(Debug, Default)]
struct SiteState {
    /// Per ground node: tick before which it stays quiet (hold-off).
    node_quiet_until: Vec<u64>,
    /// Per portal: expected gamma and neutron counts so far this interval.
    portal_expected: Vec<[f64; 2]>,
}

/// Generates the scenario `config` describes.
pub fn generate(config: &ScenarioConfig) -> Scenario {
    let mut rng = Rng::new(config.seed);
    // Site sensors and scripted movers draw from their own stream, so the
    // sample-shaped part of a scenario is the same with or without them.
    let mut srng = Rng::new(config.seed ^ 0x5173_e5ca_fe00_0001);
    let [width, height] = config.area;
    let border = height / 2.0;
    let end_tick = ticks(config.duration);
    let site = config.has_site_sensors();

    let mut movers = Vec::new();
    for n in 0..config.walkers + config.vehicles {
        let walker = n < config.walkers;
        let start_tick = ticks(rng.uniform(0.0, 0.6 * config.duration));
        let (pos, vel) = if walker {
            // Start a few hundred metres from the line and head across it.
            let north = rng.chance(0.5);
            let speed = rng.uniform(1.0, 2.0);
            let heading = rng.uniform(-0.3, 0.3);
            let y = border + if north { 1.0 } else { -1.0 } * rng.uniform(50.0, 400.0);
            let dir = if north { -1.0 } else { 1.0 };
            (
                [rng.uniform(0.05, 0.95) * width, y],
                [speed * heading.sin(), dir * speed * heading.cos()],
            )
        } else {
            // Enter from either end on a track just off the line.
            let east = rng.chance(0.5);
            let speed = rng.uniform(5.0, 15.0);
            let y = border + rng.uniform(-150.0, 150.0);
            let x = if east { width - 10.0 } else { 10.0 };
            (
                [x, y],
                [if east { -speed } else { speed }, rng.uniform(-0.3, 0.3)],
            )
        };
        movers.push(Mover {
            id: n as u64 + 1,
            start_tick,
            pos,
            vel,
            turn: (0.0, 0),
            alive: false,
            kind: if walker {
                MoverKind::Walker
            } else {
                MoverKind::Vehicle
            },
            route: Vec::new(),
            speed: vel[0].hypot(vel[1]),
            wander: None,
            source: None,
            done: false,
            scripted: false,
        });
    }
    for spec in &config.movers {
        let id = movers.len() as u64 + 1;
        let first = spec.path.first().copied().unwrap_or([0.0, 0.0]);
        let (route, wander, vel) = if spec.kind == MoverKind::Animal {
            let (lo, hi) = spec.path.iter().fold((first, first), |(lo, hi), p| {
                (
                    [lo[0].min(p[0]), lo[1].min(p[1])],
                    [hi[0].max(p[0]), hi[1].max(p[1])],
                )
            });
            let heading = srng.uniform(0.0, std::f64::consts::TAU);
            (
                Vec::new(),
                Some([lo, hi]),
                [spec.speed * heading.sin(), spec.speed * heading.cos()],
            )
        } else {
            let route: Vec<[f64; 2]> = spec.path.iter().skip(1).copied().collect();
            let next = route.first().copied().unwrap_or(first);
            let d = [next[0] - first[0], next[1] - first[1]];
            let dist = d[0].hypot(d[1]).max(1e-9);
            (
                route,
                None,
                [d[0] / dist * spec.speed, d[1] / dist * spec.speed],
            )
        };
        movers.push(Mover {
            id,
            start_tick: ticks(spec.start),
            pos: first,
            vel,
            turn: (0.0, 0),
            alive: false,
            kind: spec.kind,
            route,
            speed: spec.speed,
            wander,
            source: spec.source,
            done: false,
            scripted: true,
        });
    }

    let nodes: Vec<Node> = (0..config.ugs.count)
        .map(|i| {
            let spacing = width / config.ugs.count.max(1) as f64;
            let periods = &config.ugs.periods;
            let period = periods
                .get(rng.below(periods.len()))
                .copied()
                .unwrap_or(2.0);
            let period_ticks = ticks(period).max(1);
            let sigma = rng.uniform(config.ugs.declared_sigma[0], config.ugs.declared_sigma[1]);
            Node {
                id: format!("ugs-{:03}", i + 1),
                pos: [
                    (i as f64 + 0.5) * spacing,
                    border + rng.uniform(-config.ugs.jitter, config.ugs.jitter),
                ],
                radius: rng.uniform(config.ugs.radius[0], config.ugs.radius[1]),
                period_ticks,
                offset_ticks: rng.below(period_ticks as usize) as u64,
                var: sigma * sigma,
            }
        })
        .collect();

    let inside = |p: [f64; 2]| (0.0..=width).contains(&p[0]) && (0.0..=height).contains(&p[1]);
    let mut scenario = Scenario {
        carriers: movers
            .iter()
            .filter(|m| m.source.is_some())
            .map(|m| m.id)
            .collect(),
        kinds: movers.iter().map(|m| (m.id, m.kind)).collect(),
        ..Scenario::default()
    };
    let mut state = SiteState {
        node_quiet_until: vec![0; config.ground_nodes.len()],
        portal_expected: vec![[0.0, 0.0]; config.portals.len()],
    };
    let mut scan = Vec::new();
    for tick in 0..=end_tick {
        let t = tick as f64 * TICK;
        for m in movers.iter_mut() {
            if m.done {
                continue;
            }
            if tick == m.start_tick {
                m.alive = true;
            } else if m.alive {
                if m.wander.is_some() {
                    m.wander_step();
                } else if m.scripted {
                    m.follow_route();
                } else {
                    m.step();
                    m.alive = inside(m.pos);
                }
            }
            if !m.alive {
                continue;
            }
            if m.wander.is_some() {
                // Animals change heading and pace every second, at random.
                if tick.is_multiple_of(4) {
                    let heading = m.vel[0].atan2(m.vel[1]) + 0.9 * srng.normal();
                    let speed = m.speed * srng.uniform(0.2, 1.8);
                    m.vel = [speed * heading.sin(), speed * heading.cos()];
                }
                continue;
            }
            if m.scripted {
                continue;
            }
            // Turn decisions once a second, so the rate is per second.
            if m.turn.1 == 0 && tick.is_multiple_of(4) && rng.chance(config.turn_rate) {
                let angle = rng.uniform(30f64.to_radians(), 90f64.to_radians());
                let speed = m.vel[0].hypot(m.vel[1]);
                // Walkers turn on the spot in a few seconds; vehicles take
                // a road bend at about 0.15 g.
                let rate = if speed < 3.0 { 0.3 } else { 1.5 / speed };
                let sign = if rng.chance(0.5) { 1.0 } else { -1.0 };
                m.turn = (sign * rate, ticks(angle / rate).max(1));
            }
        }

        let mut any_scan = false;
        for radar in &config.radars {
            if !on_schedule(tick, ticks(radar.period), ticks(radar.offset)) {
                continue;
            }
            any_scan = true;
            if let Some(origin) = radar.position {
                positioned_radar_scan(radar, origin, t, &movers, &mut srng, &mut scenario);
                continue;
            }
            let covers = |p: [f64; 2]| {
                radar
                    .center
                    .is_none_or(|c| (p[0] - c[0]).hypot(p[1] - c[1]) <= radar.radius)
            };
            let var = radar.sigma * radar.sigma;
            for m in movers.iter().filter(|m| m.alive && covers(m.pos)) {
                if rng.chance(radar.pd) {
                    let x = m.pos[0] + radar.sigma * rng.normal();
                    let y = m.pos[1] + radar.sigma * rng.normal();
                    scan.push(position(t, &radar.id, x, y, var));
                }
            }
            for _ in 0..rng.poisson(radar.clutter_per_scan) {
                let p = match radar.center {
                    None => [rng.uniform(0.0, width), rng.uniform(0.0, height)],
                    Some(c) => {
                        let (dx, dy) = rng.in_disc(radar.radius);
                        [c[0] + dx, c[1] + dy]
                    }
                };
                scan.push(position(t, &radar.id, p[0], p[1], var));
                scenario.false_detections += 1;
            }
            shuffle(&mut rng, &mut scan);
            for d in &scan {
                if let MeasurementRecord::Position { x, y, .. } = d.measurement {
                    scenario.events.push(SensorEvent {
                        t,
                        sensor: radar.id.clone(),
                        body: EventBody::Position {
                            x,
                            y,
                            sigma: radar.sigma,
                        },
                    });
                }
            }
            scenario.detections.append(&mut scan);
        }
        for node in &nodes {
            if !on_schedule(tick, node.period_ticks, node.offset_ticks) {
                continue;
            }
            any_scan = true;
            let near = movers.iter().any(|m| {
                m.alive && (m.pos[0] - node.pos[0]).hypot(m.pos[1] - node.pos[1]) <= node.radius
            });
            let report = if near {
                rng.chance(config.ugs.pd)
            } else if rng.chance(config.ugs.false_report) {
                scenario.false_detections += 1;
                true
            } else {
                false
            };
            if report {
                let [x, y] = node.pos;
                scenario
                    .detections
                    .push(position(t, &node.id, x, y, node.var));
            }
        }
        if site {
            site_sensors_tick(config, tick, &movers, &mut state, &mut srng, &mut scenario);
        }

        if any_scan || site {
            scenario
                .truth
                .extend(movers.iter().filter(|m| m.alive).map(|m| TruthRecord {
                    t,
                    id: m.id,
                    x: round_mm(m.pos[0]),
                    y: round_mm(m.pos[1]),
                    vx: round_mm(m.vel[0]),
                    vy: round_mm(m.vel[1]),
                }));
        }
    }
    scenario
}

/// One scan of a radar that measures range and azimuth from where it
/// stands: movers in range (animals, small and slow, half as often), and
/// clutter uniform over its disc.
fn positioned_radar_scan(
    radar: &RadarConfig,
    origin: [f64; 2],
    t: f64,
    movers: &[Mover],
    srng: &mut Rng,
    scenario: &mut Scenario,
) {
    let range_var = radar.sigma * radar.sigma;
    let push = |scenario: &mut Scenario, range: f64, az: f64, class: TargetClass| {
        let range = range.max(0.0);
        let (s, c) = az.to_radians().sin_cos();
        let cross = range * radar.bearing_sigma_deg.to_radians();
        let var = range_var.max(cross * cross);
        scenario.detections.push(position(
            t,
            &radar.id,
            origin[0] + range * s,
            origin[1] + range * c,
            var,
        ));
        scenario.events.push(SensorEvent {
            t,
            sensor: radar.id.clone(),
            body: EventBody::RangeBearing {
                range,
                azimuth_deg: az.rem_euclid(360.0),
                class,
            },
        });
    };
    for m in movers.iter().filter(|m| m.alive) {
        let range = distance(origin, m.pos);
        if range > radar.radius || range < 1.0 {
            continue;
        }
        let pd = if m.kind == MoverKind::Animal {
            radar.pd * 0.5
        } else {
            radar.pd
        };
        if srng.chance(pd) {
            let r = range + radar.sigma * srng.normal();
            let az = azimuth_deg(origin, m.pos) + radar.bearing_sigma_deg * srng.normal();
            push(scenario, r, az, TargetClass::Unknown);
        }
    }
    for _ in 0..srng.poisson(radar.clutter_per_scan) {
        let (dx, dy) = srng.in_disc(radar.radius);
        let p = [origin[0] + dx, origin[1] + dy];
        push(
            scenario,
            distance(origin, p),
            azimuth_deg(origin, p),
            TargetClass::Unknown,
        );
        scenario.false_detections += 1;
    }
}

/// The class a sensor reports for a mover it sensed: right most of the
/// time, else unknown; passive infrared cannot tell.
fn class_hint(srng: &mut Rng, modality: GroundModality, kind: MoverKind) -> TargetClass {
    if modality == GroundModality::PassiveInfrared || !srng.chance(0.75) {
        TargetClass::Unknown
    } else {
        kind.class()
    }
}

/// One tick of every ground node, portal and camera.
fn site_sensors_tick(
    config: &ScenarioConfig,
    tick: u64,
    movers: &[Mover],
    state: &mut SiteState,
    srng: &mut Rng,
    scenario: &mut Scenario,
) {
    let t = tick as f64 * TICK;
    let mut index = 0;
    let heartbeat = |scenario: &mut Scenario, id: &str, period: f64, index: usize| {
        let period_ticks = ticks(period).max(1);
        if on_schedule(tick, period_ticks, stagger(index, period_ticks)) {
            scenario.events.push(SensorEvent {
                t,
                sensor: id.to_owned(),
                body: EventBody::Heartbeat,
            });
        }
    };

    for (n, node) in config.ground_nodes.iter().enumerate() {
        index += 1;
        let (silent, extra) = fault_at(&config.faults, &node.id, t);
        if silent {
            continue;
        }
        heartbeat(scenario, &node.id, node.heartbeat, index);
        let Some(quiet_until) = state.node_quiet_until.get_mut(n) else {
            continue;
        };
        if tick < *quiet_until {
            continue;
        }
        let senses = |m: &&Mover| {
            m.alive
                && distance(m.pos, node.position) <= node.radius
                && (node.modality != GroundModality::Magnetic || m.kind == MoverKind::Vehicle)
        };
        let nearest = movers.iter().filter(senses).min_by(|a, b| {
            distance(a.pos, node.position).total_cmp(&distance(b.pos, node.position))
        });
        let report = match nearest {
            Some(m) => {
                *quiet_until = tick + ticks(node.period).max(1);
                srng.chance(node.pd).then(|| {
                    let closeness = 1.0 - distance(m.pos, node.position) / node.radius;
                    (
                        10.0 + 15.0 * closeness + srng.normal(),
                        class_hint(srng, node.modality, m.kind),
                    )
                })
            }
            None => {
                let rate = (node.false_alarms_per_hour + extra) / 3600.0 * TICK;
                srng.chance(rate).then(|| {
                    *quiet_until = tick + ticks(node.period).max(1);
                    scenario.false_detections += 1;
                    (6.0 + 2.0 * srng.unit(), TargetClass::Unknown)
                })
            }
        };
        if let Some((snr_db, class)) = report {
            let half = node.radius / 2.0;
            let [x, y] = node.position;
            scenario
                .detections
                .push(position(t, &node.id, x, y, half * half));
            scenario.events.push(SensorEvent {
                t,
                sensor: node.id.clone(),
                body: EventBody::Ground {
                    modality: node.modality,
                    snr_db,
                    class,
                },
            });
        }
    }

    for (n, portal) in config.portals.iter().enumerate() {
        index += 1;
        let (silent, _) = fault_at(&config.faults, &portal.id, t);
        if !silent {
            heartbeat(scenario, &portal.id, portal.heartbeat, index);
        }
        let Some(expected) = state.portal_expected.get_mut(n) else {
            continue;
        };
        if tick > 0 {
            expected[0] += portal.gamma_background_cps * TICK;
            expected[1] += portal.neutron_background_cps * TICK;
            for m in movers.iter().filter(|m| m.alive) {
                if let Some(source) = m.source {
                    // Inverse square, held at 1 m: a source cannot get
                    // closer than the detector face.
                    let r2 = distance(m.pos, portal.position).powi(2).max(1.0);
                    expected[0] += source.gamma_cps_at_1m / r2 * TICK;
                    expected[1] += source.neutron_cps_at_1m / r2 * TICK;
                }
            }
        }
        let interval_ticks = ticks(portal.interval).max(1);
        if tick > 0 && tick.is_multiple_of(interval_ticks) {
            let gamma = srng.poisson(expected[0]);
            let neutron = srng.poisson(expected[1]);
            *expected = [0.0, 0.0];
            if !silent {
                scenario.events.push(SensorEvent {
                    t,
                    sensor: portal.id.clone(),
                    body: EventBody::Radiation {
                        interval: interval_ticks as f64 * TICK,
                        gamma: u32::try_from(gamma).unwrap_or(u32::MAX),
                        neutron: u32::try_from(neutron).unwrap_or(u32::MAX),
                    },
                });
            }
        }
    }

    for camera in &config.cameras {
        index += 1;
        let period_ticks = ticks(camera.period).max(1);
        let (silent, extra) = fault_at(&config.faults, &camera.id, t);
        if silent || !on_schedule(tick, period_ticks, stagger(index, period_ticks)) {
            continue;
        }
        let in_view = |p: [f64; 2]| {
            let off = (azimuth_deg(camera.position, p) - camera.heading_deg + 540.0)
                .rem_euclid(360.0)
                - 180.0;
            let range = distance(camera.position, p);
            range <= camera.range && range > 1.0 && off.abs() <= camera.fov_deg / 2.0
        };
        for m in movers.iter().filter(|m| m.alive && in_view(m.pos)) {
            if !srng.chance(camera.pd) {
                continue;
            }
            let azimuth_deg = (azimuth_deg(camera.position, m.pos)
                + camera.bearing_sigma_deg * srng.normal())
            .rem_euclid(360.0);
            let right = srng.chance(0.9);
            let confidence_pct = srng.uniform(60.0, 95.0).round() as u8;
            scenario.events.push(SensorEvent {
                t,
                sensor: camera.id.clone(),
                body: EventBody::Camera {
                    azimuth_deg,
                    class: if right {
                        m.kind.class()
                    } else {
                        TargetClass::Unknown
                    },
                    confidence_pct,
                },
            });
        }
        let rate = (camera.false_alarms_per_hour + extra) / 3600.0 * camera.period;
        if srng.chance(rate) {
            scenario.false_detections += 1;
            let off = srng.uniform(-camera.fov_deg / 2.0, camera.fov_deg / 2.0);
            scenario.events.push(SensorEvent {
                t,
                sensor: camera.id.clone(),
                body: EventBody::Camera {
                    azimuth_deg: (camera.heading_deg + off).rem_euclid(360.0),
                    class: TargetClass::Person,
                    confidence_pct: srng.uniform(35.0, 60.0).round() as u8,
                },
            });
        }
    }
}

/// Fisher-Yates: order within a scan must carry no hint of which detection
/// is real.
fn shuffle<T>(rng: &mut Rng, items: &mut [T]) {
    for i in (1..items.len()).rev() {
        items.swap(i, rng.below(i + 1));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_scenario_other_seed_other_scenario() {
        let a = generate(&ScenarioConfig::sample_like(1));
        let b = generate(&ScenarioConfig::sample_like(1));
        let c = generate(&ScenarioConfig::sample_like(2));
        assert_eq!(a, b);
        assert_ne!(a.detections, c.detections);
    }

    #[test]
    fn files_follow_the_format_rules() {
        let s = generate(&ScenarioConfig::sample_like(3));
        assert!(s.detections.windows(2).all(|w| w[0].t <= w[1].t));
        assert!(
            s.truth
                .windows(2)
                .all(|w| (w[0].t, w[0].id) < (w[1].t, w[1].id))
        );
        // Truth exists at every radar-1 scan while any target is alive, and
        // movers stay inside the area.
        assert!(s.truth.iter().all(|r| (0.0..=6000.0).contains(&r.x)));
        assert!(s.false_detections > 0 && s.false_detections < s.detections.len());
    }

    #[test]
    fn shape_resembles_the_public_sample() {
        // The sample has 3985 detections, 2033 of them false, and 3981
        // truth rows for 10 targets over 300 s.
        let s = generate(&ScenarioConfig::sample_like(4));
        let ids: std::collections::BTreeSet<u64> = s.truth.iter().map(|r| r.id).collect();
        assert_eq!(ids.len(), 10);
        assert!(
            (2000..8000).contains(&s.detections.len()),
            "{}",
            s.detections.len()
        );
        assert!(
            (1000..3500).contains(&s.false_detections),
            "{}",
            s.false_detections
        );
        let node_reports = s
            .detections
            .iter()
            .filter(|d| d.sensor.starts_with("ugs"))
            .count();
        assert!(node_reports > 50, "{node_reports}");
    }

    #[test]
    fn turning_mover_keeps_its_speed() {
        let mut m = Mover {
            id: 1,
            start_tick: 0,
            pos: [0.0, 0.0],
            vel: [10.0, 0.0],
            turn: (0.1, 40),
            alive: true,
            kind: MoverKind::Vehicle,
            route: Vec::new(),
            speed: 10.0,
            wander: None,
            source: None,
            done: false,
            scripted: false,
        };
        for _ in 0..40 {
            m.step();
        }
        // 40 ticks of 0.25 s at 0.1 rad/s: a 1 rad turn on a 100 m radius.
        assert!((m.vel[0].hypot(m.vel[1]) - 10.0).abs() < 1e-9);
        assert!((m.pos[0] - 100.0 * 1f64.sin()).abs() < 1e-9);
        assert!((m.pos[1] - 100.0 * (1.0 - 1f64.cos())).abs() < 1e-9);
    }
}
