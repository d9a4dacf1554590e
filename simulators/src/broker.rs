//! The demo's embedded MQTT broker (rumqttd, feature `demo-broker`).
//!
//! rumqttd is in-memory only and has no shutdown: fine for a demo that
//! runs for a minute, not for a tower, which is why it is behind a feature
//! of the simulator and never a dependency of picketd or picket-cli.

use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

use thiserror::Error;

/// Why the broker did not come up.
#[derive(Debug, Error)]
pub enum BrokerError {
    /// No free loopback port.
    #[error("no free loopback port: {0}")]
    Port(std::io::Error),
    /// The generated rumqttd configuration was refused.
    #[error("rumqttd configuration: {0}")]
    Config(String),
    /// The broker thread could not start.
    #[error("cannot start the broker thread: {0}")]
    Thread(std::io::Error),
    /// The broker did not accept connections in time.
    #[error("the embedded broker did not listen on 127.0.0.1:{0} within 5 s")]
    NotListening(u16),
}

/// Starts rumqttd on a free loopback port, in a thread of its own that
/// lives as long as the process; returns the port once it accepts
/// connections.
pub fn start() -> Result<u16, BrokerError> {
    // Ask the kernel for a free port, then hand it to rumqttd (which wants
    // an address, not a socket); another process taking it in between would
    // make the readiness check below fail loudly.
    let port = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|l| l.local_addr())
        .map_err(BrokerError::Port)?
        .port();
    let text = format!(
        r#"
id = 0

[router]
max_connections = 64
max_outgoing_packet_count = 1000
max_segment_size = 10485760
max_segment_count = 10

[v4.1]
name = "v4-1"
listen = "127.0.0.1:{port}"
next_connection_delay_ms = 1

[v4.1.connections]
connection_timeout_ms = 5000
max_payload_size = 1048576
max_inflight_count = 1000
dynamic_filters = true
"#
    );
    let config: rumqttd::Config =
        toml::from_str(&text).map_err(|e| BrokerError::Config(e.to_string()))?;
    std::thread::Builder::new()
        .name("rumqttd".into())
        .spawn(move || {
            let mut broker = rumqttd::Broker::new(config);
            // start() serves until the process ends; an error here shows up
            // as the readiness check failing.
            let _ = broker.start();
        })
        .map_err(BrokerError::Thread)?;
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        if TcpStream::connect((Ipv4Addr::LOCALHOST, port)).is_ok() {
            return Ok(port);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Err(BrokerError::NotListening(port))
}
