//! `picket replay`: feeds a recording's inputs and ticks through the same
//! engine and configuration picketd ran, and writes what it published.
//!
//! picketd records every raw input and every engine tick (and its final
//! flush) in the order the engine handled them, and the engine is a pure
//! function of that sequence. So replay publishes the same messages, byte
//! for byte, except `seq`, which picketd's outbox stamps afterwards
//! (messages here carry `seq: 0`).
//!
//! The configuration may be picketd's own file: only the engine's tables
//! (`[site]`, `[[sensors]]`, `[radiation]`, `[[zones]]`, `[tracker]`,
//! `[health]`) are read, `[[serial]] sensor = ...` bindings are applied as
//! picketd applies them, and every other table (`[mqtt]`, `[state]`,
//! `[daemon]`, ...) is ignored. A bare engine TOML works too.

use std::borrow::Cow;
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::marker::PhantomData;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Receiver, Sender, SyncSender};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use picket_engine::config::{
    HealthConfig, RadiationConfig, SensorConfig, SiteConfig, TrackerSettings, ZoneConfig,
};
use picket_engine::{
    DecodedMqtt, Engine, EngineConfig, InputSource, MqttDecoder, Output, OutputMessage, RawInput,
};
use picket_record::engine::{Step, to_step};
use picket_record::{Entry, Reader, RecordError, RecordKind, RecordRef};
use picket_schema::{AlertKind, CodecError, TimeError, Timestamp, TrackStatus};
use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::formats::{AlertRecord, TrackRecord, write_record};

/// Why a replay failed.
#[derive(Debug, Error)]
pub enum ReplayError {
    /// The configuration file could not be read or parsed, or the engine
    /// rejected it.
    #[error("{}: {message}", path.display())]
    Config {
        /// The file.
        path: PathBuf,
        /// What is wrong (TOML errors carry line and column).
        message: String,
    },
    /// Reading the recording failed.
    #[error(transparent)]
    Record(#[from] RecordError),
    /// A record's time is outside RFC 3339's years: not something picketd
    /// records.
    #[error("record {seq}: {source}")]
    Time {
        /// The record.
        seq: u64,
        /// The bad time.
        source: TimeError,
    },
    /// An output could not be encoded.
    #[error("encoding an output: {0}")]
    Encode(#[from] CodecError),
    /// Writing an output file failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: io::Error,
    },
    /// The OS refused a thread (the reader's, or the `--outputs` writer's).
    #[error("starting the {name} thread: {source}")]
    Thread {
        /// Which thread.
        name: &'static str,
        /// The OS error.
        source: io::Error,
    },
}

/// The engine tables of a picketd (or engine) configuration file; anything
/// else at the top level is the daemon's and ignored.
#[derive(Debug, Deserialize)]
struct EngineTables {
    site: SiteConfig,
    #[serde(default)]
    sensors: Vec<SensorConfig>,
    #[serde(default)]
    radiation: RadiationConfig,
    #[serde(default)]
    zones: Vec<ZoneConfig>,
    #[serde(default)]
    tracker: TrackerSettings,
    #[serde(default)]
    health: HealthConfig,
    /// picketd's ports: only `path` and `sensor` matter here. Other
    /// top-level tables (`[mqtt]`, `[state]`, `[daemon]` and whatever
    /// picketd adds later) are ignored: no `deny_unknown_fields` here,
    /// while the engine's own tables keep theirs.
    #[serde(default)]
    serial: Vec<SerialBinding>,
}

/// The part of a `[[serial]]` entry that changes the engine: a port bound
/// to a sensor before its `Hello`.
#[derive(Debug, Deserialize)]
struct SerialBinding {
    path: String,
    #[serde(default)]
    sensor: Option<String>,
}

/// Reads the engine configuration from a picketd or engine TOML file.
pub fn load_engine_config(path: &Path) -> Result<EngineConfig, ReplayError> {
    let error = |message: String| ReplayError::Config {
        path: path.to_owned(),
        message,
    };
    let text = std::fs::read_to_string(path).map_err(|e| error(e.to_string()))?;
    parse_engine_config(&text).map_err(error)
}

/// Parses the engine configuration out of picketd or engine TOML text,
/// applying `[[serial]]` sensor bindings as picketd does.
pub fn parse_engine_config(text: &str) -> Result<EngineConfig, String> {
    let tables: EngineTables = toml::from_str(text).map_err(|e| e.to_string())?;
    let mut config = EngineConfig {
        site: tables.site,
        sensors: tables.sensors,
        radiation: tables.radiation,
        zones: tables.zones,
        tracker: tables.tracker,
        health: tables.health,
    };
    for port in &tables.serial {
        let Some(id) = &port.sensor else { continue };
        let sensor = config
            .sensors
            .iter_mut()
            .find(|s| &s.id == id)
            .ok_or_else(|| {
                format!(
                    "[[serial]] {:?}: no [[sensors]] entry has id {id:?}",
                    port.path
                )
            })?;
        sensor.serial_port = Some(port.path.clone());
    }
    config.validate().map_err(|e| e.to_string())?;
    Ok(config)
}

/// How fast to replay.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Pace {
    /// As fast as possible.
    Max,
    /// Paced by recorded time: `Speed(1.0)` is real time, `Speed(10.0)`
    /// ten times faster.
    Speed(f64),
}

