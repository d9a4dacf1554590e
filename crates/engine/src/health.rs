//! Per-sensor health: last heard, heartbeat faults, silence.
//!
//! Health changes are published when the (state, tamper, faults) signature
//! changes; battery and temperature ride along but do not by themselves
//! cause a message, or every heartbeat would.

use std::collections::BTreeMap;

use picket_schema::{
    HealthState, SCHEMA_VERSION, SensorCounters, SensorFault, SensorHealthMessage, SensorId,
    SensorKind, SiteId, Timestamp,
};
use picket_wire::{FaultFlags, Heartbeat};

/// Coldest board temperature published, in tenths of a degree: the schema
/// bounds temperatures at absolute zero (-273.15 °C).
const MIN_DECICELSIUS: i16 = -2731;

/// What was last published about a sensor, to detect changes.
type Signature = (HealthState, bool, u32);

/// Everything the engine knows about one sensor's health.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct SensorHealth {
    /// Engine time of the newest report released from the sensor.
    pub last_heard: Option<Timestamp>,
    /// Host time of the newest input from the sensor, for silence.
    pub last_received: Option<Timestamp>,
    battery_mv: Option<u16>,
    temperature_decicelsius: Option<i16>,
    tamper: bool,
    faults: u32,
    /// Set by a tick that found the sensor quiet for too long.
    pub silent: bool,
    /// Messages counted for the health message: accepted ones when they
    /// leave the reorder buffer, dropped ones when dropped. Counting at
    /// release keeps the health stream a function of the report order,
    /// not of delivery jitter, so shuffled input gives the same bytes.
    pub received: u64,
    /// Drops by reason name.
    pub dropped: BTreeMap<&'static str, u64>,
    published: Option<Signature>,
    /// When health was last published.
    pub last_published: Option<Timestamp>,
}

/// Rising edges found in a heartbeat.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct HeartbeatEdges {
    /// The tamper switch just opened.
    pub tamper_rose: bool,
    /// A fault bit just became active.
    pub fault_rose: bool,
}

impl SensorHealth {
    /// Takes in a heartbeat and reports what newly went wrong.
    pub fn apply_heartbeat(&mut self, heartbeat: &Heartbeat) -> HeartbeatEdges {
        let edges = HeartbeatEdges {
            tamper_rose: heartbeat.tamper && !self.tamper,
            fault_rose: heartbeat.faults.0 & !self.faults != 0,
        };
        self.battery_mv = heartbeat.battery_mv;
        // A reading below absolute zero is a broken transducer or a
        // firmware "no reading" sentinel (i16::MIN), not a temperature:
        // report it as absent. Passing it on made every later health
        // message of the sensor fail the schema check, so none was
        // published (found by crates/engine/fuzz, target mqtt_payload).
        self.temperature_decicelsius = Some(heartbeat.temperature_decicelsius)
            .filter(|&decidegrees| decidegrees >= MIN_DECICELSIUS);
        self.tamper = heartbeat.tamper;
        self.faults = heartbeat.faults.0;
        edges
    }

    /// The overall state. Silence wins (nothing else is current), then a
    /// transducer failure, then anything that leaves the sensor working.
    pub fn state(&self) -> HealthState {
        if self.silent {
            HealthState::Silent
        } else if FaultFlags(self.faults).contains(FaultFlags::SENSOR_FAILURE) {
            HealthState::Fault
        } else if self.tamper || self.faults != 0 {
            HealthState::Degraded
        } else {
            HealthState::Ok
        }
    }

    fn signature(&self) -> Signature {
        (self.state(), self.tamper, self.faults)
    }

    /// Whether the health differs from what was last published.
    pub fn changed(&self) -> bool {
        self.published != Some(self.signature())
    }

    /// The active faults, for messages.
    pub fn fault_list(&self) -> Vec<SensorFault> {
        fault_list(self.faults)
    }

    /// Builds the health message and records it as published.
    pub fn publish(
        &mut self,
        site: &SiteId,
        sensor: &SensorId,
        kind: SensorKind,
        time: Timestamp,
    ) -> SensorHealthMessage {
        self.published = Some(self.signature());
        self.last_published = Some(time);
        SensorHealthMessage {
            schema: SCHEMA_VERSION,
            seq: 0,
            site: site.clone(),
            time,
            sensor: sensor.clone(),
            kind,
            state: self.state(),
            last_heard: self.last_heard,
            battery_v: self
                .battery_mv
                .map(|millivolts| f64::from(millivolts) / 1_000.0),
            temperature_c: self
                .temperature_decicelsius
                .map(|decidegrees| f64::from(decidegrees) / 10.0),
            tamper: self.tamper,
            faults: self.fault_list(),
            counters: SensorCounters {
                received: self.received,
                dropped: self
                    .dropped
                    .iter()
                    .map(|(reason, count)| ((*reason).to_owned(), *count))
                    .collect(),
            },
        }
    }
}

/// Fault bits as schema faults, sorted and distinct; unknown bits become
/// one `unrecognised`.
pub(crate) fn fault_list(bits: u32) -> Vec<SensorFault> {
    const KNOWN: [(u32, SensorFault); 7] = [
        (FaultFlags::CLOCK_UNSYNCED, SensorFault::ClockUnsynced),
        (FaultFlags::SENSOR_FAILURE, SensorFault::SensorFailure),
        (FaultFlags::LOW_BATTERY, SensorFault::LowBattery),
        (FaultFlags::OVER_TEMPERATURE, SensorFault::OverTemperature),
        (FaultFlags::STORAGE, SensorFault::Storage),
        (FaultFlags::CALIBRATION, SensorFault::Calibration),
        (FaultFlags::MESSAGES_DROPPED, SensorFault::MessagesDropped),
    ];
    let mut faults: Vec<SensorFault> = KNOWN
        .iter()
        .filter(|(bit, _)| bits & bit != 0)
        .map(|(_, fault)| *fault)
        .collect();
    let known_bits = KNOWN.iter().fold(0, |mask, (bit, _)| mask | bit);
    if bits & !known_bits != 0 {
        faults.push(SensorFault::Unrecognised);
    }
    faults.sort_unstable();
    faults
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    fn heartbeat(temperature_decicelsius: i16) -> Heartbeat {
        Heartbeat {
            sensor_time_us: 1_764_288_000_000_000,
            uptime_s: 12,
            battery_mv: None,
            temperature_decicelsius,
            tamper: false,
            faults: FaultFlags(0),
        }
    }

    fn published_temperature(temperature_decicelsius: i16) -> Option<f64> {
        let mut health = SensorHealth::default();
        health.apply_heartbeat(&heartbeat(temperature_decicelsius));
        let message = health.publish(
            &SiteId::new("fz").unwrap(),
            &SensorId::new("gn-07").unwrap(),
            SensorKind::GroundNode,
            Timestamp::from_unix_micros(1_764_288_000_000_000).unwrap(),
        );
        // Whatever the heartbeat said, the message must pass the schema,
        // or the outbox refuses it and the sensor's health goes dark.
        picket_schema::to_json(&message).unwrap();
        message.temperature_c
    }

    #[test]
    fn temperatures_below_absolute_zero_are_published_as_absent() {
        assert_eq!(published_temperature(i16::MIN), None);
        assert_eq!(published_temperature(-2732), None);
        assert_eq!(published_temperature(-2731), Some(-273.1));
        assert_eq!(published_temperature(-45), Some(-4.5));
        assert_eq!(published_temperature(i16::MAX), Some(3276.7));
    }
}
