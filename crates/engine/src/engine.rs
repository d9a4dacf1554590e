//! The engine: wires decoding, normalisation, the reorder buffer, the
//! tracker and attribute fusion together, and turns the result into
//! messages for the publisher.
//!
//! # Time
//! Engine time is Unix microseconds (`i64`), the unit of
//! [`Timestamp`]; the tracker gets it as `f64` seconds since the epoch
//! (0.24 µs resolution today, plenty for tracking) and every published time
//! is taken from the engine's integer, never converted back from the float.
//! Reports carry their *measurement* time (see `normalise`); receive times
//! only drive the reorder horizon and sensor silence.
//!
//! # What is published when
//! * `Born` / `Updated` events: a `confirmed` track message, at most one
//!   per `tracker.min_update_interval_s` per track. An update inside the
//!   interval is held (the newest replaces an older one) and published
//!   when the next update falls outside it, or by the first tick after the
//!   interval (the second tick at the latest), or at `flush`; a change of status, published
//!   class, contributing sensors or zone is published at once. A radar at
//!   50 Hz on a thousand targets would otherwise put 50,000 messages a
//!   second on the situational-awareness network; operators see no
//!   difference between 10 and 50 updates a second, the backhaul does.
//! * Staggered slots: a track updated at least four times per interval
//!   publishes its rate-limited updates from the start of its own slot,
//!   one per interval at a phase its id gives (see `rate_limit_passed`).
//!   Tracks a sensor updates in the same scans
//!   would otherwise all publish in the same scan, a burst per interval
//!   (a hundred walkers under a 100 Hz sensor: 100 messages at once every
//!   100 ms) whose last message waits for the broker to pass all the
//!   others; staggered, each scan publishes a tenth of them. Such a track
//!   publishes once per slot, always its newest update: on average once
//!   per interval, two messages at most a gap and a half closer than the
//!   interval (scan jitter); the first rate-limited publication after a
//!   confirmation or change may wait up to an interval more. Slower
//!   tracks publish as before.
//! * `Coasted`: the prediction once per republish interval without a
//!   message, as `coasting` once the track is overdue (a republish interval
//!   without an update, or a gap and a half of the track's own updates if
//!   those are slower) and as `confirmed` until then; becoming overdue goes
//!   out at once (see `not_updated_publication` for why).
//! * `Deleted`: the final `deleted` message, then the empty retained clear.
//! * A radiation alarm: an alert per episode (and again when the episode
//!   reaches a new track), and an immediate republish of the flagged
//!   confirmed tracks.
//! * Entering a zone: one intrusion alert per entry of a confirmed track.
//! * Sensor health: when (state, tamper, faults) changes, and periodically
//!   on ticks if configured; tamper and new faults raise alerts.
//!
//! Alert ids count up from 1 per engine; track ids are picket-track's,
//! never reused by one tracker. Both restart with the process, as the
//! schema allows ("while the daemon runs").
//!
//! # Bounded memory
//! The reorder buffer has a capacity, per-sensor duplicate windows a
//! length, per-track evidence a cap; attributes of tracks that die
//! tentative are pruned on every tick and at flush; the tracker bounds its
//! own track count.

use std::collections::BTreeMap;

use nalgebra::{Matrix2, Vector4};
use picket_schema::{
    AlarmSource, AlertKind, AlertMessage, EnuPosition, EnuVelocity, GeoPosition,
    PositionCovariance, Radiation, RadiationEvidence, SCHEMA_VERSION, Severity, SiteId, Timestamp,
    Topics, TrackMessage, TrackStatus,
};
use picket_track::{Detection, TrackEvent, TrackEventKind, TrackStatus as TrackerStatus, Tracker};
use picket_wire::{DecoderStats, FeedResult, FrameDecoder, FrameError, Hello, Message};

use crate::classify::{ClassBelief, ClassEvidence};
use crate::config::{ConfigError, EngineConfig, HealthConfig, RadiationConfig};
use crate::counters::{DropReason, EngineCounters};
use crate::geodesy::{Geodetic, LocalFrame};
use crate::input::{InputSource, RawInput};
use crate::normalise::{RadiationReport, Report, SiteLimits, detector_alarmed, normalise};
use crate::output::{Output, OutputMessage};
use crate::radiation::tracks_near;
use crate::registry::Registry;
use crate::reorder::{ReorderBuffer, ReorderKey, ReportRank};
use crate::zones::Zone;

/// The sans-IO fusion engine. See the [crate docs](crate) for the pipeline.
///
/// Every method takes its inputs as values (bytes with their receive time,
/// a tick time) and returns the outputs that result; nothing reads a clock,
/// does I/O or draws random numbers, and every map is ordered, so the same
/// sequence of calls gives bit-identical outputs. The sequence includes
/// [`Engine::handle_tick`] calls: a recording must keep its ticks for a
/// replay to match.
#[derive(Debug)]
pub struct Engine {
    site: SiteId,
    topics: Topics,
    /// `picket/<site>/tracks/`: [`Topics::tracks`] without the id, so a
    /// track topic is one exact-size allocation (see [`TrackTopics`]).
    track_topics: TrackTopics,
    frame: LocalFrame,
    registry: Registry,
    links: Vec<SerialLink>,
    link_by_port: BTreeMap<String, usize>,
    zones: Vec<Zone>,
    tracker: Tracker,
    /// Engine time the tracker has reached, µs.
    tracker_time_us: Option<i64>,
    tracks: BTreeMap<u64, TrackAttributes>,
    reorder: ReorderBuffer<Pending>,
    counters: EngineCounters,
    outputs: Vec<Output>,
    /// Outputs of earlier calls and sensor ids cut from track messages,
    /// for their allocations.
    spares: Spares,
    next_alert_id: u64,
    /// First time seen (input or tick): the reference for sensors never
    /// heard from.
    started_at: Option<Timestamp>,
    /// Host time (µs) before which no sensor can fall silent or be due a
    /// periodic health message, so ticks before it skip the health check
    /// (a site has dozens of sensors and picketd ticks every 100 ms). Set
    /// by the check; `i64::MIN` (check at the next tick) when a silent
    /// sensor is heard again, the one change that makes a deadline come
    /// sooner. Inputs only move deadlines later, so it stays safe.
    health_check_due_us: i64,
    radiation: RadiationConfig,
    health: HealthConfig,
    republish_interval_us: i64,
    min_update_interval_us: i64,
    /// `now − lag` at the previous tick: where the next tick moves the
    /// tracker's clock.
    previous_tick_horizon_us: Option<i64>,
    min_class_probability: f64,
    reorder_lag_us: i64,
    max_clock_skew_us: i64,
    area_radius_squared: f64,
    scratch: Scratch,
}

/// One serial port: its frame decoder and the sensor speaking on it.
#[derive(Debug, Clone)]
struct SerialLink {
    decoder: FrameDecoder,
    sensor: Option<u32>,
}

/// Decodes MQTT payloads ahead of an [`Engine`].
///
/// Handling an MQTT input starts with a pure step: find the sensor by the
/// topic, decode the payload (JSON, or a wire frame for `mqtt_binary`
/// sensors). That step depends only on the configuration, never on what
/// the engine has seen, so a caller may run it earlier and elsewhere (a
/// replay decodes on its reader thread while the engine thread tracks):
/// `engine.handle_decoded_mqtt(&decoder.decode(&input))` gives exactly the
/// outputs and counters of `engine.handle_input(&input)`. Built by
/// [`Engine::mqtt_decoder`]; the engine itself uses the same code.
#[derive(Debug, Clone)]
pub struct MqttDecoder {
    /// A copy of the engine's registry; only its configuration (topic
    /// bindings, ids, `mqtt_binary`) is read.
    registry: Registry,
}

