//! `picket track`: run the tracker over a neutral `detections.jsonl` and
//! write `tracks.jsonl`.
//!
//! Consecutive detections sharing a time and a sensor form one scan, as the
//! format defines. Every confirmed track gets a row at every scan (updated
//! or coasted), not only when updated: a scorer, like an operator display,
//! treats a track it has not heard of for a while as gone.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use picket_track::{
    ConfigError, Detection, Measurement, SensorId, TrackEventKind, Tracker, TrackerConfig,
    TrackerError,
};
use thiserror::Error;

use crate::formats::{DetectionRecord, MeasurementRecord, TrackRecord};

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

/// Why a detection log could not be tracked.
#[derive(Debug, Error)]
pub enum TrackError {
    /// The tracker configuration is invalid.
    #[error("invalid tracker configuration: {0}")]
    Config(#[from] ConfigError),
    /// The tracker refused a scan (for example, time going backwards).
    #[error(transparent)]
    Tracker(#[from] TrackerError),
}

/// Tracks `records` (sorted by time, as `detections.jsonl` is) with
/// `config`, returning a row per confirmed track per scan.
pub fn track(
    records: &[DetectionRecord],
    config: &TrackerConfig,
) -> Result<(Vec<TrackRecord>, Summary), TrackError> {
    let scans = group_scans(records);
    let mut tracker = Tracker::new(config.clone())?;
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
    let summary = Summary {
        detections: records.len(),
        scans: scans.len(),
        confirmed_tracks: confirmed,
        rows: rows.len(),
        tracking_time: started.elapsed(),
    };
    Ok((rows, summary))
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
    fn a_row_per_confirmed_track_per_scan() {
        let records: Vec<DetectionRecord> = (0..6)
            .map(|k| DetectionRecord {
                t: k as f64,
                sensor: "radar-1".into(),
                measurement: MeasurementRecord::Position {
                    x: 2.0 * k as f64,
                    y: 0.0,
                    var: [25.0, 25.0],
                },
            })
            .collect();
        let (rows, summary) = track(&records, &TrackerConfig::default()).unwrap();
        assert_eq!(
            (summary.detections, summary.scans, summary.confirmed_tracks),
            (6, 6, 1)
        );
        // Confirmed at the third scan, then one row per scan.
        assert_eq!(rows.len(), 4);
        assert_eq!(summary.rows, 4);
        assert!(rows.iter().all(|r| r.track_id == rows[0].track_id));
        assert_eq!(rows[0].t, 2.0);
    }
}
