//! Scenario files: a site scenario in TOML (`simulators/scenarios/*.toml`).
//!
//! Every table denies unknown keys, as picketd's configuration does: a
//! misspelt key is an error naming the file, the line and the key, never a
//! silently ignored default. Positions are metres in the site frame (east,
//! north) around the WGS84 origin of `[site]`.
//!
//! ```toml
//! seed = 7
//! duration_s = 60.0
//! [site]            # id, origin = { lat, lon, alt_m }
//! [[ground_lines]]  # count nodes evenly from `from` to `to`
//! [[ground_nodes]]  # one node
//! [[portals]]       # radiation portal monitor
//! [[cameras]]
//! [[radars]]        # with `position`: range-bearing; without: positions
//! [[movers]]        # walker, vehicle, animal; `source` makes a carrier
//! [[faults]]        # silent or noisy sensor over an interval
//! ```

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use picket_wire::GroundModality;
use serde::Deserialize;
use thiserror::Error;
use toml::Spanned;

use crate::scenario::{
    CameraConfig, FaultConfig, FaultKind, GroundNodeConfig, MoverKind, MoverSpec, PortalConfig,
    RadarConfig, RadiationSource, ScenarioConfig, SiteSpec, Transport, UgsConfig,
};

/// Longest sensor id picket-wire carries, bytes.
const MAX_ID_LEN: usize = picket_wire::MAX_SENSOR_ID_LEN;

/// Why a scenario file could not be used.
#[derive(Debug, Error)]
pub enum ScenarioFileError {
    /// The file could not be read.
    #[error("{}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// Not valid TOML, an unknown key, or a value of the wrong type.
    #[error("{}:{line}: {}{message}", path.display(), key.as_ref().map(|k| format!("{k}: ")).unwrap_or_default())]
    Parse {
        /// The file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// The key concerned, when it can be named.
        key: Option<String>,
        /// toml's explanation.
        message: String,
    },
    /// Parsed, but a value is unusable.
    #[error("{}:{line}: {key}: {message}", path.display())]
    Invalid {
        /// The file.
        path: PathBuf,
        /// 1-based line of the table holding the key.
        line: usize,
        /// The key in TOML path form, e.g. `ground_nodes[2].pd`.
        key: String,
        /// What is wrong.
        message: String,
    },
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    seed: u64,
    duration_s: f64,
    site: Spanned<RawSite>,
    #[serde(default)]
    ground_lines: Vec<Spanned<RawGroundLine>>,
    #[serde(default)]
    ground_nodes: Vec<Spanned<RawGroundNode>>,
    #[serde(default)]
    portals: Vec<Spanned<RawPortal>>,
    #[serde(default)]
    cameras: Vec<Spanned<RawCamera>>,
    #[serde(default)]
    radars: Vec<Spanned<RawRadar>>,
    #[serde(default)]
    movers: Vec<Spanned<RawMover>>,
    #[serde(default)]
    faults: Vec<Spanned<RawFault>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSite {
    id: String,
    origin: RawOrigin,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawOrigin {
    lat: f64,
    lon: f64,
    #[serde(default)]
    alt_m: f64,
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "snake_case")]
enum RawModality {
    Seismic,
    Acoustic,
    Magnetic,
    Pir,
}

impl RawModality {
    fn to_wire(self) -> GroundModality {
        match self {
            RawModality::Seismic => GroundModality::Seismic,
            RawModality::Acoustic => GroundModality::Acoustic,
            RawModality::Magnetic => GroundModality::Magnetic,
            RawModality::Pir => GroundModality::PassiveInfrared,
        }
    }
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "snake_case")]
enum RawTransport {
    Serial,
    Mqtt,
}

impl From<RawTransport> for Transport {
    fn from(raw: RawTransport) -> Self {
        match raw {
            RawTransport::Serial => Transport::Serial,
            RawTransport::Mqtt => Transport::Mqtt,
        }
    }
}