impl MqttDecoder {
    /// Decodes an MQTT input; `None` for a serial one.
    pub fn decode(&self, input: &RawInput) -> Option<DecodedMqtt> {
        let InputSource::Mqtt(topic) = &input.source else {
            return None;
        };
        Some(self.decode_payload(topic, input.received_at, &input.bytes))
    }

    /// Decodes the payload of an MQTT input on `topic` received at
    /// `received_at`, without a [`RawInput`].
    pub fn decode_payload(&self, topic: &str, received_at: Timestamp, bytes: &[u8]) -> DecodedMqtt {
        DecodedMqtt {
            received_at,
            outcome: decode_mqtt(&self.registry, topic, bytes),
        }
    }
}

/// An MQTT input decoded by an [`MqttDecoder`], for
/// [`Engine::handle_decoded_mqtt`].
#[derive(Debug, Clone, PartialEq)]
pub struct DecodedMqtt {
    received_at: Timestamp,
    outcome: MqttOutcome,
}

/// The sensor an MQTT payload came from and what it decoded to.
// Nearly every outcome is a decoded message; boxing it to shrink the rare
// unknown-sensor case would allocate for every MQTT input.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
enum MqttOutcome {
    /// No sensor publishes on the topic.
    UnknownSensor,
    /// The topic's sensor and its decoded message or the reason it was
    /// dropped.
    Decoded {
        sensor: u32,
        result: Result<Message, DropReason>,
    },
}

/// Decodes one MQTT payload (JSON, or a wire frame for binary sensors)
/// from the sensor the topic names.
fn decode_mqtt(registry: &Registry, topic: &str, bytes: &[u8]) -> MqttOutcome {
    let Some(sensor) = registry.by_topic(topic) else {
        return MqttOutcome::UnknownSensor;
    };
    let binary = registry
        .get(sensor)
        .is_some_and(|sensor| sensor.config.mqtt_binary);
    let result = if binary {
        // One frame per payload; the delimiter is optional since MQTT
        // already delimits.
        let frame = bytes
            .strip_suffix(&[picket_wire::DELIMITER])
            .unwrap_or(bytes);
        let mut frame = frame.to_vec();
        picket_wire::decode_frame(&mut frame).map_err(|error| DropReason::Frame(error.into()))
    } else {
        picket_schema::encoding::json_from_slice::<Message>(bytes).map_err(|_| DropReason::Json)
    };
    MqttOutcome::Decoded { sensor, result }
}

/// A report waiting in the reorder buffer.
#[derive(Debug, Clone, PartialEq)]
struct Pending {
    report: Report,
}

/// What the engine adds to a tracker track.
#[derive(Debug, Clone, PartialEq)]
struct TrackAttributes {
    first_seen_us: i64,
    last_seen_us: i64,
    class: ClassBelief,
    radiation: Vec<RadiationEvidence>,
    /// Sensor indices that updated the track, sorted.
    sensors: Vec<u32>,
    /// Zone indices the track was inside at its last event.
    inside_zones: Vec<usize>,
    /// Position covariance at the last event (`var_e`, `cov_en`, `var_n`),
    /// for the final message of a deleted track.
    covariance: [f64; 3],
    last_status: Option<TrackStatus>,
    last_published_us: Option<i64>,
    /// Time between the track's last two updates (None before its second).
    update_gap_us: Option<i64>,
    /// The class and number of sensors in the last published message: a
    /// change of either is published at once, not coalesced.
    published_class: picket_schema::TargetClass,
    published_sensors: usize,
    /// The newest update held back by the per-track rate limit.
    held: Option<HeldUpdate>,
}

/// An update not yet published (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq)]
struct HeldUpdate {
    time_us: i64,
    state: Vector4<f64>,
    covariance: [f64; 3],
    /// A tick has already found it held; the next one publishes it.
    seen_by_tick: bool,
}

impl TrackAttributes {
    fn new(time_us: i64) -> Self {
        Self {
            first_seen_us: time_us,
            last_seen_us: time_us,
            class: ClassBelief::default(),
            radiation: Vec::new(),
            sensors: Vec::new(),
            inside_zones: Vec::new(),
            covariance: [0.0; 3],
            last_status: None,
            last_published_us: None,
            update_gap_us: None,
            published_class: picket_schema::TargetClass::Unknown,
            published_sensors: 0,
            held: None,
        }
    }

    fn record_sensor(&mut self, sensor: u32) {
        if let Err(at) = self.sensors.binary_search(&sensor) {
            self.sensors.insert(at, sensor);
        }
    }

    fn add_evidence(&mut self, evidence: RadiationEvidence, limit: usize) {
        self.radiation.push(evidence);
        if self.radiation.len() > limit {
            // The first alarm is the one that matters most to an operator;
            // keep it and drop the oldest of the rest.
            self.radiation.remove(1.min(self.radiation.len() - 1));
        }
    }
}

/// How many spare outputs are kept at most (see
/// [`Engine::recycle_outputs`]): a few calls' worth of a busy site.
const MAX_SPARE_OUTPUTS: usize = 256;

/// Allocations kept from earlier calls (see `recycle_outputs`), each pool
/// at most [`MAX_SPARE_OUTPUTS`] long.
#[derive(Debug, Default)]
struct Spares {
    outputs: Vec<Output>,
    sensor_ids: Vec<picket_schema::SensorId>,
}

/// Appends a track output to `outputs`, built in place in the allocations
/// of a spare track output if there is one, and notes it as the track's
/// latest published one (status, time, class and sensors; nothing held
/// any more). Building in place also saves moving the (large) message
/// around.
fn push_track_output(
    context: &TrackContext<'_>,
    spares: &mut Spares,
    outputs: &mut Vec<Output>,
    (id, status, time_us): (u64, TrackStatus, i64),
    state: &Vector4<f64>,
    attributes: &mut TrackAttributes,
) {
    // Spare outputs of other kinds are dropped on the way.
    let recycled = std::iter::from_fn(|| spares.outputs.pop())
        .find(|output| matches!(output.message, OutputMessage::Track(_)));
    outputs.push(recycled.unwrap_or_else(|| Output {
        topic: String::new(),
        retained: true,
        message: OutputMessage::Track(blank_track_message(context.site)),
    }));
    let Some(Output {
        topic,
        retained,
        message: OutputMessage::Track(message),
    }) = outputs.last_mut()
    else {
        // Unreachable: a track output was just pushed.
        return;
    };
    *retained = true;
    context.track_topics.write_topic(id, topic);
    fill_track_message(
        context,
        (id, status, time_us),
        state,
        attributes,
        message,
        &mut spares.sensor_ids,
    );
    attributes.last_status = Some(status);
    attributes.last_published_us = Some(time_us);
    attributes.published_class = message.classification.class;
    attributes.published_sensors = attributes.sensors.len();
    attributes.held = None;
}

/// Whether the per-track rate limit lets an unchanged confirmed track
/// publish at `time_us`, given its last publication: an interval after
/// it, or, for a track updated four or more times per interval, from the
/// start of its next slot (see "Staggered slots" in the module docs).
///
/// Slots start once per interval at a phase given by the track's id (the
/// fractional part of `id` over the golden ratio, so consecutive ids
/// spread evenly). The next slot is the first to start no earlier than an
/// interval after the last publication, less a gap and a half: a track in
/// step published within a gap of its slot's start, so its next slot is
/// the following one, and it publishes at that slot's first update,
/// without drifting later cycle by cycle on a jittery scan grid (which
/// would end in a skipped slot). A track out of step (after a
/// confirmation or a change went out at once) waits, once, for its slot.
fn rate_limit_passed(
    id: u64,
    time_us: i64,
    last_published_us: Option<i64>,
    interval_us: i64,
    update_gap_us: Option<i64>,
) -> bool {
    let Some(last) = last_published_us else {
        return true;
    };
    let Some(gap) = update_gap_us.filter(|gap| *gap > 0 && gap.saturating_mul(4) <= interval_us)
    else {
        return time_us.saturating_sub(last) >= interval_us;
    };
    // 2^64 / golden ratio: the product's top bits are frac(id / φ).
    let fraction = id.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    let phase = ((u128::from(fraction) * interval_us as u128) >> 64) as i64;
    let earliest = last.saturating_add(interval_us - gap - gap / 2);
    let mut slot = phase + (earliest - phase).div_euclid(interval_us) * interval_us;
    if slot < earliest {
        slot += interval_us;
    }
    time_us >= slot
}

