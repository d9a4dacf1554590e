//! Playing virtual sensors in real time (or N× faster) onto real ptys and
//! a real MQTT broker.
//!
//! Each serial sensor gets its own pty pair, as a real node gets its own
//! serial adapter: picketd opens the slave end (its path is in the
//! configuration), the simulator writes picket-wire frames into the master.
//! MQTT sensors publish JSON on `picket/<site>/sensors/<id>/reports`, QoS 1,
//! as `e2e_flow` does.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use picket_wire::{MAX_ENCODED_FRAME_LEN, Message, encode_frame};
use rumqttc::{AsyncClient, Event, EventLoop, MqttOptions, QoS};
use thiserror::Error;
use tokio::io::AsyncWriteExt;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_serial::{SerialPort, SerialStream};

use crate::scenario::{ScenarioConfig, SensorEvent, Transport};
use crate::sensors::{Clock, Encoder, SensorSpec, default_site, hello, report_topic, sensors};

/// Why virtual sensors could not run.
#[derive(Debug, Error)]
pub enum LiveError {
    /// A pty pair could not be made.
    #[error("cannot open a pty pair: {0}")]
    Pty(#[from] tokio_serial::Error),
    /// Writing to a pty or making its link failed.
    #[error("{what} {}: {source}", path.display())]
    Io {
        /// What was being done.
        what: &'static str,
        /// The path concerned.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// A pty has no name (cannot happen on Linux).
    #[error("a pty pair came without a slave path")]
    Unnamed,
    /// A message could not be encoded.
    #[error("sensor {sensor}: {message}")]
    Encode {
        /// The sensor.
        sensor: String,
        /// What went wrong.
        message: String,
    },
    /// The broker did not accept the sensors' connection.
    #[error("the MQTT broker did not accept a connection within 10 s")]
    NotConnected,
    /// The MQTT client refused a publish.
    #[error("MQTT publish for {sensor}: {message}")]
    Publish {
        /// The sensor.
        sensor: String,
        /// The client's error.
        message: String,
    },
}

/// One serial sensor's pty: we write the master, picketd opens `path`.
#[derive(Debug)]
pub struct VirtualPort {
    /// The sensor.
    pub sensor: String,
    /// Path picketd opens (the slave, or a link to it).
    pub path: PathBuf,
    master: SerialStream,
    /// Held open so that the line keeps its raw settings and the master
    /// never sees a hang-up between picketd's opens.
    slave: SerialStream,
}

impl VirtualPort {
    /// Bytes written to this port that its reader has not read yet.
    fn unread_bytes(&self) -> Result<u32, LiveError> {
        Ok(self.slave.bytes_to_read()?)
    }
}

/// How long the end of a run waits for picketd to read the last bytes
/// written to its ports (see [`drain`]).
pub const DRAIN_BOUND: Duration = Duration::from_secs(5);

/// Waits, up to `bound`, until every port's reader has read all that was
/// written to it, and returns how many bytes were still unread when the
/// bound ran out (0: all were read).
///
/// Call it before dropping the ports: closing a pty's master hangs up its
/// slave, and the kernel discards whatever picketd had not read yet (a
/// loaded machine took more than 200 ms for the last frames). The input
/// queue must be seen empty twice, 20 ms apart, because bytes just written
/// pass through the kernel's flip buffer before they are counted as input.
pub async fn drain(ports: &[VirtualPort], bound: Duration) -> Result<u64, LiveError> {
    let deadline = tokio::time::Instant::now() + bound;
    let mut empty_polls = 0;
    loop {
        let mut unread = 0u64;
        for port in ports {
            unread += u64::from(port.unread_bytes()?);
        }
        empty_polls = if unread == 0 { empty_polls + 1 } else { 0 };
        if empty_polls == 2 || tokio::time::Instant::now() >= deadline {
            return Ok(unread);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Opens a pty pair for every serial sensor of `config`. With `link_dir`,
/// a symlink `link_dir/<sensor id>` to each slave gives stable names (a
/// configuration written beforehand can name them).
pub fn open_ports(
    config: &ScenarioConfig,
    link_dir: Option<&Path>,
) -> Result<Vec<VirtualPort>, LiveError> {
    sensors(config, 1.0)
        .into_iter()
        .filter(|s| s.transport == Transport::Serial)
        .map(|spec| {
            let link = link_dir.map(|dir| dir.join(&spec.id));
            open_named_port(&spec.id, link.as_deref())
        })
        .collect()
}

/// The serial path of every port, by sensor id, for the configuration.
pub fn port_paths(ports: &[VirtualPort]) -> BTreeMap<String, String> {
    ports
        .iter()
        .map(|p| (p.sensor.clone(), p.path.display().to_string()))
        .collect()
}

/// An MQTT client and the task that drives its event loop.
#[derive(Debug)]
pub struct Publisher {
    client: AsyncClient,
    task: JoinHandle<()>,
    connected: watch::Receiver<bool>,
    /// Publishes handed to the client.
    published: u64,
    /// PUBACKs received, counted by the event loop task.
    acked: watch::Receiver<u64>,
}

impl Publisher {
    /// Connects (lazily: rumqttc connects on the first poll) to `host:port`.
    pub fn connect(host: &str, port: u16, client_id: &str) -> Self {
        let mut options = MqttOptions::new(client_id, host, port);
        options.set_keep_alive(Duration::from_secs(10));
        options.set_max_packet_size(1 << 20, 1 << 20);
        let (client, eventloop) = AsyncClient::new(options, 4096);
        let (connected_tx, connected) = watch::channel(false);
        let (acked_tx, acked) = watch::channel(0);
        let task = tokio::spawn(drive(eventloop, connected_tx, acked_tx));
        Self {
            client,
            task,
            connected,
            published: 0,
            acked,
        }
    }

    /// Waits (bounded) for the broker's CONNACK; true once connected.
    /// Publishing before it is not safe: rumqttc drops QoS 1 publishes
    /// queued before a CONNACK without a session (shared/traps.md).
    pub async fn ready(&self, bound: Duration) -> bool {
        let mut connected = self.connected.clone();
        tokio::time::timeout(bound, connected.wait_for(|c| *c))
            .await
            .is_ok_and(|r| r.is_ok())
    }

    /// Publishes `payload` on `topic` at QoS 1.
    pub async fn publish(
        &mut self,
        topic: &str,
        payload: Vec<u8>,
    ) -> Result<(), rumqttc::ClientError> {
        self.client
            .publish(topic, QoS::AtLeastOnce, false, payload)
            .await?;
        self.published += 1;
        Ok(())
    }

    /// Waits (up to `bound`) until the broker has acknowledged every
    /// publish, then disconnects; returns how many were never
    /// acknowledged.
    ///
    /// Disconnecting at once lost the last publishes: the event loop stops
    /// when it hands out the DISCONNECT, and what it had not written to
    /// the socket yet went with it (the last 2 of 478 in a playback). A
    /// broker's PUBACK means it has the message and will deliver it.
    pub async fn close(mut self, bound: Duration) -> u64 {
        let published = self.published;
        let _ = tokio::time::timeout(bound, self.acked.wait_for(|acked| *acked >= published)).await;
        let unacked = published.saturating_sub(*self.acked.borrow());
        let _ = self.client.disconnect().await;
        let _ = tokio::time::timeout(Duration::from_secs(3), self.task).await;
        unacked
    }
}

/// Polls the event loop until disconnected, counting PUBACKs; a broker not
/// up yet is retried with a short pause (rumqttc reconnects on the next
/// poll, at once).
async fn drive(
    mut eventloop: EventLoop,
    connected: watch::Sender<bool>,
    acked: watch::Sender<u64>,
) {
    loop {
        match eventloop.poll().await {
            Ok(Event::Incoming(rumqttc::Packet::ConnAck(_))) => {
                let _ = connected.send(true);
            }
            Ok(Event::Incoming(rumqttc::Packet::PubAck(_))) => {
                acked.send_modify(|count| *count += 1);
            }
            Ok(Event::Outgoing(rumqttc::Outgoing::Disconnect)) => return,
            Ok(_) => {}
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}

/// What the virtual sensors sent.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SendReport {
    /// Frames written to ptys.
    pub serial_frames: u64,
    /// Bytes written to ptys.
    pub serial_bytes: u64,
    /// JSON messages published.
    pub mqtt_messages: u64,
}

/// Plays `events` (sorted by time) as the sensors of `config` would send
/// them: each at its wall time on `encoder`'s clock, frames into `ports`,
/// JSON through `publisher`. Serial sensors say `Hello` first. Returns
/// early (with what was sent) when `stop` turns true.
pub async fn play_events(
    config: &ScenarioConfig,
    events: &[SensorEvent],
    encoder: &mut Encoder,
    ports: &mut [VirtualPort],
    publisher: &mut Publisher,
    mut stop: watch::Receiver<bool>,
) -> Result<SendReport, LiveError> {
    let site = config.site.clone().unwrap_or_else(default_site);
    let specs: BTreeMap<String, SensorSpec> = sensors(config, 1.0)
        .into_iter()
        .map(|s| (s.id.clone(), s))
        .collect();
    if !publisher.ready(Duration::from_secs(10)).await {
        return Err(LiveError::NotConnected);
    }
    let mut report = SendReport::default();
    let port_index: BTreeMap<String, usize> = ports
        .iter()
        .enumerate()
        .map(|(i, p)| (p.sensor.clone(), i))
        .collect();
    for port in ports.iter_mut() {
        if let Some(message) = specs.get(&port.sensor).and_then(hello) {
            write_frame(port, &message, &mut report).await?;
        }
    }
    let clock = encoder.clock();
    let anchor = wall_anchor(clock);
    for event in events {
        if *stop.borrow() {
            break;
        }
        let due = anchor + Duration::from_secs_f64((event.t / clock.speed).max(0.0));
        if due > tokio::time::Instant::now() {
            tokio::select! {
                () = tokio::time::sleep_until(due) => {}
                _ = stop.changed() => break,
            }
        }
        let message = encoder.message(event);
        match port_index.get(&event.sensor) {
            Some(&i) => {
                if let Some(port) = ports.get_mut(i) {
                    write_frame(port, &message, &mut report).await?;
                }
            }
            None => {
                let payload = serde_json::to_vec(&message).map_err(|e| LiveError::Encode {
                    sensor: event.sensor.clone(),
                    message: e.to_string(),
                })?;
                let topic = report_topic(&site.id, &event.sensor);
                publisher
                    .publish(&topic, payload)
                    .await
                    .map_err(|e| LiveError::Publish {
                        sensor: event.sensor.clone(),
                        message: e.to_string(),
                    })?;
                report.mqtt_messages += 1;
            }
        }
    }
    Ok(report)
}

/// The tokio instant of the clock's scenario time 0. Sensor timestamps are
/// computed from the clock, never read from the host, so they do not
/// depend on scheduling jitter; an event is sent no earlier than its
/// timestamp, so picketd never sees one from the future.
fn wall_anchor(clock: Clock) -> tokio::time::Instant {
    let now_us = picketd::now().as_unix_micros();
    let ahead_us = clock.start_us - now_us;
    let now = tokio::time::Instant::now();
    if ahead_us >= 0 {
        now + Duration::from_micros(ahead_us.unsigned_abs())
    } else {
        now.checked_sub(Duration::from_micros(ahead_us.unsigned_abs()))
            .unwrap_or(now)
    }
}

async fn write_frame(
    port: &mut VirtualPort,
    message: &Message,
    report: &mut SendReport,
) -> Result<(), LiveError> {
    let mut buffer = [0u8; MAX_ENCODED_FRAME_LEN];
    let frame = encode_frame(message, &mut buffer).map_err(|e| LiveError::Encode {
        sensor: port.sensor.clone(),
        message: format!("{e:?}"),
    })?;
    port.master
        .write_all(frame)
        .await
        .map_err(|source| LiveError::Io {
            what: "cannot write to",
            path: port.path.clone(),
            source,
        })?;
    report.serial_frames += 1;
    report.serial_bytes += frame.len() as u64;
    Ok(())
}

/// Writes raw bytes to a port (recording playback).
pub async fn write_raw(port: &mut VirtualPort, bytes: &[u8]) -> Result<(), LiveError> {
    port.master
        .write_all(bytes)
        .await
        .map_err(|source| LiveError::Io {
            what: "cannot write to",
            path: port.path.clone(),
            source,
        })
}

/// A pty pair for playback of a recorded port named `name`.
pub fn open_named_port(name: &str, link: Option<&Path>) -> Result<VirtualPort, LiveError> {
    let (master, slave) = SerialStream::pair()?;
    let slave_path = PathBuf::from(slave.name().ok_or(LiveError::Unnamed)?);
    let path = match link {
        Some(link) => {
            let _ = std::fs::remove_file(link);
            std::os::unix::fs::symlink(&slave_path, link).map_err(|source| LiveError::Io {
                what: "cannot link",
                path: link.to_owned(),
                source,
            })?;
            link.to_owned()
        }
        None => slave_path,
    };
    Ok(VirtualPort {
        sensor: name.to_owned(),
        path,
        master,
        slave,
    })
}

#[cfg(test)]
mod tests {
    use tokio::io::AsyncReadExt;

    use super::*;

    const WRITTEN: &[u8] = b"\x00last frames of a run\x00";

    #[tokio::test]
    async fn drain_waits_for_a_slow_reader_to_read_everything() {
        let mut port = open_named_port("node-01", None).unwrap();
        write_raw(&mut port, WRITTEN).await.unwrap();
        // picketd opens the port late (reopen backoff, a loaded machine).
        let path = port.path.clone();
        let reader = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(300)).await;
            let mut stream = tokio_serial::SerialStream::open(&tokio_serial::new(
                path.display().to_string(),
                115_200,
            ))
            .unwrap();
            let mut read = vec![0u8; WRITTEN.len()];
            stream.read_exact(&mut read).await.unwrap();
            (stream, read)
        });
        let ports = [port];
        assert_eq!(drain(&ports, DRAIN_BOUND).await.unwrap(), 0);
        let (_stream, read) = reader.await.unwrap();
        assert_eq!(read, WRITTEN);
    }

    #[tokio::test]
    async fn drain_reports_the_bytes_nobody_read() {
        let mut port = open_named_port("node-01", None).unwrap();
        write_raw(&mut port, WRITTEN).await.unwrap();
        write_raw(&mut port, WRITTEN).await.unwrap();
        let unread = drain(&[port], Duration::from_millis(100)).await.unwrap();
        assert_eq!(unread, 2 * WRITTEN.len() as u64);
    }
}
