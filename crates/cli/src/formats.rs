//! The neutral JSON Lines formats: detections in, truth and tracks for
//! scoring (`shared/formats/README.md`), and radiation alerts for scoring
//! their attribution (picket's own addition).
//!
//! These formats let logs from other systems be tracked by picket, and any
//! tracker's output be scored the same way, so the readers are strict: every
//! record is checked for finite numbers and the documented ordering, and any
//! line that fails names its line number. Blank lines are skipped. Fields a
//! record does not define are ignored, so other systems may add their own
//! (a class, a covariance) without breaking these readers; a misspelt
//! required field still fails as missing.

use serde::{Deserialize, Serialize, de::DeserializeOwned};
use std::fs::File;
use std::io::{self, BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use thiserror::Error;

/// A line of a JSONL file that could not be read or does not satisfy the
/// format.
#[derive(Debug, Error)]
pub enum FormatError {
    /// Reading the underlying file failed.
    #[error("line {line}: read failed: {source}")]
    Io {
        /// 1-based line number being read.
        line: usize,
        /// The I/O error.
        source: io::Error,
    },
    /// The line is not a JSON object of the expected shape (includes unknown
    /// `kind`s, missing fields and wrong types).
    #[error("line {line}: {reason}")]
    Json {
        /// 1-based line number.
        line: usize,
        /// What serde_json found wrong, with the column.
        reason: String,
    },
    /// The line parsed, but a value breaks the format's rules.
    #[error("line {line}: {reason}")]
    Invalid {
        /// 1-based line number.
        line: usize,
        /// Which rule, and the value.
        reason: String,
    },
}

/// One detection (`detections.jsonl`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DetectionRecord {
    /// Seconds from the start of the scenario.
    pub t: f64,
    /// Sensor id. Detections sharing `t` and `sensor` form one scan.
    pub sensor: String,
    /// What was measured.
    #[serde(flatten)]
    pub measurement: MeasurementRecord,
}

/// The measurement of a detection, tagged by `kind`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum MeasurementRecord {
    /// A position in the local frame with independent x/y noise.
    Position {
        /// East, metres.
        x: f64,
        /// North, metres.
        y: f64,
        /// `[var_x, var_y]`, m².
        var: [f64; 2],
    },
    /// Range and bearing from a sensor at a known position.
    RangeBearing {
        /// Sensor east, metres.
        sensor_x: f64,
        /// Sensor north, metres.
        sensor_y: f64,
        /// Range, metres.
        range: f64,
        /// Bearing in radians, clockwise from north (compass convention).
        bearing: f64,
        /// `[var_range m², var_bearing rad²]`.
        var: [f64; 2],
    },
}

/// One true target state (`truth.jsonl`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TruthRecord {
    /// Seconds from the start of the scenario.
    pub t: f64,
    /// Target id.
    pub id: u64,
    /// East, metres.
    pub x: f64,
    /// North, metres.
    pub y: f64,
    /// East velocity, m/s.
    pub vx: f64,
    /// North velocity, m/s.
    pub vy: f64,
}

/// One reported track state (`tracks.jsonl`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrackRecord {
    /// Seconds from the start of the scenario.
    pub t: f64,
    /// Track id, stable for the life of the track.
    pub track_id: u64,
    /// East, metres.
    pub x: f64,
    /// North, metres.
    pub y: f64,
    /// East velocity, m/s (0 if unknown).
    pub vx: f64,
    /// North velocity, m/s (0 if unknown).
    pub vy: f64,
}

/// One radiation alert (`alerts.jsonl`): which tracks a detector's alarm
/// named, for scoring radiation attribution.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertRecord {
    /// Seconds from the start of the scenario.
    pub t: f64,
    /// The detector that alarmed.
    pub detector: String,
    /// Tracks the alert names (empty: "no track").
    pub track_ids: Vec<u64>,
}

/// A record type that has format rules beyond its JSON shape.
pub trait Record: DeserializeOwned {
    /// The record's time, for the ordering check.
    fn time(&self) -> f64;
    /// Checks the rules that serde cannot express; the message names the
    /// offending field and value.
    fn check(&self) -> Result<(), String>;
}