/// How long a track goes without an update before it counts as coasting:
/// the republish interval, or a gap and a half of its own updates if those
/// are slower (at most [`MAX_COASTING_WAIT_INTERVALS`] intervals).
///
/// A track a 1 Hz radar updates is a second old just before each sweep:
/// with the interval alone it went out as coasting, then confirmed, every
/// second, a status flickering on operators' screens. A track is coasting
/// when it has missed an update its sensors would have given.
fn coasting_after_us(interval_us: i64, update_gap_us: Option<i64>) -> i64 {
    let overdue = update_gap_us.map_or(0, |gap| gap.saturating_add(gap / 2));
    overdue.clamp(
        interval_us,
        interval_us.saturating_mul(MAX_COASTING_WAIT_INTERVALS),
    )
}

/// What a confirmed track that a scan or tick did not update publishes at
/// `time_us`, if anything: its prediction, once a republish interval has
/// passed without a message of it, as `coasting` once it is overdue (see
/// [`coasting_after_us`]) and `confirmed` until then; becoming overdue is
/// news at once.
///
/// The republication keeps the track alive for consumers: the scoring
/// protocol, like an operator's display, takes a track unreported for an
/// interval as ended. (Publishing nothing until a track was overdue lost
/// the demo's ground-sensor tracks between their sparse updates: its
/// GOSPA rose from under 35 m to 41 m.)
fn not_updated_publication(
    attributes: &TrackAttributes,
    time_us: i64,
    interval_us: i64,
) -> Option<TrackStatus> {
    let overdue = time_us - attributes.last_seen_us
        >= coasting_after_us(interval_us, attributes.update_gap_us);
    let unreported_for_an_interval = attributes
        .last_published_us
        .is_none_or(|last| time_us - last >= interval_us);
    let became_overdue = overdue && attributes.last_status != Some(TrackStatus::Coasting);
    (unreported_for_an_interval || became_overdue).then_some(if overdue {
        TrackStatus::Coasting
    } else {
        TrackStatus::Confirmed
    })
}

/// Cap of [`coasting_after_us`], in republish intervals: a long gap is a
/// reacquisition, not a revisit period, and must not hide a lost track.
const MAX_COASTING_WAIT_INTERVALS: i64 = 4;

/// Buffers reused across calls so the hot path does not allocate.
#[derive(Debug, Default)]
struct Scratch {
    frames: Vec<Result<Message, FrameError>>,
    detections: Vec<Detection>,
    classes: Vec<Option<ClassEvidence>>,
    events: Vec<TrackEvent>,
    /// Ids of the tracker's live tracks, in order (attribute pruning).
    live: Vec<u64>,
}

/// Track topics, built without `format!`: `Topics::tracks` formats into a
/// string that then grows, two allocations per published track message;
/// this writes the id into a string of the final size.
#[derive(Debug)]
struct TrackTopics {
    /// `picket/<site>/tracks/`.
    prefix: String,
}

impl TrackTopics {
    fn new(topics: &Topics) -> Self {
        // `Topics` keeps its prefix private; the topic of track 0 minus the
        // id is the same string, and a test checks the two agree.
        let mut prefix = topics.tracks(0);
        prefix.pop();
        Self { prefix }
    }

    /// `Topics::tracks(id)`.
    fn topic(&self, id: u64) -> String {
        let mut topic = String::new();
        self.write_topic(id, &mut topic);
        topic
    }

    /// Overwrites `topic` with `Topics::tracks(id)`, reusing its buffer.
    fn write_topic(&self, id: u64, topic: &mut String) {
        topic.clear();
        // u64::MAX has 20 digits.
        topic.reserve(self.prefix.len() + 20);
        topic.push_str(&self.prefix);
        let mut digits = [0u8; 20];
        let mut at = digits.len();
        let mut rest = id;
        loop {
            at -= 1;
            digits[at] = b'0' + (rest % 10) as u8;
            rest /= 10;
            if rest == 0 {
                break;
            }
        }
        for &digit in &digits[at..] {
            topic.push(char::from(digit));
        }
    }
}

/// A timestamp from engine microseconds; engine times come from validated
/// timestamps and bounded offsets, so saturation never bites in practice.
fn timestamp(micros: i64) -> Timestamp {
    Timestamp::UNIX_EPOCH.saturating_add_micros(micros)
}

/// Engine microseconds as tracker seconds.
fn seconds(micros: i64) -> f64 {
    micros as f64 / 1e6
}

/// `(var_e, cov_en, var_n)` of a 2×2 position covariance.
fn position_covariance(covariance: &Matrix2<f64>) -> [f64; 3] {
    [covariance[(0, 0)], covariance[(0, 1)], covariance[(1, 1)]]
}

impl Engine {
    /// Validates `config` and builds an engine with no tracks.
    pub fn new(config: EngineConfig) -> Result<Self, ConfigError> {
        config.validate()?;
        let site = config.site_id()?;
        let frame = LocalFrame::new(Geodetic {
            lat_deg: config.site.origin.lat,
            lon_deg: config.site.origin.lon,
            alt_m: config.site.origin.alt_m,
        });
        let tracker = Tracker::new(config.tracker.tracker_config()).map_err(|source| {
            ConfigError::Tracker {
                field: "tracker".into(),
                source,
            }
        })?;
        let millis = |ms: u64| i64::try_from(ms.saturating_mul(1_000)).unwrap_or(i64::MAX);
        let registry = Registry::new(&config, &frame);
        let mut engine = Self {
            topics: Topics::new(&site),
            track_topics: TrackTopics::new(&Topics::new(&site)),
            site,
            zones: config
                .zones
                .iter()
                .map(|zone| Zone::new(zone, &frame))
                .collect(),
            registry,
            frame,
            links: Vec::new(),
            link_by_port: BTreeMap::new(),
            tracker,
            tracker_time_us: None,
            tracks: BTreeMap::new(),
            reorder: ReorderBuffer::new(config.site.reorder_capacity),
            counters: EngineCounters::default(),
            outputs: Vec::new(),
            spares: Spares::default(),
            next_alert_id: 1,
            started_at: None,
            health_check_due_us: i64::MIN,
            republish_interval_us: (config.tracker.republish_interval_s() * 1e6) as i64,
            min_update_interval_us: (config.tracker.min_update_interval_s() * 1e6) as i64,
            previous_tick_horizon_us: None,
            min_class_probability: config.tracker.min_class_probability(),
            reorder_lag_us: millis(config.site.reorder_lag_ms),
            max_clock_skew_us: millis(config.site.max_clock_skew_ms),
            area_radius_squared: config.site.area_radius_m * config.site.area_radius_m,
            radiation: config.radiation,
            health: config.health,
            scratch: Scratch::default(),
        };
        // Configured ports exist from the start, so their decoder counts are
        // visible even before the first byte.
        for sensor in &config.sensors {
            if let Some(port) = &sensor.serial_port {
                engine.link_index(port);
            }
        }
        Ok(engine)
    }

    /// Handles one raw input and returns the outputs it caused, valid until
    /// the next call.
    pub fn handle_input(&mut self, input: &RawInput) -> &[Output] {
        let received_us = self.begin_input(input.received_at);
        match &input.source {
            InputSource::Serial(port) => self.handle_serial(port, &input.bytes, received_us),
            InputSource::Mqtt(topic) => {
                let decoded = decode_mqtt(&self.registry, topic, &input.bytes);
                self.accept_mqtt(&decoded, received_us);
            }
        }
        self.end_input(received_us)
    }