/// Counts of a finished (or running) replay.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ReplayStats {
    /// Records read.
    pub records: u64,
    /// Raw inputs handed to the engine.
    pub inputs: u64,
    /// Ticks handed to the engine.
    pub ticks: u64,
    /// Flushes (clean daemon shutdowns) replayed.
    pub flushes: u64,
    /// Releases (of what waited out the reorder lag) replayed.
    pub releases: u64,
    /// Outputs the engine produced.
    pub outputs: u64,
    /// Time of the latest record so far, µs since the Unix epoch.
    pub recorded_time_us: Option<i64>,
    /// Wall time spent.
    pub elapsed: Duration,
}

/// Records per batch handed from the reader thread to the engine thread:
/// enough to make the hand-over (a lock and a wake-up) rare next to the
/// records' own cost, few enough that the engine starts at once.
const BATCH_RECORDS: usize = 1024;
/// A batch is also handed over once its sources and payloads pass this
/// many bytes, so batches of large records stay small.
const BATCH_BYTES: usize = 256 * 1024;
/// Batches read ahead at most. When the engine thread falls behind, the
/// reader thread waits (the channel is bounded): read-ahead memory is at
/// most about `(READ_AHEAD + 2) × BATCH_BYTES` plus one record.
const READ_AHEAD: usize = 4;

/// Records read, checked (CRC) and copied out of the segment buffer by the
/// reader thread, for the engine thread, MQTT payloads already decoded.
#[derive(Debug, Default)]
struct Batch {
    records: Vec<BatchRecord>,
    /// The decoded MQTT inputs, in record order.
    decoded: Vec<DecodedMqtt>,
    /// Every record's source, back to back.
    sources: String,
    /// Every record's payload, back to back.
    payloads: Vec<u8>,
    /// The read error that ended the recording, after `records`.
    error: Option<RecordError>,
}

/// One record of a [`Batch`]; its source and payload end where the next
/// record's start.
#[derive(Debug, Clone, Copy)]
struct BatchRecord {
    seq: u64,
    time_us: i64,
    kind: RecordKind,
    source_end: usize,
    payload_end: usize,
    /// The next entry of `Batch::decoded` is this record's.
    decoded: bool,
}

impl Batch {
    fn clear(&mut self) {
        self.records.clear();
        self.decoded.clear();
        self.sources.clear();
        self.payloads.clear();
        self.error = None;
    }

    /// Adds a record; an MQTT input is decoded here rather than on the
    /// engine thread. (A record whose time is out of range is left to
    /// [`to_step`], which reports it.)
    fn push(&mut self, record: &RecordRef<'_>, decoder: &MqttDecoder) {
        let entry = &record.entry;
        let received_at = Timestamp::from_unix_micros(entry.time_us);
        let decoded = match (entry.kind, received_at) {
            (RecordKind::Mqtt, Ok(received_at)) => {
                self.decoded
                    .push(decoder.decode_payload(entry.source, received_at, entry.payload));
                true
            }
            _ => {
                self.sources.push_str(entry.source);
                self.payloads.extend_from_slice(entry.payload);
                false
            }
        };
        self.records.push(BatchRecord {
            seq: record.seq,
            time_us: entry.time_us,
            kind: entry.kind,
            source_end: self.sources.len(),
            payload_end: self.payloads.len(),
            decoded,
        });
    }

    fn is_full(&self) -> bool {
        self.records.len() >= BATCH_RECORDS
            || self.sources.len() + self.payloads.len() >= BATCH_BYTES
    }

