//! `picket track`: run the tracker over a neutral `detections.jsonl` and
//! write `tracks.jsonl`.
//!
//! Consecutive detections sharing a time and a sensor form one scan, as the
//! format defines. Every confirmed track gets a row at every scan (updated
//! or coasted), not only when updated: a scorer, like an operator display,
//! treats a track it has not heard of for a while as gone.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufReader, BufWriter, Write};
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use picket_track::{Detection, Measurement, SensorId, TrackEventKind, Tracker, TrackerConfig};

use crate::formats::{DetectionRecord, JsonlReader, MeasurementRecord, TrackRecord, write_record};

/// What a `picket track` run did.
#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    /// Detections read.
    pub detections: usize,
    /// Scans handed to the tracker.
    pub scans: usize,
    /// Distinct tracks that were ever confirmed.
    pub confirmed_tracks: usize,
    /// Track rows written.
    pub rows: usize,
    /// Time spent in the tracking loop only (not parsing or writing).
    pub tracking_time: Duration,
}

impl Summary {
    /// Detections per second of the tracking loop.
    pub fn detections_per_second(&self) -> f64 {
        let seconds = self.tracking_time.as_secs_f64();
        if seconds > 0.0 {
            self.detections as f64 / seconds
        } else {
            f64::INFINITY
        }
    }
}

impl std::fmt::Display for Summary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} detections, {} scans, {} confirmed tracks, {} rows; tracking loop {:.3} ms, {:.0} detections/s",
            self.detections,
            self.scans,
            self.confirmed_tracks,
            self.rows,
            self.tracking_time.as_secs_f64() * 1e3,
            self.detections_per_second()
        )
    }
}

/// Tracks `input` (detections.jsonl) with `config` and writes confirmed
/// track states to `out` (tracks.jsonl).
pub fn run(input: &Path, out: &Path, config: &TrackerConfig) -> Result<Summary> {
    let file = File::open(input).with_context(|| format!("cannot open {}", input.display()))?;
    let records: Vec<DetectionRecord> = JsonlReader::sorted(BufReader::new(file))
        .read_all()
        .with_context(|| format!("{}", input.display()))?;
    let scans = group_scans(&records);

    let mut tracker = Tracker::new(config.clone()).context("invalid tracker configuration")?;
    let mut rows = Vec::new();
    let mut confirmed = 0_usize;
    let started = Instant::now();
    for scan in &scans {
        for event in tracker.handle_scan(scan.time, &scan.detections)? {
            if event.kind == TrackEventKind::Born {
                confirmed += 1;
            }
            if !matches!(event.kind, TrackEventKind::Deleted(_)) {
                rows.push(TrackRecord {
                    t: event.time,
                    track_id: event.track_id.0,
                    x: event.state[0],
                    y: event.state[1],
                    vx: event.state[2],
                    vy: event.state[3],
                });
            }
        }
    }
    let tracking_time = started.elapsed();

    let file = File::create(out).with_context(|| format!("cannot create {}", out.display()))?;
    let mut writer = BufWriter::new(file);
    for row in &rows {
        write_record(&mut writer, row)?;
    }
    writer
        .flush()
        .with_context(|| format!("cannot write {}", out.display()))?;
    Ok(Summary {
        detections: records.len(),
        scans: scans.len(),
        confirmed_tracks: confirmed,
        rows: rows.len(),
        tracking_time,
    })
}

/// The detections of one sensor at one time, converted for the tracker.
struct Scan {
    time: f64,
    detections: Vec<Detection>,
}

/// Splits records into scans (runs of equal time and sensor) and maps
/// sensor names to numeric ids in order of first appearance.
fn group_scans(records: &[DetectionRecord]) -> Vec<Scan> {
    let mut sensor_ids: BTreeMap<&str, u32> = BTreeMap::new();
    let mut scans: Vec<Scan> = Vec::new();
    let mut previous: Option<(f64, &str)> = None;
    for record in records {
        let next_id = sensor_ids.len() as u32;
        let sensor = SensorId(*sensor_ids.entry(record.sensor.as_str()).or_insert(next_id));
        let detection = Detection {
            sensor,
            measurement: to_measurement(&record.measurement),
        };
        match scans.last_mut() {
            Some(scan) if previous == Some((record.t, record.sensor.as_str())) => {
                scan.detections.push(detection);
            }
            _ => scans.push(Scan {
                time: record.t,
                detections: vec![detection],
            }),
        }
        previous = Some((record.t, record.sensor.as_str()));
    }
    scans
}

fn to_measurement(record: &MeasurementRecord) -> Measurement {
    match *record {
        MeasurementRecord::Position { x, y, var } => Measurement::position(x, y, var[0], var[1]),
        MeasurementRecord::RangeBearing {
            sensor_x,
            sensor_y,
            range,
            bearing,
            var,
        } => Measurement::RangeBearing {
            sensor: [sensor_x, sensor_y].into(),
            range,
            bearing,
            range_variance: var[0],
            bearing_variance: var[1],
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(t: f64, sensor: &str) -> DetectionRecord {
        DetectionRecord {
            t,
            sensor: sensor.to_owned(),
            measurement: MeasurementRecord::Position {
                x: 1.0,
                y: 2.0,
                var: [25.0, 25.0],
            },
        }
    }

    #[test]
    fn scans_split_on_time_and_sensor() {
        let records = [
            record(0.0, "radar-1"),
            record(0.0, "radar-1"),
            record(0.0, "ugs-001"),
            record(0.25, "radar-2"),
            record(1.0, "radar-1"),
        ];
        let scans = group_scans(&records);
        let shape: Vec<(f64, usize, u32)> = scans
            .iter()
            .map(|s| (s.time, s.detections.len(), s.detections[0].sensor.0))
            .collect();
        assert_eq!(
            shape,
            vec![(0.0, 2, 0), (0.0, 1, 1), (0.25, 1, 2), (1.0, 1, 0)]
        );
    }

    #[test]
    fn run_writes_a_row_per_confirmed_track_per_scan() {
        let dir = std::env::temp_dir().join(format!("picket-track-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let input = dir.join("detections.jsonl");
        let output = dir.join("tracks.jsonl");
        let lines: String = (0..6)
            .map(|k| {
                format!(
                    "{{\"t\": {k}.0, \"sensor\": \"radar-1\", \"kind\": \"position\", \"x\": {}, \"y\": 0.0, \"var\": [25.0, 25.0]}}\n",
                    2 * k
                )
            })
            .collect();
        std::fs::write(&input, lines).unwrap();
        let summary = run(&input, &output, &TrackerConfig::default()).unwrap();
        assert_eq!(
            (summary.detections, summary.scans, summary.confirmed_tracks),
            (6, 6, 1)
        );
        // Confirmed at the third scan, then one row per scan.
        let written = std::fs::read_to_string(&output).unwrap();
        assert_eq!(written.lines().count(), 4);
        assert_eq!(summary.rows, 4);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
