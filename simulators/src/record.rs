//! `picket-sim record`: a scenario's virtual sensors recorded as picketd
//! would have recorded them, without a daemon, ptys or real time, so that
//! `picket replay`, `picket inspect` and the replay benchmark get a
//! realistic site's recording in milliseconds.
//!
//! Every sensor says what it says on the ptys and over MQTT
//! ([`crate::live`]): each serial sensor its `Hello` first, then each
//! report as one picket-wire frame read from its port (a slow line delivers
//! a frame per read), each MQTT report as its JSON payload on
//! `picket/<site>/sensors/<id>/reports`. A report is received a fixed
//! transport delay after its sensor time ([`SERIAL_DELAY_US`],
//! [`MQTT_DELAY_US`]); picketd's engine thread would also have ticked every
//! `tick_interval_ms`, and flushed once at shutdown, so those are recorded
//! too. Nothing from a live engine is recorded: a replay makes the engine's
//! releases at inputs and ticks, as a recording without release records
//! always did.

use std::collections::BTreeMap;
use std::path::Path;

use picket_engine::{InputSource, RawInput};
use picket_record::engine::{flush_entry, input_entry, tick_entry};
use picket_record::{RecordError, Recorder, RecorderConfig};
use picket_schema::{TimeError, Timestamp};
use picket_wire::{MAX_ENCODED_FRAME_LEN, Message, encode_frame};
use thiserror::Error;

use crate::scenario::{Scenario, ScenarioConfig, Transport};
use crate::sensors::{Clock, Encoder, default_site, hello, report_topic, sensors};

/// Sensor time to receive time of a serial report: a 50-byte frame takes
/// about 4 ms at 115,200 baud; the rest is the read.
pub const SERIAL_DELAY_US: i64 = 5_000;

/// Sensor time to receive time of an MQTT report (a radio link and a
/// broker on the tower).
pub const MQTT_DELAY_US: i64 = 20_000;

/// Where and when the recording is made.
#[derive(Debug, Clone)]
pub struct RecordSetup {
    /// Unix µs of scenario time 0 (played at real-time speed).
    pub start_us: i64,
    /// The serial device picketd reads each serial sensor from, by sensor
    /// id: the `[[serial]] path` of the configuration the recording is
    /// replayed with (as `picket-sim config` writes it).
    pub serial_paths: BTreeMap<String, String>,
    /// picketd's `daemon.tick_interval_ms`.
    pub tick_interval_ms: u64,
}

/// What was recorded.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RecordSummary {
    /// Serial reads recorded.
    pub serial_inputs: u64,
    /// MQTT payloads recorded.
    pub mqtt_inputs: u64,
    /// Ticks recorded.
    pub ticks: u64,
    /// Receive time of the first input and of the final flush (Unix µs).
    pub span_us: (i64, i64),
}