    /// The batch's records as the cursor gave them (without source and
    /// payload when decoded), each with its decoded MQTT input.
    fn iter(&self) -> impl Iterator<Item = (RecordRef<'_>, Option<&DecodedMqtt>)> {
        let mut source_start = 0;
        let mut payload_start = 0;
        let mut decoded = self.decoded.iter();
        self.records.iter().map(move |record| {
            let source = self
                .sources
                .get(source_start..record.source_end)
                .unwrap_or_default();
            let payload = self
                .payloads
                .get(payload_start..record.payload_end)
                .unwrap_or_default();
            source_start = record.source_end;
            payload_start = record.payload_end;
            let record_ref = RecordRef {
                seq: record.seq,
                entry: Entry {
                    time_us: record.time_us,
                    kind: record.kind,
                    source,
                    payload,
                },
            };
            let decoded = if record.decoded { decoded.next() } else { None };
            (record_ref, decoded)
        })
    }
}

/// The reader thread: reads every record into batches and sends them,
/// ending with the batch that carries a read error, if any. Batches come
/// back through `recycled` so the steady state allocates nothing. Returns
/// when the recording ends or the engine thread hangs up (it stopped on an
/// error of its own).
fn read_ahead(
    reader: &Reader,
    decoder: &MqttDecoder,
    full: &SyncSender<Batch>,
    recycled: &Receiver<Batch>,
) {
    let mut cursor = reader.cursor();
    let mut batch = Batch::default();
    loop {
        let done = match cursor.next() {
            Ok(Some(record)) => {
                batch.push(&record, decoder);
                false
            }
            Ok(None) => true,
            Err(error) => {
                batch.error = Some(error);
                true
            }
        };
        if done || batch.is_full() {
            // Blocks while READ_AHEAD batches wait: the reader never runs
            // further ahead than that.
            if full.send(batch).is_err() || done {
                return;
            }
            batch = recycled.try_recv().unwrap_or_default();
            batch.clear();
        }
    }
}

/// Replays every record `reader` holds through `engine`, passing each
/// output to `on_output` in order, and `on_progress` the running counts
/// every few thousand records.
///
/// Reading uses a second thread: one thread reads segments, checks each
/// record's CRC, decodes MQTT payloads (the engine's own
/// [`MqttDecoder`]: a pure function of the configuration) and hands
/// records over in batches, through a bounded channel (see
/// [`READ_AHEAD`]), while the calling thread runs the engine and the
/// callbacks. The engine sees exactly the records, in the order,
/// that a single-threaded read gives, and a read error stops the replay
/// after the records before it, as it would there.
pub fn replay(
    reader: &Reader,
    engine: &mut Engine,
    pace: Pace,
    mut on_output: impl FnMut(&Output) -> Result<(), ReplayError>,
    mut on_progress: impl FnMut(&ReplayStats),
) -> Result<ReplayStats, ReplayError> {
    let mut run = Run {
        engine,
        // One RawInput reused for every record: no allocation per input.
        input: RawInput {
            source: InputSource::Serial(String::new()),
            received_at: Timestamp::UNIX_EPOCH,
            bytes: Vec::new(),
        },
        pace,
        started: Instant::now(),
        first_time_us: reader.report().time_span_us().map_or(0, |(first, _)| first),
        stats: ReplayStats::default(),
    };
    let (full_tx, full_rx) = mpsc::sync_channel::<Batch>(READ_AHEAD);
    let (recycled_tx, recycled_rx) = mpsc::channel::<Batch>();
    let decoder = run.engine.mqtt_decoder();
    std::thread::scope(|scope| {
        std::thread::Builder::new()
            .name("replay-reader".into())
            .spawn_scoped(scope, move || {
                read_ahead(reader, &decoder, &full_tx, &recycled_rx);
            })
            .map_err(|source| ReplayError::Thread {
                name: "replay reader",
                source,
            })?;
        // Returning drops `full_rx`, which ends the reader thread if it is
        // still reading; the scope then waits for it.
        let full_rx = full_rx;
        for mut batch in full_rx.iter() {
            for (record, decoded) in batch.iter() {
                run.step(&record, decoded, &mut on_output, &mut on_progress)?;
            }
            if let Some(error) = batch.error.take() {
                return Err(error.into());
            }
            // The reader may have finished: then the batch is just dropped.
            let _ = recycled_tx.send(batch);
        }
        run.stats.elapsed = run.started.elapsed();
        Ok(run.stats)
    })
}