    /// A decoder for MQTT payloads that can run ahead of this engine, for
    /// example on a replay's reader thread (see [`MqttDecoder`]).
    pub fn mqtt_decoder(&self) -> MqttDecoder {
        MqttDecoder {
            registry: self.registry.clone(),
        }
    }

    /// Handles an MQTT input that [`MqttDecoder::decode`] already decoded:
    /// exactly what [`handle_input`](Self::handle_input) does with the
    /// same input, without the decoding.
    pub fn handle_decoded_mqtt(&mut self, input: &DecodedMqtt) -> &[Output] {
        let received_us = self.begin_input(input.received_at);
        self.accept_mqtt(&input.outcome, received_us);
        self.end_input(received_us)
    }

    /// Empties the outputs of the previous call, which the caller is done
    /// with (they are "valid until the next call"), keeping them, moved in
    /// one block, so that track outputs can be rebuilt in their topic, site
    /// and sensor strings (see [`push_track_output`]): a replay publishes
    /// about one track message per record, and allocating and freeing four
    /// strings for each was a tenth of its time.
    fn recycle_outputs(&mut self) {
        if self.spares.outputs.len() < MAX_SPARE_OUTPUTS {
            self.spares.outputs.append(&mut self.outputs);
        } else {
            self.outputs.clear();
        }
    }

    /// What every input starts with; returns the receive time in µs.
    fn begin_input(&mut self, received_at: Timestamp) -> i64 {
        self.recycle_outputs();
        self.counters.inputs += 1;
        self.started_at.get_or_insert(received_at);
        received_at.as_unix_micros()
    }

    /// What every input ends with: the reorder horizon moves to the
    /// receive time less the lag, releasing what it passed.
    fn end_input(&mut self, received_us: i64) -> &[Output] {
        self.reorder
            .advance_horizon(received_us.saturating_sub(self.reorder_lag_us));
        self.release_ready();
        &self.outputs
    }

    /// Lets time pass: releases what the reorder lag allows at `now`,
    /// advances the tracker (coasting and deleting tracks that are no longer
    /// seen; skipped when that can change nothing, see
    /// `time_advance_is_silent`), and checks sensors for silence. Call it
    /// periodically (e.g. every second) with the host clock, and record the
    /// calls.
    pub fn handle_tick(&mut self, now: Timestamp) -> &[Output] {
        self.recycle_outputs();
        self.started_at.get_or_insert(now);
        let now_us = now.as_unix_micros();
        self.reorder
            .advance_horizon(now_us.saturating_sub(self.reorder_lag_us));
        self.release_ready();
        // Time passes for the tracker (coasting, deletion) up to the
        // *previous* tick's horizon, not this one: reports read just before
        // this tick may still be in the daemon's input channel, and a
        // tracker clock past them would turn them away. Costs one tick of
        // delay in noticing a lost track.
        if let Some(target) = self.previous_tick_horizon_us
            && self.tracker_time_us.is_none_or(|time| target > time)
        {
            if self.time_advance_is_silent(target) {
                self.tracker_time_us = Some(target);
            } else {
                self.advance_tracker(target);
            }
            self.reorder.raise_floor(target);
        }
        let horizon = now_us.saturating_sub(self.reorder_lag_us);
        self.previous_tick_horizon_us = Some(
            self.previous_tick_horizon_us
                .map_or(horizon, |previous| previous.max(horizon)),
        );
        self.prune_track_attributes();
        self.publish_held_updates(false);
        self.check_sensor_health(now);
        &self.outputs
    }

    /// When the oldest report waiting in the reorder buffer becomes
    /// releasable: its time plus the reorder lag, on the receive-time
    /// clock; `None` when nothing waits.
    ///
    /// Inputs and ticks release what has waited long enough, but between
    /// them a report waits for whichever comes next: with two sensors and
    /// a 20 ms lag that put picketd's p99 latency at 42 ms, and with the
    /// default 500 ms lag and a quiet site, a report waited for the next
    /// tick. A driver that calls [`handle_release`](Self::handle_release)
    /// at this time publishes the report as soon as the lag allows.
    pub fn next_release_time(&self) -> Option<Timestamp> {
        let oldest = self.reorder.peek_key()?;
        Some(timestamp(
            oldest.time_us.saturating_add(self.reorder_lag_us),
        ))
    }

    /// Releases what the reorder lag allows at `now`: what the end of an
    /// input does, without an input. Nothing else a tick does (the
    /// tracker's clock, held updates, sensor health) happens here, so
    /// extra calls never change how ticks behave. Record the calls, as
    /// ticks are recorded: where releases happen decides which late
    /// reports are refused.
    pub fn handle_release(&mut self, now: Timestamp) -> &[Output] {
        self.recycle_outputs();
        self.started_at.get_or_insert(now);
        self.end_input(now.as_unix_micros())
    }

    /// Releases everything in the reorder buffer, in time order, for a
    /// clean shutdown. Reports arriving afterwards that are older than the
    /// last released one count as too late.
    pub fn flush(&mut self) -> &[Output] {
        self.recycle_outputs();
        self.reorder.open_all();
        self.release_ready();
        self.prune_track_attributes();
        self.publish_held_updates(true);
        &self.outputs
    }

    /// Monitoring counters.
    pub fn counters(&self) -> &EngineCounters {
        &self.counters
    }

    /// The frame decoder counters of a serial port, if the port is known.
    pub fn decoder_stats(&self, port: &str) -> Option<&DecoderStats> {
        let index = *self.link_by_port.get(port)?;
        self.links.get(index).map(|link| link.decoder.stats())
    }

    /// The tracker, for inspection (live tracks, its own counters).
    pub fn tracker(&self) -> &Tracker {
        &self.tracker
    }

    /// Reports waiting in the reorder buffer.
    pub fn pending_reports(&self) -> usize {
        self.reorder.len()
    }

    /// The site frame, for converting positions in tests and tools.
    pub fn frame(&self) -> &LocalFrame {
        &self.frame
    }

    /// Index of the link for `port`, created on first use with the port's
    /// configured binding.
    fn link_index(&mut self, port: &str) -> usize {
        if let Some(index) = self.link_by_port.get(port) {
            return *index;
        }
        let index = self.links.len();
        self.links.push(SerialLink {
            decoder: FrameDecoder::new(),
            sensor: self.registry.by_port(port),
        });
        self.link_by_port.insert(port.to_owned(), index);
        index
    }

    /// Feeds a serial chunk to the port's decoder and accepts every frame
    /// it completes. Frames are collected first because accepting one needs
    /// the whole engine while the decoder is borrowed.
    fn handle_serial(&mut self, port: &str, bytes: &[u8], received_us: i64) {
        let link_index = self.link_index(port);
        let mut frames = std::mem::take(&mut self.scratch.frames);
        frames.clear();
        if let Some(link) = self.links.get_mut(link_index) {
            let mut rest = bytes;
            loop {
                match link.decoder.feed(rest) {
                    FeedResult::Consumed => break,
                    FeedResult::Frame { message, remaining } => {
                        frames.push(Ok(message));
                        rest = remaining;
                    }
                    FeedResult::Error { error, remaining } => {
                        frames.push(Err(error));
                        rest = remaining;
                    }
                }
            }
        }
        for outcome in frames.drain(..) {
            // Re-read per frame: a Hello earlier in the chunk may have bound
            // the port.
            let sensor = self.links.get(link_index).and_then(|link| link.sensor);
            match outcome {
                Ok(message) => {
                    self.counters.messages += 1;
                    self.accept(sensor, Some(link_index), &message, received_us);
                }
                Err(error) => self.drop_report(sensor, DropReason::Frame(error.into())),
            }
        }
        self.scratch.frames = frames;
    }

