//! The configured sensors, resolved into the site frame, with their
//! per-sensor pipeline state.

use std::collections::{BTreeMap, VecDeque};

use nalgebra::Vector2;
use picket_wire::TimeBase;

use crate::config::{EngineConfig, SensorConfig};
use crate::geodesy::{Geodetic, LocalFrame};
use crate::health::SensorHealth;
use crate::radiation::Background;

/// One configured sensor and everything the engine keeps about it.
#[derive(Debug, Clone)]
pub(crate) struct Sensor {
    /// The configuration entry.
    pub config: SensorConfig,
    /// The checked id, for published messages.
    pub id: picket_schema::SensorId,
    /// East, north of the sensor in the site frame, metres.
    pub enu: Vector2<f64>,
    /// Meridian convergence at the sensor, radians (see
    /// [`LocalFrame::azimuth_correction`]).
    pub azimuth_correction: f64,
    /// The clock of its timestamps: from the config until a `Hello`.
    pub time_base: TimeBase,
    /// Assumed transport latency of a boot-clock sensor, µs.
    pub latency_us: i64,
    /// Recently accepted sequence numbers.
    pub dedup: DedupWindow,
    /// Uptime in the latest heartbeat, to notice reboots.
    pub last_uptime_s: Option<u32>,
    /// Health as last assessed.
    pub health: SensorHealth,
    /// Background estimate, for radiation detectors.
    pub background: Background,
}

/// The most recent `capacity` sequence numbers of one sensor.
///
/// A window rather than "highest seen": reports arrive out of order within
/// the reorder lag, and a sensor's counter wraps, so only membership is a
/// safe test.
#[derive(Debug, Clone)]
pub(crate) struct DedupWindow {
    recent: VecDeque<u32>,
    capacity: usize,
}

impl DedupWindow {
    fn new(capacity: usize) -> Self {
        Self {
            recent: VecDeque::with_capacity(capacity),
            capacity,
        }
    }

    /// Whether `sequence` was recorded within the window.
    ///
    /// Every input asks, and the window holds hundreds of numbers: the
    /// comparisons are OR-ed over blocks of 16 without an early exit, so
    /// they compile to vector compares (`VecDeque::contains` stops at each
    /// element and was 2% of a replay).
    pub fn contains(&self, sequence: u32) -> bool {
        let (older, newer) = self.recent.as_slices();
        [older, newer].into_iter().any(|numbers| {
            numbers.chunks(16).any(|block| {
                block
                    .iter()
                    .fold(false, |found, number| found | (*number == sequence))
            })
        })
    }

    /// Records an accepted sequence number, forgetting the oldest when full.
    pub fn record(&mut self, sequence: u32) {
        if self.recent.len() >= self.capacity {
            self.recent.pop_front();
        }
        self.recent.push_back(sequence);
    }

    /// Forgets everything: a rebooted sensor restarts its counter.
    pub fn clear(&mut self) {
        self.recent.clear();
    }
}

/// Every configured sensor, indexed by position in the configuration (which
/// is also its tracker [`picket_track::SensorId`]).
#[derive(Debug, Clone)]
pub(crate) struct Registry {
    pub sensors: Vec<Sensor>,
    by_id: BTreeMap<String, u32>,
    by_topic: BTreeMap<String, u32>,
    by_port: BTreeMap<String, u32>,
}

impl Registry {
    /// Resolves every sensor of a validated configuration.
    pub fn new(config: &EngineConfig, frame: &LocalFrame) -> Self {
        let mut registry = Self {
            sensors: Vec::with_capacity(config.sensors.len()),
            by_id: BTreeMap::new(),
            by_topic: BTreeMap::new(),
            by_port: BTreeMap::new(),
        };
        for sensor in &config.sensors {
            // Validation checked the id; an id that fails here is skipped
            // rather than panicking, and reports from it count as unknown.
            let Ok(id) = picket_schema::SensorId::new(sensor.id.as_str()) else {
                continue;
            };
            let Ok(index) = u32::try_from(registry.sensors.len()) else {
                break;
            };
            let position = Geodetic {
                lat_deg: sensor.position.lat,
                lon_deg: sensor.position.lon,
                alt_m: sensor.position.alt_m,
            };
            let enu = frame.to_enu(position);
            registry.by_id.insert(sensor.id.clone(), index);
            if let Some(topic) = &sensor.mqtt_topic {
                registry.by_topic.insert(topic.clone(), index);
            }
            if let Some(port) = &sensor.serial_port {
                registry.by_port.insert(port.clone(), index);
            }
            registry.sensors.push(Sensor {
                config: sensor.clone(),
                id,
                enu: Vector2::new(enu.east, enu.north),
                azimuth_correction: frame.azimuth_correction(position),
                time_base: sensor.clock.to_wire(),
                latency_us: i64::try_from(sensor.latency_ms.saturating_mul(1_000))
                    .unwrap_or(i64::MAX),
                dedup: DedupWindow::new(config.site.dedup_window),
                last_uptime_s: None,
                health: SensorHealth::default(),
                background: Background::default(),
            });
        }
        registry
    }

    /// The sensor with this id.
    pub fn by_id(&self, id: &str) -> Option<u32> {
        self.by_id.get(id).copied()
    }

    /// The sensor bound to this serial port in the configuration.
    pub fn by_port(&self, port: &str) -> Option<u32> {
        self.by_port.get(port).copied()
    }

    /// The sensor publishing on this MQTT topic: an explicit binding, else
    /// the id in a topic ending `sensors/<id>/reports`.
    pub fn by_topic(&self, topic: &str) -> Option<u32> {
        if let Some(index) = self.by_topic.get(topic) {
            return Some(*index);
        }
        let mut levels = topic.rsplit('/');
        match (levels.next(), levels.next(), levels.next()) {
            (Some("reports"), Some(id), Some("sensors")) => self.by_id(id),
            _ => None,
        }
    }

    /// The sensor at `index`.
    pub fn get(&self, index: u32) -> Option<&Sensor> {
        self.sensors.get(index as usize)
    }

    /// The sensor at `index`, mutably.
    pub fn get_mut(&mut self, index: u32) -> Option<&mut Sensor> {
        self.sensors.get_mut(index as usize)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_dedup_window_holds_exactly_the_last_capacity_numbers() {
        // 40: blocks of 16 and a partial one; 300 records wrap the ring
        // (two slices) many times over.
        let mut window = DedupWindow::new(40);
        for sequence in 0..300u32 {
            window.record(sequence.wrapping_mul(7919));
            let remembered = |n: u32| window.contains(n.wrapping_mul(7919));
            let oldest_kept = sequence.saturating_sub(39);
            assert!((oldest_kept..=sequence).all(remembered), "at {sequence}");
            assert!(!(0..oldest_kept).any(remembered), "at {sequence}");
        }
        window.clear();
        assert!(!window.contains(299 * 7919));
    }
}