/// A replay in progress, on the engine thread.
struct Run<'e> {
    engine: &'e mut Engine,
    input: RawInput,
    pace: Pace,
    started: Instant,
    first_time_us: i64,
    stats: ReplayStats,
}

impl Run<'_> {
    /// Handles one record: pacing, the engine call, the outputs, progress.
    fn step(
        &mut self,
        record: &RecordRef<'_>,
        decoded: Option<&DecodedMqtt>,
        on_output: &mut impl FnMut(&Output) -> Result<(), ReplayError>,
        on_progress: &mut impl FnMut(&ReplayStats),
    ) -> Result<(), ReplayError> {
        let stats = &mut self.stats;
        stats.records += 1;
        let time_us = record.entry.time_us;
        stats.recorded_time_us = Some(stats.recorded_time_us.map_or(time_us, |t| t.max(time_us)));
        if let (Pace::Speed(speed), Some(latest)) = (self.pace, stats.recorded_time_us) {
            let due =
                Duration::from_secs_f64((latest - self.first_time_us).max(0) as f64 / 1e6 / speed);
            let ahead = due.saturating_sub(self.started.elapsed());
            // Sleeping less than a millisecond costs more than it paces.
            if ahead > Duration::from_millis(1) {
                std::thread::sleep(ahead);
            }
        }
        let seq = record.seq;
        let engine = &mut *self.engine;
        // An MQTT input the reader thread decoded goes straight to the
        // engine; every other record through `to_step`, which fills `input`.
        let outputs = if let Some(decoded) = decoded {
            stats.inputs += 1;
            engine.handle_decoded_mqtt(decoded)
        } else {
            match to_step(record, &mut self.input)
                .map_err(|source| ReplayError::Time { seq, source })?
            {
                Step::Input => {
                    stats.inputs += 1;
                    engine.handle_input(&self.input)
                }
                Step::Tick(now) => {
                    stats.ticks += 1;
                    engine.handle_tick(now)
                }
                Step::Flush => {
                    stats.flushes += 1;
                    engine.flush()
                }
                Step::Release(now) => {
                    stats.releases += 1;
                    engine.handle_release(now)
                }
            }
        };
        stats.outputs += outputs.len() as u64;
        for output in outputs {
            on_output(output)?;
        }
        if stats.records.is_multiple_of(4096) {
            stats.elapsed = self.started.elapsed();
            on_progress(stats);
        }
        Ok(())
    }
}

/// One line of `--outputs`: what picketd would publish.
#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct OutputLine<'a> {
    /// MQTT topic.
    #[serde(borrow)]
    pub topic: Cow<'a, str>,
    /// Published retained.
    pub retained: bool,
    /// The exact payload text (empty for a track clear). Owned when read
    /// back, since JSON escapes its quotes. `--outputs` writes lines
    /// without this type, with the bytes its `Serialize` would give (see
    /// `push_output_line`).
    #[serde(borrow)]
    pub payload: Cow<'a, str>,
}

/// The `--outputs` file's write buffer: a write system call per 8 KiB
/// (`BufWriter`'s default, about a dozen lines) was a fifth of the
/// writer thread's time.
const OUTPUTS_FILE_BUFFER: usize = 1 << 20;
/// Outputs per batch handed to the `--outputs` writer thread.
const OUTPUT_BATCH: usize = 256;
/// Batches queued for the writer thread at most; when it falls behind, the
/// engine thread waits in [`OutputsWriter::write`].
const OUTPUT_BATCHES_AHEAD: usize = 4;

/// Writes outputs as JSON Lines ([`OutputLine`]).
///
/// Encoding every output as JSON costs several times what the engine
/// spends making it, so it runs on a thread of its own: `write` copies the
/// output into a batch, full batches go to the writer thread through a
/// bounded channel (the caller waits when [`OUTPUT_BATCHES_AHEAD`] are
/// queued), and `finish` waits for everything to be written. An encoding
/// or I/O error stops the writer thread; the next `write` (or `finish`)
/// returns it.
#[derive(Debug)]
pub struct OutputsWriter {
    path: PathBuf,
    /// Outputs not yet sent to the writer thread.
    batch: Vec<Output>,
    /// `None` once the writer thread has been waited for.
    sender: Option<SyncSender<Vec<Output>>>,
    /// Emptied batches coming back, for their allocations.
    recycled: Receiver<Vec<Output>>,
    thread: Option<JoinHandle<Result<(), ReplayError>>>,
}