    /// Accepts (or counts the drop of) one decoded MQTT payload.
    fn accept_mqtt(&mut self, decoded: &MqttOutcome, received_us: i64) {
        match decoded {
            MqttOutcome::UnknownSensor => self.drop_report(None, DropReason::UnknownSensor),
            MqttOutcome::Decoded { sensor, result } => match result {
                Ok(message) => {
                    self.counters.messages += 1;
                    self.accept(Some(*sensor), None, message, received_us);
                }
                Err(reason) => self.drop_report(Some(*sensor), *reason),
            },
        }
    }

    /// Checks, normalises and buffers one decoded message.
    ///
    /// The checks run cheapest-and-most-specific first: identity, kind,
    /// values and time (in `normalise`), then duplicates, then the reorder
    /// horizon. A sequence number is remembered only once its report is
    /// buffered, so a retransmission of a report that was dropped for a
    /// transient reason (too late) is judged on its own merits, and the
    /// window is not filled with numbers of reports that never counted.
    fn accept(
        &mut self,
        sensor: Option<u32>,
        link: Option<usize>,
        message: &Message,
        received_us: i64,
    ) {
        if let Message::Hello(hello) = message {
            self.handle_hello(sensor, link, hello, received_us);
            return;
        }
        let Some(index) = sensor else {
            self.drop_report(None, DropReason::UnknownSensor);
            return;
        };
        let limits = SiteLimits {
            frame: &self.frame,
            area_radius_squared: self.area_radius_squared,
            max_clock_skew_us: self.max_clock_skew_us,
        };
        let Some(entry) = self.registry.get_mut(index) else {
            self.drop_report(None, DropReason::UnknownSensor);
            return;
        };
        entry.health.last_received = Some(timestamp(received_us));
        if let Message::Heartbeat(heartbeat) = message {
            // Uptime going down means a reboot, which restarts the sequence
            // counter: old numbers must not make new reports duplicates.
            if entry
                .last_uptime_s
                .is_some_and(|uptime| heartbeat.uptime_s < uptime)
            {
                entry.dedup.clear();
            }
            entry.last_uptime_s = Some(heartbeat.uptime_s);
        }
        let timed = match normalise(entry, message, received_us, &limits) {
            Ok(timed) => timed,
            Err(reason) => {
                self.drop_report(Some(index), reason);
                return;
            }
        };
        let sequence = message.sequence();
        if sequence.is_some_and(|sequence| entry.dedup.contains(sequence)) {
            self.drop_report(Some(index), DropReason::Duplicate);
            return;
        }
        let rank = match timed.report {
            Report::Detection { .. } => ReportRank::Detection,
            Report::Radiation(_) => ReportRank::Radiation,
            Report::Heartbeat(_) => ReportRank::Heartbeat,
        };
        let inserted = self.reorder.insert(
            timed.time_us,
            index,
            rank,
            sequence.unwrap_or(0),
            Pending {
                report: timed.report,
            },
        );
        match inserted {
            Err(_) => self.drop_report(Some(index), DropReason::TooLate),
            Ok(released_early) => {
                if let (Some(sequence), Some(entry)) = (sequence, self.registry.get_mut(index)) {
                    entry.dedup.record(sequence);
                }
                if let Some((key, pending)) = released_early {
                    self.counters.released_early += 1;
                    self.release(key, pending);
                }
            }
        }
    }

    /// A `Hello` names the sensor on a serial link and declares its clock.
    fn handle_hello(
        &mut self,
        source: Option<u32>,
        link: Option<usize>,
        hello: &Hello,
        received_us: i64,
    ) {
        let Some(index) = self.registry.by_id(hello.sensor_id.as_str()) else {
            self.drop_report(source, DropReason::UnknownSensor);
            return;
        };
        // On MQTT the topic names the sensor; a Hello for another one is
        // someone publishing where they should not.
        if link.is_none() && source != Some(index) {
            self.drop_report(source, DropReason::UnknownSensor);
            return;
        }
        let Some(entry) = self.registry.get_mut(index) else {
            return;
        };
        if entry.config.kind.to_wire() != hello.kind {
            self.drop_report(Some(index), DropReason::UnsupportedMessage);
            return;
        }
        entry.time_base = hello.time_base;
        entry.health.last_received = Some(timestamp(received_us));
        entry.health.received += 1;
        // The Hello wins over a configured port binding: sensors get moved
        // between ports in the field, and the Hello's kind was checked.
        if let Some(link) = link.and_then(|link| self.links.get_mut(link)) {
            link.sensor = Some(index);
        }
    }

    /// Counts a drop, globally and for the sensor if known.
    fn drop_report(&mut self, sensor: Option<u32>, reason: DropReason) {
        *self.counters.dropped.get_mut(reason) += 1;
        if let Some(entry) = sensor.and_then(|sensor| self.registry.get_mut(sensor)) {
            entry.health.received += 1;
            *entry.health.dropped.entry(reason.name()).or_default() += 1;
        }
    }

    /// Releases everything at or before the reorder horizon.
    fn release_ready(&mut self) {
        while let Some((key, pending)) = self.reorder.pop_ready() {
            self.release(key, pending);
        }
    }

    /// Processes one released report (a detection pulls in the rest of its
    /// scan), then publishes the sensor's health if it changed.
    ///
    /// A scan is every detection of one sensor at one time: that is what
    /// picket-track means by a scan (a scanning sensor's miss counts against
    /// tracks it has seen), and the reorder key keeps such detections
    /// adjacent. Sensors that stamp each plot of a sweep with its own time
    /// therefore make single-detection scans; see the crate docs.
    fn release(&mut self, key: ReorderKey, pending: Pending) {
        match pending.report {
            Report::Detection { measurement, class } => {
                let sensor = picket_track::SensorId(key.sensor);
                self.scratch.detections.clear();
                self.scratch.classes.clear();
                self.scratch.detections.push(Detection {
                    sensor,
                    measurement,
                });
                self.scratch.classes.push(class);
                // One scan = every detection of one sensor at one time.
                while self.reorder.peek_key().is_some_and(|next| {
                    next.time_us == key.time_us
                        && next.sensor == key.sensor
                        && next.rank == ReportRank::Detection
                }) {
                    let Some((
                        _,
                        Pending {
                            report: Report::Detection { measurement, class },
                        },
                    )) = self.reorder.pop_ready()
                    else {
                        break;
                    };
                    self.scratch.detections.push(Detection {
                        sensor,
                        measurement,
                    });
                    self.scratch.classes.push(class);
                }
                let count = self.scratch.detections.len() as u64;
                self.mark_heard(key.sensor, key.time_us, count);
                self.process_scan(key.time_us, key.sensor);
            }
            Report::Radiation(sample) => {
                self.mark_heard(key.sensor, key.time_us, 1);
                self.process_radiation(key.time_us, key.sensor, &sample);
            }
            Report::Heartbeat(heartbeat) => {
                self.mark_heard(key.sensor, key.time_us, 1);
                if let Some(entry) = self.registry.get_mut(key.sensor) {
                    let edges = entry.health.apply_heartbeat(&heartbeat);
                    let sensor = entry.id.clone();
                    let faults = entry.health.fault_list();
                    if edges.tamper_rose {
                        self.alert(
                            key.time_us,
                            Severity::Critical,
                            AlertKind::SensorTamper {
                                sensor: sensor.clone(),
                            },
                        );
                    }
                    if edges.fault_rose {
                        self.alert(
                            key.time_us,
                            Severity::Warning,
                            AlertKind::SensorFault { sensor, faults },
                        );
                    }
                }
            }
        }
        self.publish_health_if_changed(key.sensor, timestamp(key.time_us));
    }

