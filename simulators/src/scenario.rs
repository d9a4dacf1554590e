//! Seeded border scenarios: movers, sensors, clutter, and the ground truth.
//!
//! A scenario is a border segment along the x axis with the border line at
//! mid-height: walkers cross it, vehicles drive along it, both turn now and
//! then; two radars and a line of unattended ground sensors (UGS) watch it.
//! The defaults mirror the public sample in `shared/formats/sample/`, so a
//! tracker tuned on the sample can be checked on scenarios it has never
//! seen. Every random draw comes from one seeded [`Rng`], in a fixed order,
//! so a seed gives the same files on every machine.

use crate::rng::Rng;
use picket_cli::formats::{DetectionRecord, MeasurementRecord, TruthRecord};

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
        }
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

/// Generates the scenario `config` describes.
pub fn generate(config: &ScenarioConfig) -> Scenario {
    let mut rng = Rng::new(config.seed);
    let [width, height] = config.area;
    let border = height / 2.0;
    let end_tick = ticks(config.duration);

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
    let mut scenario = Scenario::default();
    let mut scan = Vec::new();
    for tick in 0..=end_tick {
        let t = tick as f64 * TICK;
        for m in movers.iter_mut() {
            if tick == m.start_tick {
                m.alive = true;
            } else if m.alive {
                m.step();
                m.alive = inside(m.pos);
            }
            // Turn decisions once a second, so the rate is per second.
            if m.alive && m.turn.1 == 0 && tick.is_multiple_of(4) && rng.chance(config.turn_rate) {
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

        if any_scan {
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
