//! `picket replay --publish`: replayed outputs to an MQTT broker, so a
//! recording can drive the same displays the tower feeds.
//!
//! Plain MQTT (`mqtt://host[:port]`) only: this is for an analyst's local
//! broker, not the site's (whose TLS settings live in picketd's config).
//! Every output goes out QoS 1 with picketd's retain flag; the replay ends
//! only when the broker has acknowledged every message, and any connection
//! error fails the replay rather than reconnecting past lost messages.
//!
//! Publishing onto a broker that also carries the live site would mix
//! replayed tracks into the live picture: use another broker, or
//! `--topic-prefix` to move them aside.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use picket_engine::Output;
use rumqttc::{Client, ConnectReturnCode, Event, MqttOptions, Packet, QoS};
use thiserror::Error;

/// How long to wait for the broker's CONNACK, and for the last PUBACKs.
const BROKER_TIMEOUT: Duration = Duration::from_secs(10);

/// Why publishing failed.
#[derive(Debug, Error)]
pub enum PublishError {
    /// The URL is not `mqtt://host[:port]`.
    #[error("--publish {url:?}: {reason}")]
    Url {
        /// The URL given.
        url: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The broker refused or dropped the connection, or did not answer.
    #[error("broker {broker}: {reason}")]
    Broker {
        /// `host:port`.
        broker: String,
        /// What happened.
        reason: String,
    },
}

/// A connected publisher. (No `Debug`: rumqttc's client has none.)
pub struct Publisher {
    broker: String,
    client: Client,
    prefix: String,
    published: u64,
    acked: Arc<AtomicU64>,
    /// The event-loop thread; its result is the first connection error.
    events: Option<JoinHandle<Result<(), String>>>,
}

/// `(host, port)` of `mqtt://host[:port]`.
fn parse_url(url: &str) -> Result<(String, u16), PublishError> {
    let error = |reason| PublishError::Url {
        url: url.to_owned(),
        reason,
    };
    let rest = url
        .strip_prefix("mqtt://")
        .ok_or_else(|| error("only mqtt://host[:port] is supported (no TLS)"))?;
    let rest = rest.trim_end_matches('/');
    let (host, port) = match rest.rsplit_once(':') {
        Some((host, port)) => (host, port.parse().map_err(|_| error("bad port"))?),
        None => (rest, 1883),
    };
    if host.is_empty() {
        return Err(error("no host"));
    }
    Ok((host.to_owned(), port))
}

impl Publisher {
    /// Connects to `url` and waits for the broker to accept. Topics are
    /// published as `topic_prefix` + the output's topic.
    pub fn connect(url: &str, topic_prefix: &str) -> Result<Self, PublishError> {
        let (host, port) = parse_url(url)?;
        let broker = format!("{host}:{port}");
        let client_id = format!("picket-replay-{}", std::process::id());
        let mut options = MqttOptions::new(client_id, host, port);
        options.set_keep_alive(Duration::from_secs(30));
        options.set_max_packet_size(1 << 20, 1 << 20);
        let (client, mut connection) = Client::new(options, 1024);
        let acked = Arc::new(AtomicU64::new(0));
        let (connected_tx, connected_rx) = mpsc::channel();
        let thread_acked = Arc::clone(&acked);
        let events = std::thread::spawn(move || {
            for event in connection.iter() {
                match event {
                    Ok(Event::Incoming(Packet::ConnAck(ack))) => {
                        if ack.code != ConnectReturnCode::Success {
                            let reason = format!("connection refused: {:?}", ack.code);
                            let _ = connected_tx.send(Err(reason.clone()));
                            return Err(reason);
                        }
                        let _ = connected_tx.send(Ok(()));
                    }
                    Ok(Event::Incoming(Packet::PubAck(_))) => {
                        thread_acked.fetch_add(1, Ordering::Release);
                    }
                    Ok(_) => {}
                    // No reconnect: a QoS 1 message in flight across a
                    // reconnect may be resent or not, and the count of
                    // acknowledgements would no longer prove delivery.
                    Err(error) => {
                        let reason = error.to_string();
                        let _ = connected_tx.send(Err(reason.clone()));
                        return Err(reason);
                    }
                }
            }
            Ok(())
        });
        let broker_error = |reason: String| PublishError::Broker {
            broker: broker.clone(),
            reason,
        };
        match connected_rx.recv_timeout(BROKER_TIMEOUT) {
            Ok(Ok(())) => {}
            Ok(Err(reason)) => return Err(broker_error(reason)),
            Err(_) => return Err(broker_error("no CONNACK within 10 s".into())),
        }
        Ok(Self {
            broker,
            client,
            prefix: topic_prefix.to_owned(),
            published: 0,
            acked,
            events: Some(events),
        })
    }

    /// Publishes one output (QoS 1, its retain flag). Blocks while the
    /// client's queue is full.
    pub fn publish(&mut self, output: &Output, payload: Vec<u8>) -> Result<(), PublishError> {
        let topic = format!("{}{}", self.prefix, output.topic);
        if self
            .client
            .publish(topic, QoS::AtLeastOnce, output.retained, payload)
            .is_err()
        {
            return Err(self.failure());
        }
        self.published += 1;
        Ok(())
    }

    /// Waits until the broker has acknowledged every message, then
    /// disconnects. Returns the number published.
    pub fn finish(mut self) -> Result<u64, PublishError> {
        let deadline = Instant::now() + BROKER_TIMEOUT;
        while self.acked.load(Ordering::Acquire) < self.published {
            if self.events.as_ref().is_some_and(JoinHandle::is_finished) {
                return Err(self.failure());
            }
            if Instant::now() > deadline {
                return Err(PublishError::Broker {
                    broker: self.broker.clone(),
                    reason: format!(
                        "only {} of {} messages acknowledged within 10 s",
                        self.acked.load(Ordering::Acquire),
                        self.published
                    ),
                });
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        let _ = self.client.disconnect();
        Ok(self.published)
    }

    /// The event loop's error, once it has stopped.
    fn failure(&mut self) -> PublishError {
        let reason = match self.events.take().map(JoinHandle::join) {
            Some(Ok(Err(reason))) => reason,
            _ => "connection closed".to_owned(),
        };
        PublishError::Broker {
            broker: self.broker.clone(),
            reason,
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    #[test]
    fn urls() {
        assert_eq!(
            parse_url("mqtt://localhost").unwrap(),
            ("localhost".into(), 1883)
        );
        assert_eq!(
            parse_url("mqtt://10.0.0.1:1884/").unwrap(),
            ("10.0.0.1".into(), 1884)
        );
        assert!(parse_url("mqtts://broker:8883").is_err());
        assert!(parse_url("mqtt://:1883").is_err());
        assert!(parse_url("mqtt://host:x").is_err());
    }
}