    /// Records that `count` reports of `sensor` at `time_us` were accepted.
    fn mark_heard(&mut self, sensor: u32, time_us: i64, count: u64) {
        if let Some(entry) = self.registry.get_mut(sensor) {
            let health = &mut entry.health;
            health.received += count;
            let time = timestamp(time_us);
            health.last_heard = Some(health.last_heard.map_or(time, |last| last.max(time)));
            if health.silent {
                health.silent = false;
                self.health_check_due_us = i64::MIN;
            }
        }
    }

    /// Publishes a sensor's health if its signature changed since the last
    /// publication (the first report of a sensor always publishes).
    fn publish_health_if_changed(&mut self, sensor: u32, time: Timestamp) {
        let Some(entry) = self.registry.get_mut(sensor) else {
            return;
        };
        if !entry.health.changed() {
            return;
        }
        let message =
            entry
                .health
                .publish(&self.site, &entry.id, entry.config.kind.to_schema(), time);
        self.outputs.push(Output {
            topic: self.topics.sensor_health(&entry.id),
            retained: true,
            message: OutputMessage::SensorHealth(message),
        });
    }

    /// Runs one scan through the tracker and publishes what changed.
    fn process_scan(&mut self, time_us: i64, sensor: u32) {
        let detections = std::mem::take(&mut self.scratch.detections);
        let time_s = seconds(time_us);
        match self.tracker.handle_scan(time_s, &detections) {
            Ok(events) => {
                self.scratch.events.clear();
                self.scratch.events.extend_from_slice(events);
            }
            Err(_) => {
                // Unreachable while the reorder buffer holds its horizon,
                // but a dropped scan must still be counted, never panic.
                self.counters.dropped.too_late += detections.len() as u64;
                self.scratch.detections = detections;
                return;
            }
        }
        self.tracker_time_us = Some(time_us);
        self.counters.scans += 1;
        self.counters.detections += detections.len() as u64;
        self.counters.tracker_rejected = self.tracker.stats().rejected_detections;
        self.attribute_to_updated_tentatives(time_us, time_s, sensor, &detections);
        let events = std::mem::take(&mut self.scratch.events);
        for event in &events {
            self.handle_event(event, time_us, Some(sensor));
        }
        self.scratch.events = events;
        self.scratch.detections = detections;
    }

    /// Tentative tracks get no events, but a carrier's class and sensors
    /// must be known the moment its track is confirmed: tracks updated (or
    /// started) in this scan record them here. Which detection updated a
    /// tentative track is not reported, so it is taken to be the one most
    /// consistent with the track's updated estimate.
    fn attribute_to_updated_tentatives(
        &mut self,
        time_us: i64,
        time_s: f64,
        sensor: u32,
        detections: &[Detection],
    ) {
        let classes = &self.scratch.classes;
        let any_class = classes.iter().any(Option::is_some);
        for track in self.tracker.tracks() {
            if track.last_update() != time_s {
                continue;
            }
            let attributes = self
                .tracks
                .entry(track.id().0)
                .or_insert_with(|| TrackAttributes::new(time_us));
            if track.status() != TrackerStatus::Tentative {
                continue;
            }
            attributes.last_seen_us = time_us;
            attributes.record_sensor(sensor);
            if !any_class {
                continue;
            }
            let closest = detections
                .iter()
                .zip(classes)
                .filter_map(|(detection, class)| {
                    let class = (*class)?;
                    let innovation = track.estimate().innovation(&detection.measurement).ok()?;
                    Some((innovation.mahalanobis_squared, class))
                })
                .min_by(|a, b| a.0.total_cmp(&b.0));
            if let Some((_, class)) = closest {
                attributes.class.update(class);
            }
        }
    }

    /// Publishes one track event and checks the track against the zones.
    fn handle_event(&mut self, event: &TrackEvent, time_us: i64, sensor: Option<u32>) {
        let id = event.track_id.0;
        let mut status = match event.kind {
            TrackEventKind::Born | TrackEventKind::Updated => TrackStatus::Confirmed,
            TrackEventKind::Coasted => TrackStatus::Coasting,
            TrackEventKind::Deleted(_) => TrackStatus::Deleted,
        };
        let attributes = self
            .tracks
            .entry(id)
            .or_insert_with(|| TrackAttributes::new(time_us));
        attributes.covariance = position_covariance(&event.position_covariance);
        if let (Some(index), Some(sensor)) = (event.detection, sensor) {
            if let Some(Some(class)) = self.scratch.classes.get(index) {
                attributes.class.update(*class);
            }
            // Parts of one scan share its time: not a gap.
            if time_us > attributes.last_seen_us {
                attributes.update_gap_us = Some(time_us - attributes.last_seen_us);
            }
            attributes.last_seen_us = time_us;
            attributes.record_sensor(sensor);
        }
        let (east, north) = (event.state[0], event.state[1]);
        let mut entered = Vec::new();
        if status != TrackStatus::Deleted {
            for (index, zone) in self.zones.iter().enumerate() {
                let inside = zone.contains(east, north);
                let was_inside = attributes.inside_zones.contains(&index);
                if inside && !was_inside {
                    attributes.inside_zones.push(index);
                    entered.push(zone.name.clone());
                } else if !inside && was_inside {
                    attributes.inside_zones.retain(|zone| *zone != index);
                }
            }
        }
        let due = match status {
            // picket-track reports every confirmed track it did not update
            // in a scan as coasting, including one a different sensor
            // updated a moment ago. Publishing each of those would make the
            // status flicker and flood the broker: see
            // `not_updated_publication` for what goes out.
            TrackStatus::Coasting => {
                match not_updated_publication(attributes, time_us, self.republish_interval_us) {
                    Some(published) => {
                        status = published;
                        true
                    }
                    None => false,
                }
            }
            TrackStatus::Confirmed => {
                let changed = attributes.last_status != Some(TrackStatus::Confirmed)
                    || !entered.is_empty()
                    || attributes.sensors.len() != attributes.published_sensors
                    || attributes
                        .class
                        .classification(self.min_class_probability)
                        .class
                        != attributes.published_class;
                let interval_passed = rate_limit_passed(
                    id,
                    time_us,
                    attributes.last_published_us,
                    self.min_update_interval_us,
                    attributes.update_gap_us,
                );
                if !(changed || interval_passed) {
                    attributes.held = Some(HeldUpdate {
                        time_us,
                        state: event.state,
                        covariance: attributes.covariance,
                        seen_by_tick: false,
                    });
                }
                changed || interval_passed
            }
            TrackStatus::Deleted | TrackStatus::Tentative => true,
        };
        if due {
            let context = TrackContext {
                site: &self.site,
                track_topics: &self.track_topics,
                frame: &self.frame,
                registry: &self.registry,
                min_class_probability: self.min_class_probability,
            };
            push_track_output(
                &context,
                &mut self.spares,
                &mut self.outputs,
                (id, status, time_us),
                &event.state,
                attributes,
            );
        }
        if status == TrackStatus::Deleted {
            self.tracks.remove(&id);
            self.outputs.push(Output {
                topic: self.track_topics.topic(id),
                retained: true,
                message: OutputMessage::TrackCleared,
            });
        }
        for zone in entered {
            self.alert(
                time_us,
                Severity::Warning,
                AlertKind::Intrusion { zone, track_id: id },
            );
        }
    }

