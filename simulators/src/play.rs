//! `picket-sim play`: a picket-record recording played back onto ptys and
//! MQTT, keeping its inter-arrival timing, to drive a running picketd end
//! to end.
//!
//! Each recorded serial port gets a pty, linked as
//! `<serial dir>/<port file name>` (point picketd's `[[serial]] path` at
//! it); each recorded MQTT payload is published on its recorded topic.
//!
//! # Timestamps
//! A live picketd drops reports older than its reorder lag, so recorded
//! sensor timestamps are shifted by default: a report recorded at `r` with
//! sensor time `s` is stamped `now(r) - (r - s) / speed`, where `now(r)` is
//! the wall time at which it is played; its delay behind its receive time
//! is kept (scaled). Serial frames are decoded and re-encoded for that;
//! bytes that do not decode (line noise in the recording) are dropped and
//! counted. MQTT payloads that are not JSON picket-wire messages (binary
//! sensors, garbage) are published unchanged. `--keep-times` plays
//! everything byte for byte.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use picket_record::{Reader, RecordError, RecordKind};
use picket_wire::{FeedResult, FrameDecoder, MAX_ENCODED_FRAME_LEN, Message, encode_frame};
use thiserror::Error;

use crate::live::{
    DRAIN_BOUND, LiveError, Publisher, VirtualPort, drain, open_named_port, write_raw,
};

/// How to play.
#[derive(Debug, Clone)]
pub struct PlayOptions {
    /// Broker host.
    pub host: String,
    /// Broker port.
    pub port: u16,
    /// Folder for the pty links.
    pub serial_dir: PathBuf,
    /// Recorded seconds per wall second; `None`: as fast as possible.
    pub speed: Option<f64>,
    /// Shift sensor timestamps to play time.
    pub retime: bool,
    /// Pause after creating the ptys, for picketd to open them.
    pub wait: Duration,
}

/// Why playback failed.
#[derive(Debug, Error)]
pub enum PlayError {
    /// The recording could not be read.
    #[error(transparent)]
    Record(#[from] RecordError),
    /// A pty or the broker failed.
    #[error(transparent)]
    Live(#[from] LiveError),
    /// The serial link folder could not be made.
    #[error("{}: {source}", path.display())]
    Dir {
        /// The folder.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// Two recorded ports have the same file name.
    #[error("recorded ports {0} and {1} would share one link name")]
    LinkClash(String, String),
}

/// What was played.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PlayReport {
    /// Serial records played.
    pub serial_records: u64,
    /// Serial frames re-encoded with shifted times.
    pub serial_frames: u64,
    /// Serial frames that did not decode (dropped when retiming).
    pub serial_undecodable: u64,
    /// MQTT payloads published.
    pub mqtt_messages: u64,
    /// Ticks and flushes skipped (picketd makes its own).
    pub skipped: u64,
    /// MQTT payloads the broker had not acknowledged when playback ended
    /// (after waiting [`DRAIN_BOUND`]).
    pub mqtt_unacked: u64,
    /// Bytes written to the ptys that nobody had read when playback ended
    /// (after waiting [`DRAIN_BOUND`] for picketd): lost when the ptys close.
    pub serial_unread_bytes: u64,
    /// Each recorded port and the link that plays it.
    pub links: BTreeMap<String, String>,
    /// Receive time of the first played record (Unix µs).
    pub first_record_us: Option<i64>,
    /// Wall time (Unix µs) the first record was played at. With retimed
    /// sensor times, a recorded sensor time `s` was played as
    /// `start_wall_us + (s - first_record_us) / speed`.
    pub start_wall_us: Option<i64>,
}

impl fmt::Display for PlayReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (port, link) in &self.links {
            writeln!(f, "{port} -> {link}")?;
        }
        write!(
            f,
            "played {} serial records ({} frames retimed, {} undecodable), {} MQTT messages; {} ticks and flushes skipped",
            self.serial_records,
            self.serial_frames,
            self.serial_undecodable,
            self.mqtt_messages,
            self.skipped
        )?;
        if self.mqtt_unacked > 0 {
            write!(
                f,
                "; {} MQTT messages were never acknowledged",
                self.mqtt_unacked
            )?;
        }
        if self.serial_unread_bytes > 0 {
            write!(
                f,
                "; {} bytes written to the ptys were never read",
                self.serial_unread_bytes
            )?;
        }
        Ok(())
    }
}