fn finite(name: &str, v: f64) -> Result<(), String> {
    if v.is_finite() {
        Ok(())
    } else {
        Err(format!("`{name}` is {v}, not a finite number"))
    }
}

fn variance(name: &str, v: f64) -> Result<(), String> {
    if v.is_finite() && v > 0.0 {
        Ok(())
    } else {
        Err(format!("`{name}` is {v}; variances must be finite and > 0"))
    }
}

impl Record for DetectionRecord {
    fn time(&self) -> f64 {
        self.t
    }

    fn check(&self) -> Result<(), String> {
        finite("t", self.t)?;
        if self.sensor.is_empty() {
            return Err("`sensor` is empty".into());
        }
        match &self.measurement {
            MeasurementRecord::Position { x, y, var } => {
                finite("x", *x)?;
                finite("y", *y)?;
                variance("var[0]", var[0])?;
                variance("var[1]", var[1])
            }
            MeasurementRecord::RangeBearing {
                sensor_x,
                sensor_y,
                range,
                bearing,
                var,
            } => {
                finite("sensor_x", *sensor_x)?;
                finite("sensor_y", *sensor_y)?;
                finite("bearing", *bearing)?;
                if !(range.is_finite() && *range >= 0.0) {
                    return Err(format!("`range` is {range}; must be finite and >= 0"));
                }
                variance("var[0]", var[0])?;
                variance("var[1]", var[1])
            }
        }
    }
}

impl Record for TruthRecord {
    fn time(&self) -> f64 {
        self.t
    }

    fn check(&self) -> Result<(), String> {
        kinematic_state(self.t, self.x, self.y, self.vx, self.vy)
    }
}

impl Record for TrackRecord {
    fn time(&self) -> f64 {
        self.t
    }

    fn check(&self) -> Result<(), String> {
        kinematic_state(self.t, self.x, self.y, self.vx, self.vy)
    }
}

impl Record for AlertRecord {
    fn time(&self) -> f64 {
        self.t
    }

    fn check(&self) -> Result<(), String> {
        finite("t", self.t)?;
        if self.detector.is_empty() {
            return Err("`detector` is empty".into());
        }
        Ok(())
    }
}

/// Truth and track rows share one rule: every number finite.
fn kinematic_state(t: f64, x: f64, y: f64, vx: f64, vy: f64) -> Result<(), String> {
    [("t", t), ("x", x), ("y", y), ("vx", vx), ("vy", vy)]
        .into_iter()
        .try_for_each(|(name, v)| finite(name, v))
}

/// Reads records one line at a time, so a recording of any length streams
/// through in constant memory.
#[derive(Debug)]
pub struct JsonlReader<R> {
    input: R,
    line: String,
    line_number: usize,
    last_time: f64,
    require_sorted: bool,
}

impl<R: BufRead> JsonlReader<R> {
    /// A reader that also requires non-decreasing `t`, as `detections.jsonl`
    /// and `truth.jsonl` promise; a tracker fed out-of-order scans would
    /// silently mis-predict, so an unsorted file is an error, not a guess.
    pub fn sorted(input: R) -> Self {
        Self::new(input, true)
    }

    /// A reader that accepts records in any time order (`tracks.jsonl` from
    /// other trackers need not be sorted).
    pub fn unsorted(input: R) -> Self {
        Self::new(input, false)
    }

    fn new(input: R, require_sorted: bool) -> Self {
        Self {
            input,
            line: String::new(),
            line_number: 0,
            last_time: f64::NEG_INFINITY,
            require_sorted,
        }
    }

    /// The 1-based number of the last line read.
    pub fn line_number(&self) -> usize {
        self.line_number
    }