    /// Tests one radiation sample and attributes an alarm to the tracks at
    /// the detector.
    ///
    /// The sample is released at the *end* of its interval, so every
    /// detection up to then has already updated the tracker: the tracks it
    /// is compared with are as current as the alarm. Tentative tracks count
    /// too: a carrier seen only once or twice before the portal still gets
    /// the flag, which its track then carries from its first confirmed
    /// message on. An alarm with no track nearby is still alerted, with an
    /// empty track list ("no track").
    fn process_radiation(&mut self, end_us: i64, sensor: u32, sample: &RadiationReport) {
        self.counters.radiation_samples += 1;
        let detector_alarm = detector_alarmed(sample.alarms);
        let Some(entry) = self.registry.get_mut(sensor) else {
            return;
        };
        let assessment = entry
            .background
            .assess(sample, detector_alarm, &self.radiation);
        if !(detector_alarm || assessment.picket_alarm) {
            entry.background.alarming = false;
            entry.background.alerted_tracks.clear();
            return;
        }
        self.counters.radiation_alarms += 1;
        let reach = entry.config.detection_radius_m + self.radiation.attribution_margin_m;
        let track_ids = tracks_near(
            &self.tracker,
            entry.enu,
            reach,
            seconds(sample.start_us),
            seconds(end_us),
        );
        let source = if detector_alarm {
            AlarmSource::Detector
        } else {
            AlarmSource::Picket
        };
        let evidence = RadiationEvidence {
            detector: entry.id.clone(),
            time: timestamp(sample.start_us),
            gamma_counts: u64::from(sample.gamma_counts),
            neutron_counts: u64::from(sample.neutron_counts),
            background: assessment.expected_gamma.max(0.0),
            sigma: assessment.sigma,
            source,
        };
        // One alert per alarm episode, plus one whenever the episode reaches
        // a track not yet named: a carrier whose track appears mid-episode
        // is still reported.
        let background = &mut entry.background;
        let starts_episode = !background.alarming;
        let mut names_new_track = false;
        for id in &track_ids {
            if !background.alerted_tracks.contains(id) {
                background.alerted_tracks.push(*id);
                names_new_track = true;
            }
        }
        background.alarming = true;

        for id in &track_ids {
            let attributes = self
                .tracks
                .entry(*id)
                .or_insert_with(|| TrackAttributes::new(end_us));
            attributes.add_evidence(evidence.clone(), self.radiation.max_evidence_per_track);
        }
        self.publish_flagged_tracks(&track_ids);
        if starts_episode || names_new_track {
            self.alert(
                end_us,
                Severity::Critical,
                AlertKind::Radiation {
                    detector: evidence.detector,
                    track_ids,
                    gamma_counts: evidence.gamma_counts,
                    neutron_counts: evidence.neutron_counts,
                    background: evidence.background,
                    sigma: evidence.sigma,
                    source,
                },
            );
        }
    }

    /// Republishes confirmed tracks that just gained radiation evidence, at
    /// the tracker's time, so operators see the flag without waiting for
    /// the next detection. Tentative ones show it when confirmed.
    fn publish_flagged_tracks(&mut self, track_ids: &[u64]) {
        let Some(time_us) = self.tracker_time_us else {
            return;
        };
        let context = TrackContext {
            site: &self.site,
            track_topics: &self.track_topics,
            frame: &self.frame,
            registry: &self.registry,
            min_class_probability: self.min_class_probability,
        };
        for track in self.tracker.tracks() {
            let id = track.id().0;
            if track.status() == TrackerStatus::Tentative || !track_ids.contains(&id) {
                continue;
            }
            let Some(attributes) = self.tracks.get_mut(&id) else {
                continue;
            };
            // The published status, not the tracker's: see `handle_event`.
            let status = attributes.last_status.unwrap_or(TrackStatus::Confirmed);
            let estimate = self.tracker.estimate_at(track, seconds(time_us));
            attributes.covariance = position_covariance(&estimate.position_covariance());
            push_track_output(
                &context,
                &mut self.spares,
                &mut self.outputs,
                (id, status, time_us),
                &estimate.mean,
                attributes,
            );
        }
    }

    /// Publishes updates held back by the per-track rate limit: those whose
    /// interval has passed by the tracker's clock (a tick advances it to
    /// the reorder horizon), those a previous tick already found held (a
    /// sensor clock behind the host's), or all of them when `all` (flush).
    fn publish_held_updates(&mut self, all: bool) {
        let tracker_time_us = self.tracker_time_us.unwrap_or(i64::MIN);
        let interval_us = self.min_update_interval_us;
        let context = TrackContext {
            site: &self.site,
            track_topics: &self.track_topics,
            frame: &self.frame,
            registry: &self.registry,
            min_class_probability: self.min_class_probability,
        };
        for (&id, attributes) in &mut self.tracks {
            let Some(held) = &mut attributes.held else {
                continue;
            };
            let interval_passed = rate_limit_passed(
                id,
                tracker_time_us,
                attributes.last_published_us,
                interval_us,
                attributes.update_gap_us,
            );
            if !(all || held.seen_by_tick || interval_passed) {
                held.seen_by_tick = true;
                continue;
            }
            let held = *held;
            // The message shows the covariance of the held update; the
            // attribute keeps the newest for the track's later messages.
            let newest = attributes.covariance;
            attributes.covariance = held.covariance;
            push_track_output(
                &context,
                &mut self.spares,
                &mut self.outputs,
                (id, TrackStatus::Confirmed, held.time_us),
                &held.state,
                attributes,
            );
            attributes.covariance = newest;
        }
    }

    /// Whether advancing the tracker to `time_us` would publish and change
    /// nothing, so a tick can skip it: no track can be deleted by then
    /// ([`Tracker::next_deletion_time`]), none would be republished (see
    /// `not_updated_publication`), and there are no zones for a predicted
    /// position to enter. The coasting events it would report otherwise
    /// only refresh covariances that every message takes from its own
    /// event anyway.
    ///
    /// Most ticks are like that: a tick came every 100 ms and predicted
    /// and reported every track each time, about a fifth of a replay's
    /// engine time, with nothing to show for it.
    fn time_advance_is_silent(&self, time_us: i64) -> bool {
        self.zones.is_empty()
            && seconds(time_us) < self.tracker.next_deletion_time()
            && !self.tracks.values().any(|attributes| {
                not_updated_publication(attributes, time_us, self.republish_interval_us).is_some()
            })
    }

    /// Advances the tracker without detections (coasting, deletion).
    fn advance_tracker(&mut self, time_us: i64) {
        // Only a coasting track due a message (or any, with zones to enter)
        // needs its event: the others' would only refresh a covariance
        // that the track's next message takes from its own event, as in
        // `time_advance_is_silent`.
        let (tracks, zones) = (&self.tracks, &self.zones);
        let republish_interval_us = self.republish_interval_us;
        let wanted = |id: picket_track::TrackId| {
            !zones.is_empty()
                || tracks.get(&id.0).is_none_or(|attributes| {
                    not_updated_publication(attributes, time_us, republish_interval_us).is_some()
                })
        };
        match self.tracker.advance_to_reporting(seconds(time_us), wanted) {
            Ok(events) => {
                self.scratch.events.clear();
                self.scratch.events.extend_from_slice(events);
            }
            Err(_) => return,
        }
        self.tracker_time_us = Some(time_us);
        self.scratch.classes.clear();
        let events = std::mem::take(&mut self.scratch.events);
        for event in &events {
            self.handle_event(event, time_us, None);
        }
        self.scratch.events = events;
    }

    /// Forgets attributes of tracks the tracker dropped without an event
    /// (tentative tracks that never confirmed).
    ///
    /// Runs on every tick, and almost always finds nothing to forget, so it
    /// first checks (without allocating or touching the map's nodes)
    /// whether any attribute's track is gone, and only then rebuilds.
    fn prune_track_attributes(&mut self) {
        // Both sides in id order: one merge pass finds an attribute without
        // a live track.
        let mut candidates = self.tracker.tracks().map(|track| track.id().0).peekable();
        let any_dead = self.tracks.keys().any(|id| {
            while candidates.next_if(|live_id| live_id < id).is_some() {}
            candidates.peek() != Some(id)
        });
        if any_dead {
            let live = &mut self.scratch.live;
            live.clear();
            live.extend(self.tracker.tracks().map(|track| track.id().0));
            self.tracks.retain(|id, _| live.binary_search(id).is_ok());
        }
    }