/// The writer thread's half of an [`OutputsWriter`].
#[derive(Debug)]
struct LineWriter {
    path: PathBuf,
    out: BufWriter<File>,
    /// The line being written, reused.
    line: Vec<u8>,
}

impl LineWriter {
    /// Writes every batch that arrives, sending the emptied batches back;
    /// flushes at the end (when the [`OutputsWriter`] hangs up).
    fn run(
        mut self,
        batches: &Receiver<Vec<Output>>,
        recycled: &Sender<Vec<Output>>,
    ) -> Result<(), ReplayError> {
        for mut batch in batches.iter() {
            for output in batch.drain(..) {
                self.write(&output)?;
            }
            // The OutputsWriter may be gone already: then it is dropped.
            let _ = recycled.send(batch);
        }
        self.out.flush().map_err(|source| ReplayError::Io {
            path: self.path,
            source,
        })
    }

    fn write(&mut self, output: &Output) -> Result<(), ReplayError> {
        let payload = output.to_json()?;
        self.line.clear();
        push_output_line(&mut self.line, &output.topic, output.retained, &payload);
        self.out
            .write_all(&self.line)
            .map_err(|source| ReplayError::Io {
                path: self.path.clone(),
                source,
            })
    }
}

/// Appends one [`OutputLine`] and its newline to `line`, byte for byte
/// what serde_json writes for it.
///
/// Written by hand because the payload, our own JSON, is mostly quotes to
/// escape: serde_json's string escaping (plus a UTF-8 check to make the
/// payload a `str`) was half of the `--outputs` writer's time.
fn push_output_line(line: &mut Vec<u8>, topic: &str, retained: bool, payload: &[u8]) {
    line.reserve(topic.len() + payload.len() + payload.len() / 4 + 48);
    line.extend_from_slice(b"{\"topic\":\"");
    push_json_string_contents(line, topic.as_bytes());
    line.extend_from_slice(if retained {
        b"\",\"retained\":true,\"payload\":\""
    } else {
        b"\",\"retained\":false,\"payload\":\""
    });
    push_json_string_contents(line, payload);
    line.extend_from_slice(b"\"}\n");
}

/// Appends `text` escaped as the inside of a JSON string, with serde_json's
/// escapes: `\"`, `\\`, the short forms of the five common control
/// characters and `\u00XX` for the other ones. Bytes from 0x20 up,
/// UTF-8 sequences included, pass through unchanged.
fn push_json_string_contents(line: &mut Vec<u8>, mut text: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    while let Some(at) = first_to_escape(text) {
        let byte = text[at];
        line.extend_from_slice(&text[..at]);
        let short_escape: Option<&[u8]> = match byte {
            b'"' => Some(b"\\\""),
            b'\\' => Some(b"\\\\"),
            b'\n' => Some(b"\\n"),
            b'\r' => Some(b"\\r"),
            b'\t' => Some(b"\\t"),
            0x08 => Some(b"\\b"),
            0x0c => Some(b"\\f"),
            _ => None,
        };
        match short_escape {
            Some(escape) => line.extend_from_slice(escape),
            None => {
                line.extend_from_slice(b"\\u00");
                line.push(HEX[usize::from(byte >> 4)]);
                line.push(HEX[usize::from(byte & 0xf)]);
            }
        }
        text = &text[at + 1..];
    }
    line.extend_from_slice(text);
}

/// The index of the first byte of `text` a JSON string must escape (`"`,
/// `\`, or below 0x20).
///
/// Tests eight bytes at a time (SWAR): with `x - 0x01..01 * n & !x &
/// 0x80..80`, the lowest flagged byte is the first byte of `x` below `n`
/// (flags above it can be borrows, which is why only the lowest is
/// used); a quote or backslash is a zero byte of `x` XOR that byte
/// repeated. Payloads are mostly plain runs of ten or twenty bytes between
/// quotes, and this scan was the `--outputs` writer's largest cost when
/// done byte by byte.
fn first_to_escape(text: &[u8]) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH_BITS: u64 = 0x8080_8080_8080_8080;
    let flags_below = |word: u64, n: u64| word.wrapping_sub(ONES * n) & !word & HIGH_BITS;
    let (words, tail) = text.as_chunks::<8>();
    for (index, word) in words.iter().enumerate() {
        let word = u64::from_le_bytes(*word);
        let flags = flags_below(word, 0x20)
            | flags_below(word ^ (ONES * u64::from(b'"')), 1)
            | flags_below(word ^ (ONES * u64::from(b'\\')), 1);
        if flags != 0 {
            return Some(index * 8 + (flags.trailing_zeros() / 8) as usize);
        }
    }
    let needs_escape = |byte: &u8| *byte < 0x20 || *byte == b'"' || *byte == b'\\';
    tail.iter()
        .position(needs_escape)
        .map(|at| words.len() * 8 + at)
}