    /// The next record, `None` at end of input.
    pub fn next_record<T: Record>(&mut self) -> Option<Result<T, FormatError>> {
        loop {
            self.line.clear();
            self.line_number += 1;
            let line = self.line_number;
            match self.input.read_line(&mut self.line) {
                Ok(0) => return None,
                Ok(_) => {}
                Err(source) => return Some(Err(FormatError::Io { line, source })),
            }
            if self.line.trim().is_empty() {
                continue;
            }
            let record: T = match serde_json::from_str(&self.line) {
                Ok(r) => r,
                Err(e) => {
                    // Each line is parsed on its own, so serde_json's "line 1"
                    // would mislead; keep only its column.
                    let reason = e.to_string().replace(" at line 1 column ", " at column ");
                    return Some(Err(FormatError::Json { line, reason }));
                }
            };
            if let Err(reason) = record.check() {
                return Some(Err(FormatError::Invalid { line, reason }));
            }
            if self.require_sorted && record.time() < self.last_time {
                return Some(Err(FormatError::Invalid {
                    line,
                    reason: format!(
                        "t = {} is earlier than the previous line's t = {}; the file must be sorted by t",
                        record.time(),
                        self.last_time
                    ),
                }));
            }
            self.last_time = record.time();
            return Some(Ok(record));
        }
    }

    /// Reads every remaining record, stopping at the first bad line.
    pub fn read_all<T: Record>(mut self) -> Result<Vec<T>, FormatError> {
        let mut out = Vec::new();
        while let Some(record) = self.next_record() {
            out.push(record?);
        }
        Ok(out)
    }
}

/// Writes one record as one line of JSON.
pub fn write_record<W: Write, T: Serialize>(out: &mut W, record: &T) -> io::Result<()> {
    serde_json::to_writer(&mut *out, record).map_err(io::Error::other)?;
    out.write_all(b"\n")
}

/// A JSONL file that could not be read or written; the message starts with
/// the path, then the line where there is one.
#[derive(Debug, Error)]
pub enum FileError {
    /// Opening, creating or writing the file failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: io::Error,
    },
    /// A line of the file breaks the format.
    #[error("{}: {source}", path.display())]
    Format {
        /// The file.
        path: PathBuf,
        /// Which line, and why.
        source: FormatError,
    },
}

/// Reads a whole JSONL file of `T`, requiring non-decreasing `t` when
/// `sorted` (see [`JsonlReader::sorted`]).
pub fn read_file<T: Record>(path: &Path, sorted: bool) -> Result<Vec<T>, FileError> {
    let file = File::open(path).map_err(|source| FileError::Io {
        path: path.to_owned(),
        source,
    })?;
    let input = BufReader::new(file);
    let reader = if sorted {
        JsonlReader::sorted(input)
    } else {
        JsonlReader::unsorted(input)
    };
    reader.read_all().map_err(|source| FileError::Format {
        path: path.to_owned(),
        source,
    })
}