/// Shifts every sensor time in `message` by `f`.
fn retime(message: &mut Message, f: impl Fn(u64) -> u64) {
    match message {
        Message::Hello(_) => {}
        Message::Heartbeat(m) => m.sensor_time_us = f(m.sensor_time_us),
        Message::GroundEvent(m) => m.sensor_time_us = f(m.sensor_time_us),
        Message::CameraTrigger(m) => m.sensor_time_us = f(m.sensor_time_us),
        Message::PositionReport(m) => m.sensor_time_us = f(m.sensor_time_us),
        Message::RangeBearingReport(m) => m.sensor_time_us = f(m.sensor_time_us),
        Message::RadiationSample(m) => m.interval_start_us = f(m.interval_start_us),
    }
}

/// The link name of a recorded port: its file name.
fn link_name(port: &str) -> String {
    Path::new(port).file_name().map_or_else(
        || port.replace('/', "_"),
        |n| n.to_string_lossy().into_owned(),
    )
}

/// Plays the recording in `dir`.
pub async fn play(dir: &Path, options: &PlayOptions) -> Result<PlayReport, PlayError> {
    let reader = Reader::open_read_only(dir)?;
    let mut report = PlayReport::default();

    // First pass: the serial ports and the first record time.
    let mut first_us = None;
    let mut port_names: BTreeMap<String, String> = BTreeMap::new();
    {
        let mut cursor = reader.cursor();
        while let Some(record) = cursor.next()? {
            let entry = record.entry;
            if matches!(entry.kind, RecordKind::Serial | RecordKind::Mqtt) {
                first_us.get_or_insert(entry.time_us);
            }
            if entry.kind == RecordKind::Serial && !port_names.contains_key(entry.source) {
                let name = link_name(entry.source);
                if let Some((other, _)) = port_names.iter().find(|(_, n)| **n == name) {
                    return Err(PlayError::LinkClash(other.clone(), entry.source.to_owned()));
                }
                port_names.insert(entry.source.to_owned(), name);
            }
        }
    }
    std::fs::create_dir_all(&options.serial_dir).map_err(|source| PlayError::Dir {
        path: options.serial_dir.clone(),
        source,
    })?;
    let mut ports: BTreeMap<String, (VirtualPort, FrameDecoder)> = BTreeMap::new();
    for (source, name) in &port_names {
        let link = options.serial_dir.join(name);
        let port = open_named_port(source, Some(&link))?;
        report
            .links
            .insert(source.clone(), port.path.display().to_string());
        ports.insert(source.clone(), (port, FrameDecoder::new()));
    }
    tokio::time::sleep(options.wait).await;
    let mut publisher = Publisher::connect(
        &options.host,
        options.port,
        &format!("picket-sim-play-{}", std::process::id()),
    );

    if !publisher.ready(Duration::from_secs(10)).await {
        return Err(PlayError::Live(LiveError::NotConnected));
    }
    let Some(first_us) = first_us else {
        publisher.close(DRAIN_BOUND).await;
        return Ok(report);
    };
    let start = tokio::time::Instant::now();
    let start_wall_us = picketd::now().as_unix_micros();
    report.first_record_us = Some(first_us);
    report.start_wall_us = Some(start_wall_us);
    let mut cursor = reader.cursor();
    let mut buffer = [0u8; MAX_ENCODED_FRAME_LEN];
    while let Some(record) = cursor.next()? {
        let entry = record.entry;
        if !matches!(entry.kind, RecordKind::Serial | RecordKind::Mqtt) {
            report.skipped += 1;
            continue;
        }
        let since_first_us = (entry.time_us - first_us).max(0) as f64;
        let play_offset_us = match options.speed {
            Some(speed) => since_first_us / speed,
            None => 0.0,
        };
        if options.speed.is_some() {
            tokio::time::sleep_until(start + Duration::from_micros(play_offset_us as u64)).await;
        }
        // The wall time this record is played at, and the shift that keeps
        // each report's (scaled) delay behind its receive time.
        let now_us = match options.speed {
            Some(_) => start_wall_us + play_offset_us as i64,
            None => picketd::now().as_unix_micros(),
        };
        let speed = options.speed.unwrap_or(1.0);
        let received_us = entry.time_us;
        let shift = |sensor_us: u64| -> u64 {
            let behind = (received_us - sensor_us as i64) as f64 / speed;
            (now_us - behind as i64).max(0) as u64
        };
        match entry.kind {
            RecordKind::Serial => {
                report.serial_records += 1;
                let Some((port, decoder)) = ports.get_mut(entry.source) else {
                    continue;
                };
                if !options.retime {
                    write_raw(port, entry.payload).await?;
                    continue;
                }
                let mut input = entry.payload;
                let mut out = Vec::new();
                loop {
                    match decoder.feed(input) {
                        FeedResult::Consumed => break,
                        FeedResult::Frame {
                            mut message,
                            remaining,
                        } => {
                            retime(&mut message, shift);
                            if let Ok(frame) = encode_frame(&message, &mut buffer) {
                                out.extend_from_slice(frame);
                                report.serial_frames += 1;
                            }
                            input = remaining;
                        }
                        FeedResult::Error { remaining, .. } => {
                            report.serial_undecodable += 1;
                            input = remaining;
                        }
                    }
                }
                if !out.is_empty() {
                    write_raw(port, &out).await?;
                }
            }
            RecordKind::Mqtt => {
                let payload = match serde_json::from_slice::<Message>(entry.payload) {
                    Ok(mut message) if options.retime => {
                        retime(&mut message, shift);
                        serde_json::to_vec(&message).unwrap_or_else(|_| entry.payload.to_vec())
                    }
                    _ => entry.payload.to_vec(),
                };
                publisher
                    .publish(entry.source, payload)
                    .await
                    .map_err(|e| LiveError::Publish {
                        sensor: entry.source.to_owned(),
                        message: e.to_string(),
                    })?;
                report.mqtt_messages += 1;
            }
            // The engine steps are the live picketd's own to make.
            RecordKind::Tick | RecordKind::Flush | RecordKind::Release => {}
        }
    }
    report.mqtt_unacked = publisher.close(DRAIN_BOUND).await;
    let ports: Vec<VirtualPort> = ports.into_values().map(|(port, _)| port).collect();
    report.serial_unread_bytes = drain(&ports, DRAIN_BOUND).await?;
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retiming_keeps_the_delay_behind_receipt() {
        let mut message = Message::Heartbeat(picket_wire::Heartbeat {
            sensor_time_us: 1_000,
            uptime_s: 1,
            battery_mv: None,
            temperature_decicelsius: 0,
            tamper: false,
            faults: picket_wire::FaultFlags(0),
        });
        // Received at 1,500: 500 µs behind; played at 10,000 at 2x.
        retime(&mut message, |s| {
            let behind = (1_500 - s as i64) as f64 / 2.0;
            (10_000 - behind as i64) as u64
        });
        let Message::Heartbeat(h) = message else {
            panic!("still a heartbeat")
        };
        assert_eq!(h.sensor_time_us, 9_750);
        assert_eq!(
            link_name("/dev/serial/by-id/usb-FTDI-port0"),
            "usb-FTDI-port0"
        );
    }
}