    /// Silence detection and periodic health, on the host clock.
    fn check_sensor_health(&mut self, now: Timestamp) {
        if now.as_unix_micros() < self.health_check_due_us {
            return;
        }
        let start = self.started_at.unwrap_or(now);
        let publish_interval_us = self.health.publish_interval_s * 1e6;
        // The deadlines are rounded down (`as` truncates a positive float),
        // so before one of them neither comparison below can be true.
        let mut due_us = i64::MAX;
        for index in 0..self.registry.sensors.len() {
            let Ok(index) = u32::try_from(index) else {
                break;
            };
            let Some(entry) = self.registry.get_mut(index) else {
                continue;
            };
            let reference = entry.health.last_received.unwrap_or(start);
            let quiet_us = now.as_unix_micros() - reference.as_unix_micros();
            let allowed_us = entry.config.expected_interval_s * self.health.silence_factor * 1e6;
            if quiet_us as f64 > allowed_us {
                entry.health.silent = true;
            } else {
                due_us = due_us.min(reference.as_unix_micros().saturating_add(allowed_us as i64));
            }
            let periodic_due = self.health.publish_interval_s > 0.0
                && entry.health.last_published.is_none_or(|last| {
                    (now.as_unix_micros() - last.as_unix_micros()) as f64 >= publish_interval_us
                });
            if periodic_due || entry.health.changed() {
                let message =
                    entry
                        .health
                        .publish(&self.site, &entry.id, entry.config.kind.to_schema(), now);
                self.outputs.push(Output {
                    topic: self.topics.sensor_health(&entry.id),
                    retained: true,
                    message: OutputMessage::SensorHealth(message),
                });
            }
            if self.health.publish_interval_s > 0.0
                && let Some(last) = entry.health.last_published
            {
                due_us = due_us.min(
                    last.as_unix_micros()
                        .saturating_add(publish_interval_us as i64),
                );
            }
        }
        self.health_check_due_us = due_us;
    }

    /// Emits an alert with the next alert id.
    fn alert(&mut self, time_us: i64, severity: Severity, kind: AlertKind) {
        let alert = AlertMessage {
            schema: SCHEMA_VERSION,
            seq: 0,
            site: self.site.clone(),
            alert_id: self.next_alert_id,
            time: timestamp(time_us),
            severity,
            kind,
        };
        self.next_alert_id += 1;
        self.counters.alerts += 1;
        self.outputs.push(Output {
            topic: self.topics.alerts(),
            retained: false,
            message: OutputMessage::Alert(alert),
        });
    }
}

/// What building a track message needs besides the track.
struct TrackContext<'a> {
    site: &'a SiteId,
    track_topics: &'a TrackTopics,
    frame: &'a LocalFrame,
    registry: &'a Registry,
    min_class_probability: f64,
}

/// A track message to be filled in by [`fill_track_message`].
fn blank_track_message(site: &SiteId) -> TrackMessage {
    TrackMessage {
        schema: SCHEMA_VERSION,
        seq: 0,
        site: site.clone(),
        track_id: 0,
        status: TrackStatus::Tentative,
        time: Timestamp::UNIX_EPOCH,
        position: GeoPosition {
            lat: 0.0,
            lon: 0.0,
            alt_m: None,
        },
        enu: EnuPosition {
            east_m: 0.0,
            north_m: 0.0,
        },
        velocity: EnuVelocity {
            east_mps: 0.0,
            north_mps: 0.0,
        },
        course_deg: 0.0,
        speed_mps: 0.0,
        position_covariance: PositionCovariance {
            var_e: 0.0,
            cov_en: 0.0,
            var_n: 0.0,
        },
        classification: ClassBelief::default().classification(1.0),
        radiation: Radiation {
            flagged: false,
            evidence: Vec::new(),
        },
        sensors: Vec::new(),
        first_seen: Timestamp::UNIX_EPOCH,
        last_seen: Timestamp::UNIX_EPOCH,
    }
}

/// Writes a track message from the tracker's state and the engine's
/// attributes over `message` (a blank one or an earlier output's), every
/// field, keeping its strings where they already hold the right text.
/// The position is put on the ground at the origin's height (the tracker is
/// 2-D); course is clockwise from the site frame's north.
fn fill_track_message(
    context: &TrackContext<'_>,
    (id, status, time_us): (u64, TrackStatus, i64),
    state: &Vector4<f64>,
    attributes: &TrackAttributes,
    message: &mut TrackMessage,
    spare_ids: &mut Vec<picket_schema::SensorId>,
) {
    let (east, north, east_mps, north_mps) = (state[0], state[1], state[2], state[3]);
    let geodetic = context.frame.ground_to_geodetic(east, north);
    let course = east_mps.atan2(north_mps).to_degrees().rem_euclid(360.0);
    let [var_e, cov_en, var_n] = attributes.covariance;
    // Every field is named (no `..`), so a field added to the schema cannot
    // be left holding an earlier message's value.
    let TrackMessage {
        schema,
        seq,
        site,
        track_id,
        status: message_status,
        time,
        position,
        enu,
        velocity,
        course_deg,
        speed_mps,
        position_covariance,
        classification,
        radiation,
        sensors,
        first_seen,
        last_seen,
    } = message;
    *schema = SCHEMA_VERSION;
    *seq = 0;
    if site != context.site {
        site.clone_from(context.site);
    }
    *track_id = id;
    *message_status = status;
    *time = timestamp(time_us);
    *position = GeoPosition {
        lat: geodetic.lat_deg,
        lon: geodetic.lon_deg,
        alt_m: None,
    };
    *enu = EnuPosition {
        east_m: east,
        north_m: north,
    };
    *velocity = EnuVelocity {
        east_mps,
        north_mps,
    };
    // rem_euclid can round up to exactly 360 for tiny negative angles.
    *course_deg = if course >= 360.0 { 0.0 } else { course };
    *speed_mps = east_mps.hypot(north_mps);
    *position_covariance = PositionCovariance {
        var_e,
        cov_en,
        var_n,
    };
    *classification = attributes
        .class
        .classification(context.min_class_probability);
    radiation.flagged = !attributes.radiation.is_empty();
    radiation.evidence.clone_from(&attributes.radiation);
    // The contributing sensors' ids, sorted, without repeats; an id already
    // in its slot is kept rather than cloned again.
    let mut count = 0;
    for index in &attributes.sensors {
        let Some(sensor) = context.registry.get(*index) else {
            continue;
        };
        match sensors.get_mut(count) {
            Some(slot) if *slot == sensor.id => {}
            Some(slot) => slot.clone_from(&sensor.id),
            None => sensors.push(match spare_ids.pop() {
                Some(mut spare) => {
                    spare.clone_from(&sensor.id);
                    spare
                }
                None => sensor.id.clone(),
            }),
        }
        count += 1;
    }
    // A recycled message of a track seen by more sensors has ids to spare:
    // kept for the next message that needs more (tracks of a two-radar
    // site alternate between one and two, and allocating each was a
    // twentieth of a replay's time).
    if spare_ids.len() < MAX_SPARE_OUTPUTS {
        spare_ids.extend(sensors.drain(count.min(sensors.len())..));
    }
    sensors.truncate(count);
    sensors.sort();
    sensors.dedup();
    *first_seen = timestamp(attributes.first_seen_us);
    *last_seen = timestamp(attributes.last_seen_us);
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    #[test]
    fn track_topics_match_the_schema_topics() {
        let topics = Topics::new(&SiteId::new("tower-07").unwrap());
        let track_topics = TrackTopics::new(&topics);
        for id in [0, 1, 9, 10, 99, 100, 12_345, u64::from(u32::MAX), u64::MAX] {
            assert_eq!(track_topics.topic(id), topics.tracks(id));
        }
    }
}