/// Writes `records` to a new JSONL file at `path`, one per line.
pub fn write_file<T: Serialize>(path: &Path, records: &[T]) -> Result<(), FileError> {
    let io_error = |source| FileError::Io {
        path: path.to_owned(),
        source,
    };
    let mut out = BufWriter::new(File::create(path).map_err(io_error)?);
    for record in records {
        write_record(&mut out, record).map_err(io_error)?;
    }
    out.flush().map_err(io_error)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read<T: Record>(text: &str) -> Result<Vec<T>, FormatError> {
        JsonlReader::sorted(text.as_bytes()).read_all()
    }

    #[test]
    fn reads_the_documented_examples() {
        let d: Vec<DetectionRecord> = read(
            r#"{"t": 12.25, "sensor": "radar-2", "kind": "position", "x": 3981.41, "y": 1622.08, "var": [100.0, 100.0]}"#,
        )
        .unwrap();
        assert_eq!(
            d[0].measurement,
            MeasurementRecord::Position {
                x: 3981.41,
                y: 1622.08,
                var: [100.0, 100.0]
            }
        );
        let t: Vec<TruthRecord> = read(
            r#"{"t": 12.25, "id": 17, "x": 3975.102, "y": 1630.555, "vx": -1.0312, "vy": 1.2007}"#,
        )
        .unwrap();
        assert_eq!(t[0].id, 17);
        let k: Vec<TrackRecord> =
            read(r#"{"t": 12.25, "track_id": 3, "x": 3976.0, "y": 1629.1, "vx": -1.1, "vy": 1.2}"#)
                .unwrap();
        assert_eq!(k[0].track_id, 3);
        let a: Vec<AlertRecord> =
            read(r#"{"t": 31.5, "detector": "rpm-01", "track_ids": [4, 9]}"#).unwrap();
        assert_eq!(a[0].track_ids, [4, 9]);
    }

    #[test]
    fn alert_rows_need_a_detector_and_a_finite_time() {
        let empty = read::<AlertRecord>(r#"{"t": 1, "detector": "", "track_ids": []}"#);
        assert!(empty.unwrap_err().to_string().contains("detector"));
        let missing = read::<AlertRecord>(r#"{"t": 1, "detector": "rpm-01"}"#);
        assert!(missing.unwrap_err().to_string().contains("track_ids"));
    }

    #[test]
    fn range_bearing_kind() {
        let d: Vec<DetectionRecord> = read(
            r#"{"t": 1, "sensor": "r", "kind": "range_bearing", "sensor_x": 0, "sensor_y": 0, "range": 100, "bearing": 0.5, "var": [4, 0.0001]}"#,
        )
        .unwrap();
        assert!(matches!(
            d[0].measurement,
            MeasurementRecord::RangeBearing { range, .. } if range == 100.0
        ));
    }

    #[test]
    fn skips_blank_lines_and_numbers_errors_by_line() {
        let text = "\n{\"t\": 0, \"sensor\": \"a\", \"kind\": \"position\", \"x\": 1, \"y\": 2, \"var\": [1, 1]}\n\n{\"t\": 1, \"sensor\": \"a\", \"kind\": \"sonar\", \"x\": 1, \"y\": 2, \"var\": [1, 1]}\n";
        let err = read::<DetectionRecord>(text).unwrap_err();
        let message = err.to_string();
        assert!(message.starts_with("line 4:"), "{message}");
        assert!(message.contains("sonar"), "{message}");
    }

    #[test]
    fn rejects_bad_values_with_reasons() {
        let cases = [
            (
                r#"{"t": 0, "sensor": "a", "kind": "position", "x": 1, "y": 2, "var": [0, 1]}"#,
                "var[0]",
            ),
            (
                r#"{"t": 0, "sensor": "", "kind": "position", "x": 1, "y": 2, "var": [1, 1]}"#,
                "sensor",
            ),
            (
                r#"{"t": 0, "sensor": "a", "kind": "position", "x": 1, "y": 2}"#,
                "var",
            ),
            (
                r#"{"t": 0, "sensor": "a", "kind": "position", "x": "1", "y": 2, "var": [1, 1]}"#,
                "invalid type",
            ),
            (
                r#"{"t": 0, "sensor": "a", "kind": "range_bearing", "sensor_x": 0, "sensor_y": 0, "range": -1, "bearing": 0, "var": [1, 1]}"#,
                "range",
            ),
        ];
        for (line, expected) in cases {
            let err = read::<DetectionRecord>(line).unwrap_err().to_string();
            assert!(err.starts_with("line 1:"), "{err}");
            assert!(err.contains(expected), "{line}: {err}");
        }
        let err = read::<TruthRecord>(r#"{"t": 0, "id": 1, "x": 1e999, "y": 0, "vx": 0, "vy": 0}"#)
            .unwrap_err();
        assert!(err.to_string().contains("line 1"), "{err}");
    }

    #[test]
    fn sorted_reader_rejects_time_going_backwards() {
        let text = "{\"t\": 2, \"id\": 1, \"x\": 0, \"y\": 0, \"vx\": 0, \"vy\": 0}\n{\"t\": 1, \"id\": 1, \"x\": 0, \"y\": 0, \"vx\": 0, \"vy\": 0}\n";
        let err = read::<TruthRecord>(text).unwrap_err().to_string();
        assert!(
            err.starts_with("line 2:") && err.contains("sorted"),
            "{err}"
        );
        let unsorted: Vec<TruthRecord> = JsonlReader::unsorted(text.as_bytes()).read_all().unwrap();
        assert_eq!(unsorted.len(), 2);
    }

    #[test]
    fn written_records_read_back() {
        let row = TrackRecord {
            t: 0.1,
            track_id: 9,
            x: -3.25,
            y: 1e6,
            vx: 0.0,
            vy: -0.5,
        };
        let mut buf = Vec::new();
        write_record(&mut buf, &row).unwrap();
        assert!(buf.ends_with(b"\n"));
        let back: Vec<TrackRecord> = read(std::str::from_utf8(&buf).unwrap()).unwrap();
        assert_eq!(back, vec![row]);
    }
}