/// Why a scenario could not be recorded.
#[derive(Debug, Error)]
pub enum RecordScenarioError {
    /// Writing the recording failed.
    #[error(transparent)]
    Record(#[from] RecordError),
    /// The directory already holds a recording: appending a simulated
    /// site to it would mix two sites' inputs.
    #[error("{0} already holds a recording; record into an empty directory")]
    NotEmpty(String),
    /// A serial sensor has no path in [`RecordSetup::serial_paths`].
    #[error("serial sensor {0} has no serial path")]
    NoSerialPath(String),
    /// A message could not be encoded.
    #[error("sensor {sensor}: {message}")]
    Encode {
        /// The sensor.
        sensor: String,
        /// What went wrong.
        message: String,
    },
    /// A time falls outside what a timestamp can hold.
    #[error("scenario time out of range: {0}")]
    Time(#[from] TimeError),
    /// `tick_interval_ms` is 0.
    #[error("the tick interval must be at least 1 ms")]
    NoTicks,
}

/// The raw inputs picketd would receive from `config`'s sensors playing
/// `scenario`, in receive order (ties keep the scenario's order).
pub fn raw_inputs(
    config: &ScenarioConfig,
    scenario: &Scenario,
    setup: &RecordSetup,
) -> Result<Vec<RawInput>, RecordScenarioError> {
    let site = config.site.clone().unwrap_or_else(default_site);
    let clock = Clock {
        start_us: setup.start_us,
        speed: 1.0,
    };
    let mut encoder = Encoder::new(config, clock);
    let mut serial = BTreeMap::new();
    let mut inputs = Vec::new();
    let mut frame = [0u8; MAX_ENCODED_FRAME_LEN];
    let mut serial_input = |path: &str, message: &Message, sent_us: i64| {
        let bytes = encode_frame(message, &mut frame).map_err(|e| RecordScenarioError::Encode {
            sensor: path.to_owned(),
            message: format!("{e:?}"),
        })?;
        Ok::<_, RecordScenarioError>(RawInput {
            source: InputSource::Serial(path.to_owned()),
            received_at: Timestamp::from_unix_micros(sent_us + SERIAL_DELAY_US)?,
            bytes: bytes.to_vec(),
        })
    };
    for spec in sensors(config, 1.0) {
        if spec.transport != Transport::Serial {
            continue;
        }
        let path = setup
            .serial_paths
            .get(&spec.id)
            .ok_or_else(|| RecordScenarioError::NoSerialPath(spec.id.clone()))?;
        if let Some(message) = hello(&spec) {
            inputs.push(serial_input(path, &message, setup.start_us)?);
        }
        serial.insert(spec.id, path.clone());
    }
    for event in &scenario.events {
        let message = encoder.message(event);
        let sent_us = clock.sensor_time_us(event.t);
        let input = match serial.get(&event.sensor) {
            Some(path) => serial_input(path, &message, sent_us)?,
            None => RawInput {
                source: InputSource::Mqtt(report_topic(&site.id, &event.sensor)),
                received_at: Timestamp::from_unix_micros(sent_us + MQTT_DELAY_US)?,
                bytes: serde_json::to_vec(&message).map_err(|e| RecordScenarioError::Encode {
                    sensor: event.sensor.clone(),
                    message: e.to_string(),
                })?,
            },
        };
        inputs.push(input);
    }
    inputs.sort_by_key(|input| input.received_at);
    Ok(inputs)
}

/// Records `inputs` (in receive order) into the empty directory `dir` as
/// picketd's engine thread would have: a tick every `tick_interval_ms`
/// from `start_us` on, each input at its receive time (after the ticks due
/// by then), and a flush 1 µs after the last of them.
pub fn record(
    dir: &Path,
    inputs: &[RawInput],
    setup: &RecordSetup,
    recorder_config: RecorderConfig,
) -> Result<RecordSummary, RecordScenarioError> {
    if setup.tick_interval_ms == 0 {
        return Err(RecordScenarioError::NoTicks);
    }
    if std::fs::read_dir(dir).is_ok_and(|mut entries| entries.next().is_some()) {
        return Err(RecordScenarioError::NotEmpty(dir.display().to_string()));
    }
    let tick_us = i64::try_from(setup.tick_interval_ms)
        .unwrap_or(i64::MAX)
        .saturating_mul(1000);
    let (mut recorder, _) = Recorder::open(dir, recorder_config, setup.start_us)?;
    let mut summary = RecordSummary::default();
    let mut next_tick_us = setup.start_us.saturating_add(tick_us);
    let mut tick_until = |recorder: &mut Recorder, until_us: i64, summary: &mut RecordSummary| {
        while next_tick_us <= until_us {
            recorder.append(&tick_entry(Timestamp::from_unix_micros(next_tick_us)?))?;
            summary.ticks += 1;
            next_tick_us = next_tick_us.saturating_add(tick_us);
        }
        Ok::<_, RecordScenarioError>(())
    };
    for input in inputs {
        let received_us = input.received_at.as_unix_micros();
        tick_until(&mut recorder, received_us, &mut summary)?;
        recorder.append(&input_entry(input))?;
        match input.source {
            InputSource::Serial(_) => summary.serial_inputs += 1,
            InputSource::Mqtt(_) => summary.mqtt_inputs += 1,
        }
    }
    let first_us = inputs
        .first()
        .map_or(setup.start_us, |i| i.received_at.as_unix_micros());
    let end_us = inputs
        .last()
        .map_or(setup.start_us, |i| i.received_at.as_unix_micros())
        .saturating_add(1);
    recorder.append(&flush_entry(Timestamp::from_unix_micros(end_us)?))?;
    recorder.close()?;
    summary.span_us = (first_us, end_us);
    Ok(summary)
}