impl OutputsWriter {
    /// Creates (truncating) `path` and starts the writer thread.
    pub fn create(path: &Path) -> Result<Self, ReplayError> {
        let io_error = |source| ReplayError::Io {
            path: path.to_owned(),
            source,
        };
        let file = File::create(path).map_err(io_error)?;
        let writer = LineWriter {
            path: path.to_owned(),
            out: BufWriter::with_capacity(OUTPUTS_FILE_BUFFER, file),
            line: Vec::new(),
        };
        let (sender, batches) = mpsc::sync_channel(OUTPUT_BATCHES_AHEAD);
        let (recycle, recycled) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("replay-outputs".into())
            .spawn(move || writer.run(&batches, &recycle))
            .map_err(|source| ReplayError::Thread {
                name: "--outputs writer",
                source,
            })?;
        Ok(Self {
            path: path.to_owned(),
            batch: Vec::with_capacity(OUTPUT_BATCH),
            sender: Some(sender),
            recycled,
            thread: Some(thread),
        })
    }

    /// Writes one output (queues it for the writer thread).
    pub fn write(&mut self, output: &Output) -> Result<(), ReplayError> {
        self.batch.push(output.clone());
        if self.batch.len() >= OUTPUT_BATCH {
            self.send()?;
        }
        Ok(())
    }

    /// Sends the current batch; if the writer thread has stopped, returns
    /// its error.
    fn send(&mut self) -> Result<(), ReplayError> {
        let next = self.recycled.try_recv().unwrap_or_default();
        let batch = std::mem::replace(&mut self.batch, next);
        let sent = self
            .sender
            .as_ref()
            .is_some_and(|sender| sender.send(batch).is_ok());
        if sent {
            return Ok(());
        }
        self.join()?;
        Err(ReplayError::Io {
            path: self.path.clone(),
            source: io::Error::other("the --outputs writer has stopped"),
        })
    }

    /// Waits for the writer thread and returns how it ended.
    fn join(&mut self) -> Result<(), ReplayError> {
        self.sender = None;
        match self.thread.take().map(JoinHandle::join) {
            Some(Ok(result)) => result,
            // The thread panicked: not something its code does.
            Some(Err(_)) => Err(ReplayError::Io {
                path: self.path.clone(),
                source: io::Error::other("the --outputs writer thread panicked"),
            }),
            // Already waited for; its error was returned then.
            None => Ok(()),
        }
    }

    /// Writes what is left and flushes the file.
    pub fn finish(mut self) -> Result<(), ReplayError> {
        if !self.batch.is_empty() {
            self.send()?;
        }
        self.join()
    }
}

impl Drop for OutputsWriter {
    /// Without `finish` (a replay that failed), still writes what was
    /// queued, as a dropped `BufWriter` would, ignoring errors.
    fn drop(&mut self) {
        if self.thread.is_some() {
            if !self.batch.is_empty() {
                let _ = self.send();
            }
            let _ = self.join();
        }
    }
}

/// Seconds from `t0_us` to `time`, the neutral formats' `t`.
fn seconds_after(time: Timestamp, t0_us: i64) -> f64 {
    (time.as_unix_micros() - t0_us) as f64 / 1e6
}

/// A neutral record that some engine outputs become.
pub trait FromOutput: Serialize + Sized {
    /// The record for `output`, if it makes one; `t` counts seconds from
    /// `t0_us`.
    fn from_output(output: &Output, t0_us: i64) -> Option<Self>;
}

/// Confirmed and coasting track states (`tracks.jsonl`): `x`/`y` the ENU
/// east/north position, `vx`/`vy` the ENU velocity. Tentative tracks are
/// not tracks yet, and a deleted track's last message repeats its final
/// state.
impl FromOutput for TrackRecord {
    fn from_output(output: &Output, t0_us: i64) -> Option<Self> {
        let OutputMessage::Track(track) = &output.message else {
            return None;
        };
        matches!(track.status, TrackStatus::Confirmed | TrackStatus::Coasting).then(|| Self {
            t: seconds_after(track.time, t0_us),
            track_id: track.track_id,
            x: track.enu.east_m,
            y: track.enu.north_m,
            vx: track.velocity.east_mps,
            vy: track.velocity.north_mps,
        })
    }
}

