//! `picket inspect`: what a recording holds and what is wrong with it.

use std::collections::{BTreeMap, HashMap};
use std::fmt;

use picket_record::{Damage, OpenReport, Reader, RecordError, RecordKind, SegmentInfo};
use picket_schema::Timestamp;

/// Per-source totals.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SourceCounts {
    /// Records.
    pub records: u64,
    /// Payload bytes.
    pub bytes: u64,
}

/// A recording summarised.
#[derive(Debug, Clone, PartialEq)]
pub struct Inspection {
    /// Readable segments.
    pub segments: Vec<SegmentInfo>,
    /// Readable records.
    pub records: u64,
    /// First and last sequence numbers.
    pub seq_span: Option<(u64, u64)>,
    /// Earliest and latest record times, µs.
    pub time_span_us: Option<(i64, i64)>,
    /// Raw inputs by (kind, source): serial ports and MQTT topics.
    pub inputs: BTreeMap<(RecordKind, String), SourceCounts>,
    /// Engine ticks.
    pub ticks: u64,
    /// Engine flushes (clean shutdowns).
    pub flushes: u64,
    /// Engine releases (the reorder buffer's lag running out between
    /// inputs and ticks).
    pub releases: u64,
    /// Torn tails, corrupt and quarantined segments, sequence gaps.
    pub damage: Vec<Damage>,
}

/// Reads every record of `reader` and summarises the recording.
pub fn inspect(reader: &Reader) -> Result<Inspection, RecordError> {
    let report: &OpenReport = reader.report();
    // Keyed by borrowed source while counting (no allocation per record),
    // sorted once at the end.
    let mut serial: HashMap<String, SourceCounts> = HashMap::new();
    let mut mqtt: HashMap<String, SourceCounts> = HashMap::new();
    let (mut ticks, mut flushes, mut releases) = (0, 0, 0);
    let mut cursor = reader.cursor();
    while let Some(record) = cursor.next()? {
        let map = match record.entry.kind {
            RecordKind::Serial => &mut serial,
            RecordKind::Mqtt => &mut mqtt,
            RecordKind::Tick => {
                ticks += 1;
                continue;
            }
            RecordKind::Flush => {
                flushes += 1;
                continue;
            }
            RecordKind::Release => {
                releases += 1;
                continue;
            }
        };
        let payload = record.entry.payload.len() as u64;
        match map.get_mut(record.entry.source) {
            Some(counts) => {
                counts.records += 1;
                counts.bytes += payload;
            }
            None => {
                map.insert(
                    record.entry.source.to_owned(),
                    SourceCounts {
                        records: 1,
                        bytes: payload,
                    },
                );
            }
        }
    }
    let inputs = serial
        .into_iter()
        .map(|(source, counts)| ((RecordKind::Serial, source), counts))
        .chain(
            mqtt.into_iter()
                .map(|(source, counts)| ((RecordKind::Mqtt, source), counts)),
        )
        .collect();
    Ok(Inspection {
        segments: report.segments.clone(),
        records: report.records(),
        seq_span: report.first_seq().zip(report.last_seq()),
        time_span_us: report.time_span_us(),
        inputs,
        ticks,
        flushes,
        releases,
        damage: report.damage.clone(),
    })
}

fn time(micros: i64) -> String {
    Timestamp::from_unix_micros(micros).map_or_else(|_| format!("{micros} us"), |t| t.to_string())
}

impl fmt::Display for Inspection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let bytes: u64 = self.segments.iter().map(|s| s.bytes).sum();
        writeln!(
            f,
            "segments: {} ({:.1} MiB)",
            self.segments.len(),
            bytes as f64 / (1024.0 * 1024.0)
        )?;
        for segment in &self.segments {
            let name = segment
                .path
                .file_name()
                .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
            writeln!(
                f,
                "  {name}: {} records, {} bytes",
                segment.records, segment.bytes
            )?;
        }
        match self.seq_span {
            Some((first, last)) => writeln!(f, "records: {} (seq {first}..={last})", self.records)?,
            None => writeln!(f, "records: 0")?,
        }
        if let Some((first, last)) = self.time_span_us {
            writeln!(
                f,
                "time span: {} .. {} ({:.3} s)",
                time(first),
                time(last),
                (last - first) as f64 / 1e6
            )?;
        }
        let inputs: u64 = self.inputs.values().map(|c| c.records).sum();
        writeln!(f, "raw inputs: {inputs}")?;
        for ((kind, source), counts) in &self.inputs {
            writeln!(
                f,
                "  {:<6} {source}: {} inputs, {} bytes",
                kind.name(),
                counts.records,
                counts.bytes
            )?;
        }
        writeln!(f, "ticks: {}", self.ticks)?;
        writeln!(f, "flushes (clean shutdowns): {}", self.flushes)?;
        writeln!(f, "releases: {}", self.releases)?;
        if self.damage.is_empty() {
            write!(f, "damage: none")
        } else {
            write!(f, "damage: {}", self.damage.len())?;
            for damage in &self.damage {
                write!(f, "\n  {damage}")?;
            }
            Ok(())
        }
    }
}
