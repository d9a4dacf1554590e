//! Conversions between records and the engine's inputs (feature
//! `engine`): what picketd writes and `picket replay` reads back.
//!
//! ```no_run
//! # use picket_record::{Recorder, RecorderConfig, engine::{input_entry, tick_entry}};
//! # use picket_engine::{Engine, RawInput};
//! # fn f(recorder: &mut Recorder, engine: &mut Engine, input: RawInput,
//! #      now: picket_schema::Timestamp) -> Result<(), picket_record::RecordError> {
//! // On the engine thread, in engine order: record, then process.
//! recorder.append(&input_entry(&input))?;
//! let _outputs = engine.handle_input(&input);
//! recorder.append(&tick_entry(now))?;
//! let _outputs = engine.handle_tick(now);
//! # Ok(()) }
//! ```

use picket_engine::{InputSource, RawInput};
use picket_schema::{TimeError, Timestamp};

use crate::format::{Entry, RecordKind, RecordRef};

/// The record of a raw input.
pub fn input_entry(input: &RawInput) -> Entry<'_> {
    let (kind, source) = match &input.source {
        InputSource::Serial(port) => (RecordKind::Serial, port.as_str()),
        InputSource::Mqtt(topic) => (RecordKind::Mqtt, topic.as_str()),
    };
    Entry {
        time_us: input.received_at.as_unix_micros(),
        kind,
        source,
        payload: &input.bytes,
    }
}

/// The record of `Engine::handle_tick(now)`.
pub fn tick_entry(now: Timestamp) -> Entry<'static> {
    Entry {
        time_us: now.as_unix_micros(),
        kind: RecordKind::Tick,
        source: "",
        payload: &[],
    }
}

/// The record of `Engine::handle_release(now)`.
pub fn release_entry(now: Timestamp) -> Entry<'static> {
    Entry {
        time_us: now.as_unix_micros(),
        kind: RecordKind::Release,
        source: "",
        payload: &[],
    }
}

/// The record of `Engine::flush()` at a clean shutdown, stamped `now`.
pub fn flush_entry(now: Timestamp) -> Entry<'static> {
    Entry {
        time_us: now.as_unix_micros(),
        kind: RecordKind::Flush,
        source: "",
        payload: &[],
    }
}

/// What a record asks of the engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// `handle_input` with the [`RawInput`] filled in by [`to_step`].
    Input,
    /// `handle_tick(now)`.
    Tick(Timestamp),
    /// `flush()`.
    Flush,
    /// `handle_release(now)`.
    Release(Timestamp),
}

/// Turns a record into an engine step. For inputs, `input` is overwritten
/// in place (its buffers reused: replay runs at millions of records per
/// second). Fails only on a time outside RFC 3339's years, which a sane
/// writer never records.
pub fn to_step(record: &RecordRef<'_>, input: &mut RawInput) -> Result<Step, TimeError> {
    let entry = &record.entry;
    let time = Timestamp::from_unix_micros(entry.time_us)?;
    match entry.kind {
        RecordKind::Serial | RecordKind::Mqtt => {
            let name = match &mut input.source {
                InputSource::Serial(name) | InputSource::Mqtt(name) => std::mem::take(name),
            };
            let mut name = name;
            name.clear();
            name.push_str(entry.source);
            input.source = if entry.kind == RecordKind::Serial {
                InputSource::Serial(name)
            } else {
                InputSource::Mqtt(name)
            };
            input.received_at = time;
            input.bytes.clear();
            input.bytes.extend_from_slice(entry.payload);
            Ok(Step::Input)
        }
        RecordKind::Tick => Ok(Step::Tick(time)),
        RecordKind::Flush => Ok(Step::Flush),
        RecordKind::Release => Ok(Step::Release(time)),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    #[test]
    fn inputs_ticks_flushes_and_releases_round_trip() {
        let at = Timestamp::from_unix_micros(1_700_000_000_123_456).unwrap();
        let mut scratch = RawInput {
            source: InputSource::Serial(String::new()),
            received_at: Timestamp::UNIX_EPOCH,
            bytes: Vec::new(),
        };
        for source in [
            InputSource::Serial("/dev/ttyUSB0".into()),
            InputSource::Mqtt("picket/t/sensors/cam-01/reports".into()),
        ] {
            let input = RawInput {
                source,
                received_at: at,
                bytes: vec![1, 2, 3],
            };
            let record = RecordRef {
                seq: 9,
                entry: input_entry(&input),
            };
            assert_eq!(to_step(&record, &mut scratch), Ok(Step::Input));
            assert_eq!(scratch, input);
        }
        let tick = RecordRef {
            seq: 10,
            entry: tick_entry(at),
        };
        assert_eq!(to_step(&tick, &mut scratch), Ok(Step::Tick(at)));
        let flush = RecordRef {
            seq: 11,
            entry: flush_entry(at),
        };
        assert_eq!(to_step(&flush, &mut scratch), Ok(Step::Flush));
        let release = RecordRef {
            seq: 12,
            entry: release_entry(at),
        };
        assert_eq!(to_step(&release, &mut scratch), Ok(Step::Release(at)));
    }
}