/// Radiation alerts (`alerts.jsonl`, which `picket-sim score --alerts`
/// reads): the detector and the tracks the alert named.
impl FromOutput for AlertRecord {
    fn from_output(output: &Output, t0_us: i64) -> Option<Self> {
        let OutputMessage::Alert(alert) = &output.message else {
            return None;
        };
        let AlertKind::Radiation {
            detector,
            track_ids,
            ..
        } = &alert.kind
        else {
            return None;
        };
        Some(Self {
            t: seconds_after(alert.time, t0_us),
            detector: detector.to_string(),
            track_ids: track_ids.clone(),
        })
    }
}

/// Writes the outputs that make an `R` as a JSON Lines file of them,
/// through a buffer, with times relative to `t0`.
#[derive(Debug)]
pub struct NeutralWriter<R> {
    path: PathBuf,
    out: BufWriter<File>,
    t0_us: i64,
    rows: u64,
    row: PhantomData<R>,
}

/// `picket replay --out`.
pub type TracksWriter = NeutralWriter<TrackRecord>;
/// `picket replay --alerts`.
pub type AlertsWriter = NeutralWriter<AlertRecord>;

impl<R: FromOutput> NeutralWriter<R> {
    /// Creates (truncating) `path`; times are written relative to `t0_us`.
    pub fn create(path: &Path, t0_us: i64) -> Result<Self, ReplayError> {
        let file = File::create(path).map_err(|source| ReplayError::Io {
            path: path.to_owned(),
            source,
        })?;
        Ok(Self {
            path: path.to_owned(),
            out: BufWriter::new(file),
            t0_us,
            rows: 0,
            row: PhantomData,
        })
    }

    /// Rows written.
    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// Writes the output's record, if it makes one.
    pub fn write(&mut self, output: &Output) -> Result<(), ReplayError> {
        let Some(row) = R::from_output(output, self.t0_us) else {
            return Ok(());
        };
        self.rows += 1;
        write_record(&mut self.out, &row).map_err(|source| ReplayError::Io {
            path: self.path.clone(),
            source,
        })
    }