fn serial() -> RawTransport {
    RawTransport::Serial
}
fn mqtt() -> RawTransport {
    RawTransport::Mqtt
}
fn heartbeat_s() -> f64 {
    10.0
}
fn node_period_s() -> f64 {
    2.0
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGroundLine {
    id_prefix: String,
    from: [f64; 2],
    to: [f64; 2],
    count: usize,
    modality: RawModality,
    radius_m: f64,
    pd: f64,
    #[serde(default)]
    false_alarms_per_hour: f64,
    #[serde(default = "node_period_s")]
    period_s: f64,
    #[serde(default = "heartbeat_s")]
    heartbeat_s: f64,
    #[serde(default = "serial")]
    transport: RawTransport,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGroundNode {
    id: String,
    modality: RawModality,
    position: [f64; 2],
    radius_m: f64,
    pd: f64,
    #[serde(default)]
    false_alarms_per_hour: f64,
    #[serde(default = "node_period_s")]
    period_s: f64,
    #[serde(default = "heartbeat_s")]
    heartbeat_s: f64,
    #[serde(default = "serial")]
    transport: RawTransport,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPortal {
    id: String,
    position: [f64; 2],
    radius_m: f64,
    interval_s: f64,
    gamma_background_cps: f64,
    #[serde(default)]
    neutron_background_cps: f64,
    #[serde(default = "heartbeat_s")]
    heartbeat_s: f64,
    #[serde(default = "serial")]
    transport: RawTransport,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCamera {
    id: String,
    position: [f64; 2],
    heading_deg: f64,
    fov_deg: f64,
    range_m: f64,
    period_s: f64,
    pd: f64,
    bearing_sigma_deg: f64,
    #[serde(default)]
    false_alarms_per_hour: f64,
    #[serde(default = "mqtt")]
    transport: RawTransport,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRadar {
    id: String,
    #[serde(default)]
    position: Option<[f64; 2]>,
    range_m: f64,
    period_s: f64,
    #[serde(default)]
    offset_s: f64,
    /// Range noise (positioned radar) or position noise per axis, metres.
    sigma_m: f64,
    #[serde(default)]
    bearing_sigma_deg: f64,
    pd: f64,
    #[serde(default)]
    clutter_per_scan: f64,
    #[serde(default = "mqtt")]
    transport: RawTransport,
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "snake_case")]
enum RawKind {
    Walker,
    Vehicle,
    Animal,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSource {
    gamma_cps_at_1m: f64,
    #[serde(default)]
    neutron_cps_at_1m: f64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMover {
    kind: RawKind,
    #[serde(default)]
    start_s: f64,
    speed_mps: f64,
    path: Vec<[f64; 2]>,
    #[serde(default)]
    source: Option<RawSource>,
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "snake_case")]
enum RawFaultKind {
    Silent,
    Noisy,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFault {
    sensor: String,
    kind: RawFaultKind,
    from_s: f64,
    to_s: f64,
    #[serde(default)]
    false_alarms_per_hour: f64,
}

/// 1-based line of byte `offset` in `text`.
fn line_of(text: &str, offset: usize) -> usize {
    text.get(..offset.min(text.len()))
        .unwrap_or(text)
        .matches('\n')
        .count()
        + 1
}

/// Reads and checks the scenario file at `path`.
pub fn load(path: &Path) -> Result<ScenarioConfig, ScenarioFileError> {
    let text = std::fs::read_to_string(path).map_err(|source| ScenarioFileError::Read {
        path: path.to_owned(),
        source,
    })?;
    parse(&text, path)
}

/// Parses and checks scenario `text`; `path` names it in errors.
pub fn parse(text: &str, path: &Path) -> Result<ScenarioConfig, ScenarioFileError> {
    let raw: RawFile = toml::from_str(text).map_err(|error| {
        let span = error.span();
        let line = span.as_ref().map_or(1, |s| line_of(text, s.start));
        // An unknown key's span is the key itself; name it when it is one.
        let key = span
            .and_then(|s| text.get(s))
            .map(|k| k.trim().trim_matches('"').to_owned())
            .filter(|k| {
                !k.is_empty()
                    && k.chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
            });
        ScenarioFileError::Parse {
            path: path.to_owned(),
            line,
            key,
            message: error.message().trim_end().to_owned(),
        }
    })?;
    Checker {
        text,
        path,
        ids: BTreeSet::new(),
    }
    .build(raw)
}

struct Checker<'a> {
    text: &'a str,
    path: &'a Path,
    ids: BTreeSet<String>,
}

type Check<T> = Result<T, ScenarioFileError>;

impl Checker<'_> {
    fn invalid(
        &self,
        span: std::ops::Range<usize>,
        key: String,
        message: &str,
    ) -> ScenarioFileError {
        ScenarioFileError::Invalid {
            path: self.path.to_owned(),
            line: line_of(self.text, span.start),
            key,
            message: message.to_owned(),
        }
    }

    fn positive(&self, span: &std::ops::Range<usize>, key: String, value: f64) -> Check<()> {
        if value.is_finite() && value > 0.0 {
            Ok(())
        } else {
            Err(self.invalid(span.clone(), key, "must be a positive number"))
        }
    }

    fn non_negative(&self, span: &std::ops::Range<usize>, key: String, value: f64) -> Check<()> {
        if value.is_finite() && value >= 0.0 {
            Ok(())
        } else {
            Err(self.invalid(span.clone(), key, "must be zero or more"))
        }
    }

    fn probability(&self, span: &std::ops::Range<usize>, key: String, value: f64) -> Check<()> {
        if value > 0.0 && value <= 1.0 {
            Ok(())
        } else {
            Err(self.invalid(span.clone(), key, "must be in (0, 1]"))
        }
    }

    fn finite(&self, span: &std::ops::Range<usize>, key: String, point: [f64; 2]) -> Check<()> {
        if point.iter().all(|v| v.is_finite()) {
            Ok(())
        } else {
            Err(self.invalid(span.clone(), key, "must be finite metres"))
        }
    }

    fn new_id(&mut self, span: &std::ops::Range<usize>, key: String, id: &str) -> Check<()> {
        if id.is_empty() || id.len() > MAX_ID_LEN || id.contains(['/', '+', '#']) {
            return Err(self.invalid(
                span.clone(),
                key,
                "must be 1 to 32 bytes without '/', '+' or '#'",
            ));
        }
        if !self.ids.insert(id.to_owned()) {
            return Err(self.invalid(
                span.clone(),
                key,
                &format!("sensor id {id:?} is used twice"),
            ));
        }
        Ok(())
    }

    fn build(mut self, raw: RawFile) -> Check<ScenarioConfig> {
        let root = 0..0;
        self.positive(&root, "duration_s".into(), raw.duration_s)?;
        let site_span = raw.site.span();
        let site = raw.site.into_inner();
        if site.id.is_empty() || site.id.contains(['/', '+', '#']) {
            return Err(self.invalid(site_span, "site.id".into(), "must be a topic level"));
        }
        if !(site.origin.lat.abs() <= 90.0 && site.origin.lon.abs() <= 180.0) {
            return Err(self.invalid(site_span, "site.origin".into(), "not a WGS84 position"));
        }

        let mut ground_nodes = Vec::new();
        for (i, line) in raw.ground_lines.iter().enumerate() {
            let span = line.span();
            let line = line.get_ref();
            let key = |k: &str| format!("ground_lines[{i}].{k}");
            if line.count == 0 {
                return Err(self.invalid(span, key("count"), "must be at least 1"));
            }
            self.finite(&span, key("from"), line.from)?;
            self.finite(&span, key("to"), line.to)?;
            self.positive(&span, key("radius_m"), line.radius_m)?;
            self.probability(&span, key("pd"), line.pd)?;
            self.non_negative(
                &span,
                key("false_alarms_per_hour"),
                line.false_alarms_per_hour,
            )?;
            self.positive(&span, key("period_s"), line.period_s)?;
            self.positive(&span, key("heartbeat_s"), line.heartbeat_s)?;
            for n in 0..line.count {
                // Nodes at the centres of `count` equal stretches.
                let f = (n as f64 + 0.5) / line.count as f64;
                let id = format!("{}-{:02}", line.id_prefix, n + 1);
                self.new_id(&span, key("id_prefix"), &id)?;
                ground_nodes.push(GroundNodeConfig {
                    id,
                    modality: line.modality.to_wire(),
                    position: [
                        line.from[0] + f * (line.to[0] - line.from[0]),
                        line.from[1] + f * (line.to[1] - line.from[1]),
                    ],
                    radius: line.radius_m,
                    pd: line.pd,
                    false_alarms_per_hour: line.false_alarms_per_hour,
                    period: line.period_s,
                    heartbeat: line.heartbeat_s,
                    transport: line.transport.into(),
                });
            }
        }
        for (i, node) in raw.ground_nodes.iter().enumerate() {
            let span = node.span();
            let node = node.get_ref();
            let key = |k: &str| format!("ground_nodes[{i}].{k}");
            self.new_id(&span, key("id"), &node.id)?;
            self.finite(&span, key("position"), node.position)?;
            self.positive(&span, key("radius_m"), node.radius_m)?;
            self.probability(&span, key("pd"), node.pd)?;
            self.non_negative(
                &span,
                key("false_alarms_per_hour"),
                node.false_alarms_per_hour,
            )?;
            self.positive(&span, key("period_s"), node.period_s)?;
            self.positive(&span, key("heartbeat_s"), node.heartbeat_s)?;
            ground_nodes.push(GroundNodeConfig {
                id: node.id.clone(),
                modality: node.modality.to_wire(),
                position: node.position,
                radius: node.radius_m,
                pd: node.pd,
                false_alarms_per_hour: node.false_alarms_per_hour,
                period: node.period_s,
                heartbeat: node.heartbeat_s,
                transport: node.transport.into(),
            });
        }

        let mut portals = Vec::new();
        for (i, portal) in raw.portals.iter().enumerate() {
            let span = portal.span();
            let p = portal.get_ref();
            let key = |k: &str| format!("portals[{i}].{k}");
            self.new_id(&span, key("id"), &p.id)?;
            self.finite(&span, key("position"), p.position)?;
            self.positive(&span, key("radius_m"), p.radius_m)?;
            self.positive(&span, key("interval_s"), p.interval_s)?;
            self.positive(&span, key("gamma_background_cps"), p.gamma_background_cps)?;
            self.non_negative(
                &span,
                key("neutron_background_cps"),
                p.neutron_background_cps,
            )?;
            self.positive(&span, key("heartbeat_s"), p.heartbeat_s)?;
            portals.push(PortalConfig {
                id: p.id.clone(),
                position: p.position,
                radius: p.radius_m,
                interval: p.interval_s,
                gamma_background_cps: p.gamma_background_cps,
                neutron_background_cps: p.neutron_background_cps,
                heartbeat: p.heartbeat_s,
                transport: p.transport.into(),
            });
        }

        let mut cameras = Vec::new();
        for (i, camera) in raw.cameras.iter().enumerate() {
            let span = camera.span();
            let c = camera.get_ref();
            let key = |k: &str| format!("cameras[{i}].{k}");
            self.new_id(&span, key("id"), &c.id)?;
            self.finite(&span, key("position"), c.position)?;
            if !(c.fov_deg > 0.0 && c.fov_deg <= 360.0) {
                return Err(self.invalid(span, key("fov_deg"), "must be in (0, 360]"));
            }
            self.non_negative(&span, key("heading_deg"), c.heading_deg)?;
            self.positive(&span, key("range_m"), c.range_m)?;
            self.positive(&span, key("period_s"), c.period_s)?;
            self.probability(&span, key("pd"), c.pd)?;
            self.positive(&span, key("bearing_sigma_deg"), c.bearing_sigma_deg)?;
            self.non_negative(&span, key("false_alarms_per_hour"), c.false_alarms_per_hour)?;
            cameras.push(CameraConfig {
                id: c.id.clone(),
                position: c.position,
                heading_deg: c.heading_deg,
                fov_deg: c.fov_deg,
                range: c.range_m,
                period: c.period_s,
                pd: c.pd,
                bearing_sigma_deg: c.bearing_sigma_deg,
                false_alarms_per_hour: c.false_alarms_per_hour,
                transport: c.transport.into(),
            });
        }

        let mut radars = Vec::new();
        for (i, radar) in raw.radars.iter().enumerate() {
            let span = radar.span();
            let r = radar.get_ref();
            let key = |k: &str| format!("radars[{i}].{k}");
            self.new_id(&span, key("id"), &r.id)?;
            if let Some(position) = r.position {
                self.finite(&span, key("position"), position)?;
                self.positive(&span, key("bearing_sigma_deg"), r.bearing_sigma_deg)?;
            }
            self.positive(&span, key("range_m"), r.range_m)?;
            self.positive(&span, key("period_s"), r.period_s)?;
            self.non_negative(&span, key("offset_s"), r.offset_s)?;
            self.positive(&span, key("sigma_m"), r.sigma_m)?;
            self.probability(&span, key("pd"), r.pd)?;
            self.non_negative(&span, key("clutter_per_scan"), r.clutter_per_scan)?;
            radars.push(RadarConfig {
                id: r.id.clone(),
                center: Some(r.position.unwrap_or([0.0, 0.0])),
                radius: r.range_m,
                period: r.period_s,
                offset: r.offset_s,
                sigma: r.sigma_m,
                pd: r.pd,
                clutter_per_scan: r.clutter_per_scan,
                position: r.position,
                bearing_sigma_deg: r.bearing_sigma_deg,
                transport: r.transport.into(),
            });
        }

        let mut movers = Vec::new();
        for (i, mover) in raw.movers.iter().enumerate() {
            let span = mover.span();
            let m = mover.get_ref();
            let key = |k: &str| format!("movers[{i}].{k}");
            self.non_negative(&span, key("start_s"), m.start_s)?;
            self.positive(&span, key("speed_mps"), m.speed_mps)?;
            if m.path.is_empty() {
                return Err(self.invalid(span, key("path"), "needs at least one point"));
            }
            for point in &m.path {
                self.finite(&span, key("path"), *point)?;
            }
            let kind = match m.kind {
                RawKind::Walker => MoverKind::Walker,
                RawKind::Vehicle => MoverKind::Vehicle,
                RawKind::Animal => MoverKind::Animal,
            };
            let source = match &m.source {
                Some(_) if kind == MoverKind::Animal => {
                    return Err(self.invalid(span, key("source"), "animals carry no source"));
                }
                Some(s) => {
                    self.non_negative(&span, key("source.gamma_cps_at_1m"), s.gamma_cps_at_1m)?;
                    self.non_negative(&span, key("source.neutron_cps_at_1m"), s.neutron_cps_at_1m)?;
                    Some(RadiationSource {
                        gamma_cps_at_1m: s.gamma_cps_at_1m,
                        neutron_cps_at_1m: s.neutron_cps_at_1m,
                    })
                }
                None => None,
            };
            movers.push(MoverSpec {
                kind,
                start: m.start_s,
                speed: m.speed_mps,
                path: m.path.clone(),
                source,
            });
        }

        let mut faults = Vec::new();
        for (i, fault) in raw.faults.iter().enumerate() {
            let span = fault.span();
            let f = fault.get_ref();
            let key = |k: &str| format!("faults[{i}].{k}");
            if !self.ids.contains(&f.sensor) {
                return Err(self.invalid(
                    span,
                    key("sensor"),
                    &format!("no sensor {:?} in this scenario", f.sensor),
                ));
            }
            self.non_negative(&span, key("from_s"), f.from_s)?;
            if f.to_s.is_nan() || f.to_s <= f.from_s {
                return Err(self.invalid(span, key("to_s"), "must be after from_s"));
            }
            let kind = match f.kind {
                RawFaultKind::Silent => FaultKind::Silent,
                RawFaultKind::Noisy => {
                    self.positive(&span, key("false_alarms_per_hour"), f.false_alarms_per_hour)?;
                    FaultKind::Noisy {
                        false_alarms_per_hour: f.false_alarms_per_hour,
                    }
                }
            };
            faults.push(FaultConfig {
                sensor: f.sensor.clone(),
                kind,
                from: f.from_s,
                to: f.to_s,
            });
        }

        Ok(ScenarioConfig {
            seed: raw.seed,
            duration: raw.duration_s,
            // The sample-shaped generator's area and random movers are not
            // used by a site scenario: everything here is placed.
            area: [1.0, 1.0],
            walkers: 0,
            vehicles: 0,
            turn_rate: 0.0,
            radars,
            ugs: UgsConfig {
                count: 0,
                radius: [1.0, 1.0],
                periods: vec![1.0],
                declared_sigma: [1.0, 1.0],
                pd: 0.5,
                false_report: 0.0,
                jitter: 0.0,
            },
            site: Some(SiteSpec {
                id: site.id,
                lat: site.origin.lat,
                lon: site.origin.lon,
                alt_m: site.origin.alt_m,
            }),
            ground_nodes,
            portals,
            cameras,
            movers,
            faults,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"
seed = 3
duration_s = 30.0

[site]
id = "t"
origin = { lat = 31.33, lon = -110.94, alt_m = 1200.0 }

[[ground_nodes]]
id = "gn-01"
modality = "seismic"
position = [0.0, 0.0]
radius_m = 20.0
pd = 0.9

[[movers]]
kind = "walker"
speed_mps = 1.5
path = [[-50.0, 0.0], [50.0, 0.0]]
"#;

    #[test]
    fn a_minimal_file_parses_and_generates() {
        let config = parse(MINIMAL, Path::new("m.toml")).unwrap();
        assert_eq!(config.ground_nodes.len(), 1);
        let scenario = crate::scenario::generate(&config);
        assert!(
            scenario
                .events
                .iter()
                .any(|e| matches!(e.body, crate::scenario::EventBody::Ground { .. })),
            "the walker passes the node"
        );
    }

    #[test]
    fn unknown_key_names_file_line_and_key() {
        let text = MINIMAL.replace("radius_m = 20.0", "radius_m = 20.0\nradius_ft = 3");
        let error = parse(&text, Path::new("m.toml")).unwrap_err().to_string();
        assert!(error.starts_with("m.toml:14:"), "{error}");
        assert!(error.contains("radius_ft"), "{error}");
    }

    #[test]
    fn bad_value_names_file_line_and_key() {
        let text = MINIMAL.replace("pd = 0.9", "pd = 1.5");
        let error = parse(&text, Path::new("m.toml")).unwrap_err().to_string();
        assert!(error.starts_with("m.toml:"), "{error}");
        assert!(
            error.contains("ground_nodes[0].pd: must be in (0, 1]"),
            "{error}"
        );
        let line: usize = error.split(':').nth(1).unwrap().parse().unwrap();
        assert!((9..=15).contains(&line), "{error}");
    }

    #[test]
    fn fault_on_unknown_sensor_is_refused() {
        let text = format!(
            "{MINIMAL}\n[[faults]]\nsensor = \"gn-99\"\nkind = \"silent\"\nfrom_s = 1.0\nto_s = 2.0\n"
        );
        let error = parse(&text, Path::new("m.toml")).unwrap_err().to_string();
        assert!(error.contains("faults[0].sensor"), "{error}");
    }

    #[test]
    fn shipped_scenarios_load() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
        let mut count = 0;
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "toml") {
                let config = load(&path).unwrap_or_else(|e| panic!("{e}"));
                let scenario = crate::scenario::generate(&config);
                assert!(!scenario.truth.is_empty(), "{}", path.display());
                count += 1;
            }
        }
        assert!(count >= 2);
    }
}