    /// Flushes the file.
    pub fn finish(mut self) -> Result<(), ReplayError> {
        self.out.flush().map_err(|source| ReplayError::Io {
            path: self.path,
            source,
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    const PICKETD_TOML: &str = r#"
[site]
id = "tower-07"
origin = { lat = 31.33, lon = -110.94, alt_m = 1200.0 }

[[sensors]]
id = "gn-01"
kind = "ground_node"
position = { lat = 31.3301, lon = -110.94, alt_m = 1200.0 }

[tracker]
republish_interval_s = 2.0

[mqtt]
host = "broker"
subscriptions = ["a/#"]

[[serial]]
path = "/dev/ttyUSB0"
baud_rate = 9600
sensor = "gn-01"

[state]
dir = "/var/lib/picket"

[daemon]
tick_interval_ms = 100
"#;

    #[test]
    fn picketd_config_yields_the_engine_tables_with_serial_bindings() {
        let config = parse_engine_config(PICKETD_TOML).unwrap();
        assert_eq!(config.site.id, "tower-07");
        assert_eq!(config.sensors.len(), 1);
        assert_eq!(
            config.sensors[0].serial_port.as_deref(),
            Some("/dev/ttyUSB0")
        );
        assert_eq!(config.tracker.republish_interval_s(), 2.0);
    }

    /// Ticks in several read-ahead batches, the last segment altered
    /// after the open: the records before the damage are replayed in
    /// order, then the read error ends the replay, as a single-threaded
    /// read would.
    #[test]
    fn a_segment_changed_after_open_stops_the_replay_after_the_records_before_it() {
        use picket_record::engine::tick_entry;
        use picket_record::{FsyncPolicy, Recorder, RecorderConfig};

        let dir = tempfile::tempdir().unwrap();
        let t0_us = 1_767_225_600_000_000_i64;
        let config = RecorderConfig {
            fsync: FsyncPolicy::EveryRecords(100_000),
            ..RecorderConfig::default()
        };
        let (mut recorder, _) = Recorder::open(dir.path(), config, t0_us).unwrap();
        // Several batches, and past the first progress report (4096).
        let records = 4096 + 10;
        assert!(records > 4 * BATCH_RECORDS as i64);
        for i in 0..records {
            let now = Timestamp::from_unix_micros(t0_us + i * 100_000).unwrap();
            recorder.append(&tick_entry(now)).unwrap();
        }
        recorder.close().unwrap();
        let reader = Reader::open_read_only(dir.path()).unwrap();
        let engine_config = parse_engine_config(PICKETD_TOML).unwrap();

        let mut engine = Engine::new(engine_config.clone()).unwrap();
        let stats = replay(&reader, &mut engine, Pace::Max, |_| Ok(()), |_| {}).unwrap();
        assert_eq!(
            (stats.records, stats.ticks),
            (records as u64, records as u64)
        );

        // Flip a byte of the last record's body (its time): the cursor's
        // CRC check fails there.
        let segment = &reader.report().segments.last().unwrap().path;
        let mut bytes = std::fs::read(segment).unwrap();
        let at = bytes.len() - 3;
        bytes[at] ^= 0xFF;
        std::fs::write(segment, &bytes).unwrap();
        let mut engine = Engine::new(engine_config).unwrap();
        let mut seen = 0u64;
        let error = replay(
            &reader,
            &mut engine,
            Pace::Max,
            |_| Ok(()),
            |stats| seen = stats.records,
        )
        .unwrap_err();
        assert!(
            matches!(error, ReplayError::Record(RecordError::Changed { .. })),
            "{error}"
        );
        assert_eq!(seen, 4096);
    }

    #[test]
    fn outputs_are_written_in_order_and_write_errors_are_returned() {
        let cleared = |id: u64| Output {
            topic: format!("picket/t/tracks/{id}"),
            retained: true,
            message: OutputMessage::TrackCleared,
        };
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("outputs.jsonl");
        let mut writer = OutputsWriter::create(&path).unwrap();
        let count = 3 * OUTPUT_BATCH as u64 + 7;
        for id in 0..count {
            writer.write(&cleared(id)).unwrap();
        }
        writer.finish().unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        let topics: Vec<String> = text
            .lines()
            .map(|line| {
                serde_json::from_str::<OutputLine<'_>>(line)
                    .unwrap()
                    .topic
                    .into_owned()
            })
            .collect();
        let expected: Vec<String> = (0..count).map(|id| cleared(id).topic).collect();
        assert_eq!(topics, expected);

        // /dev/full takes the open and fails every write: the error comes
        // back from a later write or from finish, never lost.
        let full = Path::new("/dev/full");
        if full.exists() {
            let mut writer = OutputsWriter::create(full).unwrap();
            let failed = (0..100_000).any(|id| writer.write(&cleared(id)).is_err());
            if !failed {
                assert!(matches!(writer.finish(), Err(ReplayError::Io { .. })));
            }
        }
    }

    #[test]
    fn output_lines_are_what_serde_json_writes() {
        let every_ascii: String = (0u8..0x80).map(char::from).collect();
        let payloads = [
            String::new(),
            r#"{"id":7,"note":"a \"quoted\" \\ path\nnext"}"#.to_owned(),
            every_ascii,
            "non-ASCII passes: é ∑ 🛰 \u{7f}".to_owned(),
            // Every byte value next to every other: each chunk position.
            (0u8..0x80)
                .flat_map(|a| [char::from(a), 'x', char::from(0x7f - a)])
                .chain("ÿ€".chars())
                .collect(),
        ];
        for (i, payload) in payloads.iter().enumerate() {
            for retained in [true, false] {
                let topic = format!("picket/t/\"odd\"\\topic/{i}");
                let mut line = Vec::new();
                push_output_line(&mut line, &topic, retained, payload.as_bytes());
                let mut expected = Vec::new();
                let serde_line = OutputLine {
                    topic: Cow::Borrowed(&topic),
                    retained,
                    payload: Cow::Borrowed(payload),
                };
                write_record(&mut expected, &serde_line).unwrap();
                assert_eq!(
                    String::from_utf8_lossy(&line),
                    String::from_utf8_lossy(&expected)
                );
            }
        }
    }

    #[test]
    fn bad_engine_tables_and_bindings_are_errors() {
        let unknown = PICKETD_TOML.replace("sensor = \"gn-01\"", "sensor = \"gn-99\"");
        assert!(parse_engine_config(&unknown).unwrap_err().contains("gn-99"));
        // The engine's own tables still deny unknown keys.
        let typo = PICKETD_TOML.replace("republish_interval_s", "republish_intervall_s");
        assert!(parse_engine_config(&typo).is_err());
    }
}
