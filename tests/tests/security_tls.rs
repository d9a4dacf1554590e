//! picketd against a real Mosquitto with mutual TLS and a per-topic ACL,
//! certificates generated per test run with the `openssl` CLI:
//!
//! 1. with a good client certificate picketd connects over TLS, the broker
//!    takes its certificate's CN as its user name, and a TLS subscriber
//!    receives the tracks it makes from sensor reports;
//! 2. a client without a certificate is refused at the handshake;
//! 3. picketd trusting the wrong CA never connects and delivers nothing;
//! 4. an expired client certificate is refused;
//! 5. picketd configured for TLS never falls back to plaintext: a raw
//!    listener sees only TLS ClientHellos, a plaintext broker never a
//!    CONNECT from it;
//! 6. the ACL: a certified client without rights on `picket/<site>/#`
//!    cannot inject tracks or sensor reports, and payloads on topics picketd
//!    does not subscribe to leave its counters alone;
//! 7. `systemd-analyze security` scores the shipped unit at most 2.0.
//!
//! Why the openssl CLI rather than rcgen: it needs no new crate in the
//! build (rcgen would add `time`, `yasna` and `pem` to Cargo.lock), and
//! `openssl ca -startdate/-enddate` makes a certificate that expired in the
//! past as easily as rcgen's `not_after`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod e2e_support;

use std::io::Read;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use e2e_support::*;
use picket_system_tests::mosquitto::{Mosquitto, MosquittoOptions};
use picketd::mqtt::{TlsSettings, tls_config};
use rumqttc::{
    AsyncClient, Event, Incoming, MqttOptions, QoS, SubscribeReasonCode, TlsConfiguration,
    Transport,
};
use serde_json::Value;

const WAIT: Duration = Duration::from_secs(10);
const OPENSSL: &str = "/usr/bin/openssl";
/// picketd's identity: its client id and its certificate's CN, which the
/// broker uses as its user name (`use_identity_as_username`).
const PICKETD: &str = "picketd-e2e";

// ---------------------------------------------------------------- certificates

/// A throw-away PKI in a temp dir: a CA, a broker certificate for
/// 127.0.0.1, client certificates by CN, and a second, unrelated CA.
struct Pki {
    dir: tempfile::TempDir,
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new(OPENSSL)
        .args(args)
        .current_dir(dir)
        .output()
        .expect("the openssl CLI runs (apt-get install openssl)");
    assert!(
        out.status.success(),
        "openssl {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `openssl ca` configuration: signs what it is given, dates from the
/// command line, extensions from the named section of the same file.
const CA_CONFIG: &str = "\
[ca]
default_ca = test
[test]
database = index.txt
new_certs_dir = issued
serial = serial
default_md = sha256
policy = any
copy_extensions = none
unique_subject = no
[any]
commonName = supplied
[server]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = IP:127.0.0.1,DNS:localhost
[client]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = clientAuth
";

impl Pki {
    fn new() -> Pki {
        let pki = Pki {
            dir: tempfile::tempdir().unwrap(),
        };
        let dir = pki.dir.path();
        std::fs::create_dir(dir.join("issued")).unwrap();
        std::fs::write(dir.join("index.txt"), "").unwrap();
        std::fs::write(dir.join("serial"), "1000\n").unwrap();
        std::fs::write(dir.join("ca.cnf"), CA_CONFIG).unwrap();
        // X.509 v3 throughout: rustls rejects v1 certificates (traps.md).
        for ca in ["ca", "other-ca"] {
            openssl(
                dir,
                &[
                    "req",
                    "-x509",
                    "-newkey",
                    "ec",
                    "-pkeyopt",
                    "ec_paramgen_curve:P-256",
                    "-nodes",
                    "-keyout",
                    &format!("{ca}.key"),
                    "-out",
                    &format!("{ca}.pem"),
                    "-days",
                    "2",
                    // Same subject for both CAs: only the key tells them apart.
                    "-subj",
                    "/CN=picket test CA",
                    "-addext",
                    "basicConstraints=critical,CA:TRUE",
                    "-addext",
                    "keyUsage=critical,keyCertSign,cRLSign",
                ],
            );
        }
        pki.issue("server", "localhost", "server", None);
        pki
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Issues `<name>.pem` / `<name>.key` for `cn`, signed by `ca.pem`,
    /// valid for two days from now or for the given `(start, end)` dates
    /// (`YYYYMMDDHHMMSSZ`).
    fn issue(&self, name: &str, cn: &str, extensions: &str, dates: Option<(&str, &str)>) {
        let dir = self.dir.path();
        openssl(
            dir,
            &[
                "req",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-nodes",
                "-keyout",
                &format!("{name}.key"),
                "-out",
                &format!("{name}.csr"),
                "-subj",
                &format!("/CN={cn}"),
            ],
        );
        let csr = format!("{name}.csr");
        let pem = format!("{name}.pem");
        let mut args = vec![
            "ca",
            "-batch",
            "-notext",
            "-config",
            "ca.cnf",
            "-cert",
            "ca.pem",
            "-keyfile",
            "ca.key",
            "-extensions",
            extensions,
            "-in",
            &csr,
            "-out",
            &pem,
        ];
        match dates {
            Some((start, end)) => args.extend(["-startdate", start, "-enddate", end]),
            None => args.extend(["-days", "2"]),
        }
        openssl(dir, &args);
    }

    fn client(&self, cn: &str) -> TlsSettings {
        if !self.path(&format!("{cn}.pem")).exists() {
            self.issue(cn, cn, "client", None);
        }
        TlsSettings {
            ca_file: self.path("ca.pem"),
            cert_file: Some(self.path(&format!("{cn}.pem"))),
            key_file: Some(self.path(&format!("{cn}.key"))),
        }
    }

    /// The broker's TLS listener (on the harness's port) and the ACL.
    fn broker_options(&self) -> MosquittoOptions {
        let acl = self.path("acl");
        std::fs::write(
            &acl,
            format!(
                "\
# picketd publishes everything of its site and reads only sensor reports.
user {PICKETD}
topic write picket/{SITE}/#
topic read picket/{SITE}/sensors/+/reports

# One sensor, writing only under its own topic.
user sensor-geo
topic write picket/{SITE}/sensors/geo-01/#

# An operator console: reads everything, writes nothing.
user watcher
topic read picket/#
topic read lab/#

# A certified client with no rights on the site.
user intruder
topic write lab/intruder
"
            ),
        )
        .unwrap();
        MosquittoOptions {
            extra: vec![
                format!("cafile {}", self.path("ca.pem").display()),
                format!("certfile {}", self.path("server.pem").display()),
                format!("keyfile {}", self.path("server.key").display()),
                "require_certificate true".into(),
                "use_identity_as_username true".into(),
                format!("acl_file {}", acl.display()),
            ],
            ..MosquittoOptions::default()
        }
    }
}

// ---------------------------------------------------------------- MQTT clients

#[derive(Debug, Default)]
struct ClientLog {
    connacks: u32,
    errors: Vec<String>,
    subacks: Vec<Vec<SubscribeReasonCode>>,
    pubacks: u32,
    messages: Vec<(String, Vec<u8>)>,
}

/// A rumqttc client over TLS (clean session) that subscribes to `filters`
/// on every ConnAck and logs everything; retries every 200 ms after an
/// error.
struct Client {
    client: AsyncClient,
    log: Arc<Mutex<ClientLog>>,
    task: tokio::task::JoinHandle<()>,
}

impl Client {
    fn start(port: u16, client_id: &str, tls: &TlsSettings, filters: &[&str]) -> Client {
        let mut options = MqttOptions::new(client_id, "127.0.0.1", port);
        options
            .set_clean_session(true)
            .set_keep_alive(Duration::from_secs(5));
        let config = tls_config(tls).expect("client TLS config");
        options.set_transport(Transport::tls_with_config(TlsConfiguration::Rustls(
            Arc::new(config),
        )));
        let (client, mut eventloop) = AsyncClient::new(options, 100);
        let log = Arc::new(Mutex::new(ClientLog::default()));
        let filters: Vec<String> = filters.iter().map(|f| f.to_string()).collect();
        let task = {
            let log = log.clone();
            let client = client.clone();
            tokio::spawn(async move {
                loop {
                    match eventloop.poll().await {
                        Ok(Event::Incoming(Incoming::ConnAck(_))) => {
                            log.lock().unwrap().connacks += 1;
                            for filter in &filters {
                                let _ = client.try_subscribe(filter.clone(), QoS::AtLeastOnce);
                            }
                        }
                        Ok(Event::Incoming(Incoming::SubAck(ack))) => {
                            log.lock().unwrap().subacks.push(ack.return_codes);
                        }
                        Ok(Event::Incoming(Incoming::PubAck(_))) => {
                            log.lock().unwrap().pubacks += 1;
                        }
                        Ok(Event::Incoming(Incoming::Publish(p))) => {
                            log.lock()
                                .unwrap()
                                .messages
                                .push((p.topic.clone(), p.payload.to_vec()));
                        }
                        Ok(_) => {}
                        Err(error) => {
                            log.lock().unwrap().errors.push(error.to_string());
                            tokio::time::sleep(Duration::from_millis(200)).await;
                        }
                    }
                }
            })
        };
        Client { client, log, task }
    }

    /// Waits (bounded) until `done` holds for the log.
    async fn until(&self, timeout: Duration, done: impl Fn(&ClientLog) -> bool) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            if done(&self.log.lock().unwrap()) {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Connected and, if it has filters, subscribed.
    async fn ready(&self, subscriptions: usize) {
        let ok = self
            .until(WAIT, |log| {
                log.connacks > 0 && log.subacks.len() >= subscriptions
            })
            .await;
        assert!(ok, "client not ready: {:?}", self.log.lock().unwrap());
    }

    async fn publish(&self, topic: &str, payload: Vec<u8>) {
        self.client
            .publish(topic, QoS::AtLeastOnce, false, payload)
            .await
            .unwrap();
    }

    async fn publish_qos0(&self, topic: &str, payload: Vec<u8>) {
        self.client
            .publish(topic, QoS::AtMostOnce, false, payload)
            .await
            .unwrap();
    }

    fn messages_on(&self, prefix: &str) -> Vec<(String, Vec<u8>)> {
        self.log
            .lock()
            .unwrap()
            .messages
            .iter()
            .filter(|(topic, _)| topic.starts_with(prefix))
            .cloned()
            .collect()
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        self.task.abort();
    }
}

// ---------------------------------------------------------------- daemon

/// picketd's config: one geolocated detector reporting over MQTT, TLS to
/// `port` with `tls`, short timeouts so failing cases end quickly.
fn daemon_config(port: u16, tls: &TlsSettings, state: &Path, drain_timeout_ms: u64) -> String {
    let (lat, lon) = at(0.0, -100.0);
    let mut text = format!(
        r#"
[site]
id = "{SITE}"
origin = {{ lat = {}, lon = {}, alt_m = {} }}
reorder_lag_ms = 100

[[sensors]]
id = "geo-01"
kind = "geolocated_detector"
position = {{ lat = {lat}, lon = {lon}, alt_m = 1200.0 }}
position_sigma_m = 3.0
expected_interval_s = 5.0

[health]
publish_interval_s = 1.0

[mqtt]
host = "127.0.0.1"
port = {port}
client_id = "{PICKETD}"
subscriptions = ["picket/{SITE}/sensors/+/reports"]
reconnect_backoff_min_ms = 100
reconnect_backoff_max_ms = 400
connect_timeout_s = 1
drain_timeout_ms = {drain_timeout_ms}

[mqtt.tls]
ca_file = "{}"
"#,
        ORIGIN.0,
        ORIGIN.1,
        ORIGIN.2,
        tls.ca_file.display(),
    );
    if let (Some(cert), Some(key)) = (&tls.cert_file, &tls.key_file) {
        text += &format!(
            "cert_file = \"{}\"\nkey_file = \"{}\"\n",
            cert.display(),
            key.display()
        );
    }
    text += &format!(
        r#"
[state]
dir = "{}"

[state.outbox]
fsync = "never"

[daemon]
tick_interval_ms = 50
status_interval_ms = 200
shutdown_timeout_ms = 10000
broker_ready_timeout_ms = 1000
"#,
        state.display()
    );
    text
}

/// `New client connected ... as <id>` lines of the broker log for `id`.
fn connects_logged(broker: &Mosquitto, client_id: &str) -> Vec<String> {
    broker
        .log()
        .lines()
        .filter(|line| {
            line.contains("New client connected") && line.contains(&format!(" as {client_id} "))
        })
        .map(str::to_string)
        .collect()
}

/// Waits (bounded) until a line of the broker log satisfies `found`.
async fn until_logged(broker: &Mosquitto, found: impl Fn(&str) -> bool) -> bool {
    let deadline = Instant::now() + WAIT;
    while Instant::now() < deadline {
        if broker.log().lines().any(&found) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    false
}

fn site(suffix: &str) -> String {
    format!("picket/{SITE}/{suffix}")
}

// ---------------------------------------------------------------- tests

/// Cases 1 and 6: the good path over mutual TLS, and what the ACL keeps
/// out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_client_cert_delivers_tracks_and_acl_keeps_others_out() {
    let pki = Pki::new();
    let broker = Mosquitto::start_with(pki.broker_options()).unwrap();
    let port = broker.port();
    let watcher = Client::start(
        port,
        "watcher",
        &pki.client("watcher"),
        &["picket/#", "lab/#"],
    );
    watcher.ready(2).await;
    let sensor = Client::start(port, "sensor-geo", &pki.client("sensor-geo"), &[]);
    sensor.ready(0).await;

    let state = tempfile::tempdir().unwrap();
    let config = parse_config(&daemon_config(
        port,
        &pki.client(PICKETD),
        state.path(),
        2000,
    ));
    let daemon = Daemon::start(config);
    assert!(
        watcher
            .until(WAIT, |log| log
                .messages
                .iter()
                .any(|(t, _)| *t == site("status")))
            .await,
        "birth status over TLS; broker log:\n{}",
        broker.log()
    );
    // The broker authenticated picketd by its certificate: the user name
    // is the certificate's CN.
    let connected = connects_logged(&broker, PICKETD);
    assert!(
        connected
            .iter()
            .any(|line| line.contains(&format!("u'{PICKETD}'"))),
        "picketd's identity is its certificate CN: {connected:?}"
    );

    // A person walking past the detector, reported over MQTT/TLS at 20 Hz.
    let reports = site("sensors/geo-01/reports");
    let mut sent_reports = 0u64;
    for step in 0..30u32 {
        let north = -15.0 + f64::from(step) * 0.1;
        sensor
            .publish(&reports, json(&position(step + 1, 0.5, north)))
            .await;
        sent_reports += 1;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let confirmed = |log: &ClientLog| {
        log.messages.iter().any(|(topic, payload)| {
            topic.starts_with(&site("tracks/"))
                && serde_json::from_slice::<Value>(payload)
                    .is_ok_and(|v| v["status"] == "confirmed" && v["sensors"][0] == "geo-01")
        })
    };
    assert!(
        watcher.until(WAIT, confirmed).await,
        "a confirmed track reached the TLS subscriber: {:?}",
        watcher.messages_on(&site(""))
    );

    // Case 6a: a client with a valid certificate but no rights on the site
    // tries to inject a track and a sensor report. Mosquitto 2.0.11 logs
    // each denial and then drops the client's connection (whatever the
    // QoS), so the intruder forges one message per connection, and a
    // marker it may write comes last: the broker queues messages to the
    // watcher in the order it handles them, so once the marker is
    // delivered the forgeries would have been too.
    let intruder = Client::start(port, "intruder", &pki.client("intruder"), &[]);
    intruder.ready(0).await;
    let forged_track = br#"{"forged": true}"#.to_vec();
    let forgeries = [
        (site("tracks/999"), forged_track.clone()),
        (reports.clone(), json(&position(500, 0.5, 0.0))),
    ];
    for (round, (topic, payload)) in forgeries.into_iter().enumerate() {
        let connected = round as u32 + 1;
        assert!(
            intruder.until(WAIT, |log| log.connacks >= connected).await,
            "intruder reconnects"
        );
        intruder.publish_qos0(&topic, payload).await;
        let denial = format!("'{topic}'");
        assert!(
            until_logged(&broker, |line| line
                .contains("Denied PUBLISH from intruder")
                && line.contains(&denial))
            .await,
            "no ACL denial for {topic}:\n{}",
            broker.log()
        );
    }
    assert!(
        intruder.until(WAIT, |log| log.connacks >= 3).await,
        "intruder reconnects"
    );
    intruder
        .publish_qos0("lab/intruder", b"marker".to_vec())
        .await;
    assert!(
        watcher
            .until(WAIT, |log| log
                .messages
                .iter()
                .any(|(t, _)| t == "lab/intruder"))
            .await,
        "the intruder's permitted marker arrives: {:?}\nbroker log:\n{}",
        intruder.log.lock().unwrap(),
        broker.log()
    );
    assert!(
        watcher.messages_on(&site("tracks/999")).is_empty(),
        "a forged track was delivered"
    );
    assert!(
        !watcher
            .messages_on(&site(""))
            .iter()
            .any(|(_, payload)| *payload == forged_track),
        "forged payload delivered"
    );

    // Case 6b: a permitted publish on a topic picketd does not subscribe
    // to reaches the watcher (so the broker delivered it) but not picketd.
    let ignored = site("sensors/geo-01/config");
    sensor
        .publish(&ignored, b"{\"rate_hz\": 100}".to_vec())
        .await;
    assert!(
        watcher
            .until(WAIT, |log| log.messages.iter().any(|(t, _)| *t == ignored))
            .await,
        "the off-subscription publish was delivered to the watcher"
    );
    // Let picketd's status counters catch up before stopping.
    tokio::time::sleep(Duration::from_millis(300)).await;

    let (report, _) = daemon.stop(Duration::from_secs(15)).await;
    let mqtt = report.mqtt.expect("mqtt report");
    assert!(
        mqtt.connects >= 1 && mqtt.subscribe_failures == 0,
        "{mqtt:?}"
    );
    // Exactly the sensor's reports: not the intruder's forged one, not the
    // off-subscription payload.
    assert_eq!(mqtt.inputs_received, sent_reports, "{mqtt:?}");
    assert_eq!(report.engine.dropped.total(), 0, "{:?}", report.engine);
    assert!(report.clean, "{report:?}");
}

/// Cases 2 and 4: no client certificate, and an expired one, are refused
/// at the handshake, while the same CA's valid certificate is accepted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn anonymous_and_expired_clients_are_refused() {
    let pki = Pki::new();
    pki.issue(
        "expired",
        "sensor-geo",
        "client",
        Some(("20200101000000Z", "20200102000000Z")),
    );
    let broker = Mosquitto::start_with(pki.broker_options()).unwrap();
    let port = broker.port();

    let anonymous = TlsSettings {
        ca_file: pki.path("ca.pem"),
        cert_file: None,
        key_file: None,
    };
    let expired = TlsSettings {
        ca_file: pki.path("ca.pem"),
        cert_file: Some(pki.path("expired.pem")),
        key_file: Some(pki.path("expired.key")),
    };
    let no_cert = Client::start(port, "anonymous", &anonymous, &["picket/#"]);
    let old = Client::start(port, "expired", &expired, &["picket/#"]);
    // The control: the same identity with a current certificate.
    let good = Client::start(port, "sensor-geo", &pki.client("sensor-geo"), &[]);
    good.ready(0).await;

    for (name, client) in [("no certificate", &no_cert), ("expired", &old)] {
        assert!(
            client.until(WAIT, |log| log.errors.len() >= 3).await,
            "{name}: retried connections fail: {:?}",
            client.log.lock().unwrap()
        );
        let log = client.log.lock().unwrap();
        assert_eq!(log.connacks, 0, "{name}: got a CONNACK: {log:?}");
        assert!(log.messages.is_empty(), "{name}: {log:?}");
    }
    let log = broker.log();
    assert!(connects_logged(&broker, "anonymous").is_empty(), "{log}");
    assert!(connects_logged(&broker, "expired").is_empty(), "{log}");
    assert_eq!(connects_logged(&broker, "sensor-geo").len(), 1, "{log}");
    // And the broker said why (OpenSSL's verify errors).
    for line in log.lines().filter(|line| line.contains("OpenSSL Error")) {
        eprintln!("broker: {line}");
    }
    assert!(
        log.contains("peer did not return a certificate"),
        "the anonymous refusal is not in the broker log:\n{log}"
    );
    assert!(
        log.contains("certificate verify failed"),
        "the expired refusal is not in the broker log:\n{log}"
    );
    // The expired certificate differs from the accepted one only in its
    // dates: OpenSSL's own verdict on it is "expired".
    let verdict = Command::new(OPENSSL)
        .arg("verify")
        .arg("-CAfile")
        .arg(pki.path("ca.pem"))
        .arg(pki.path("expired.pem"))
        .output()
        .unwrap();
    let verdict = String::from_utf8_lossy(&verdict.stdout).to_string()
        + &String::from_utf8_lossy(&verdict.stderr);
    assert!(verdict.contains("certificate has expired"), "{verdict}");

    // The mosquitto CLI agrees: TLS without a client certificate is refused
    // (and `-W` bounds the wait should it not be).
    let out = Command::new("mosquitto_sub")
        .args([
            "-h",
            "127.0.0.1",
            "-p",
            &port.to_string(),
            "-i",
            "cli-anonymous",
        ])
        .args(["-t", "picket/#", "-C", "1", "-W", "3", "--cafile"])
        .arg(pki.path("ca.pem"))
        .output()
        .unwrap();
    assert!(
        !out.status.success(),
        "mosquitto_sub without a certificate succeeded: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(
        connects_logged(&broker, "cli-anonymous").is_empty(),
        "{}",
        broker.log()
    );
}

/// Case 3: picketd trusting another CA refuses the broker's certificate,
/// never connects, counts the failures and delivers nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_ca_never_connects() {
    let pki = Pki::new();
    let broker = Mosquitto::start_with(pki.broker_options()).unwrap();
    let port = broker.port();
    let watcher = Client::start(port, "watcher", &pki.client("watcher"), &["picket/#"]);
    watcher.ready(1).await;

    let mut tls = pki.client(PICKETD);
    tls.ca_file = pki.path("other-ca.pem");
    let state = tempfile::tempdir().unwrap();
    let daemon = Daemon::start(parse_config(&daemon_config(port, &tls, state.path(), 200)));
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (report, _) = daemon.stop(Duration::from_secs(15)).await;

    let mqtt = report.mqtt.expect("mqtt report");
    assert_eq!(mqtt.connects, 0, "{mqtt:?}");
    assert!(mqtt.connection_errors >= 2, "failures counted: {mqtt:?}");
    assert_eq!(mqtt.status_published, 0, "{mqtt:?}");
    assert!(!report.clean);
    // Give anything in flight time to arrive: nothing from picketd does.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        watcher.messages_on(&site("")).is_empty(),
        "delivered without trust: {:?}",
        watcher.messages_on(&site(""))
    );
    assert!(
        connects_logged(&broker, PICKETD).is_empty(),
        "{}",
        broker.log()
    );
}

/// Case 5: TLS or nothing. A raw TCP listener only ever sees TLS
/// ClientHellos (first byte 0x16), never an MQTT CONNECT (0x10), and a
/// plaintext Mosquitto never logs a connection from picketd.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn never_falls_back_to_plaintext() {
    let pki = Pki::new();
    let tls = pki.client(PICKETD);

    // A listener that records the first byte of every connection.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let raw_port = listener.local_addr().unwrap().port();
    listener.set_nonblocking(true).unwrap();
    let first_bytes = Arc::new(Mutex::new(Vec::<u8>::new()));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let acceptor = {
        let first_bytes = first_bytes.clone();
        let stop = stop.clone();
        std::thread::spawn(move || {
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                match listener.accept() {
                    Ok((mut stream, _)) => {
                        stream.set_nonblocking(false).unwrap();
                        stream
                            .set_read_timeout(Some(Duration::from_secs(2)))
                            .unwrap();
                        let mut byte = [0u8; 1];
                        if stream.read_exact(&mut byte).is_ok() {
                            first_bytes.lock().unwrap().push(byte[0]);
                        }
                        // Dropping the stream closes it: the client retries.
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(10)),
                }
            }
        })
    };

    // And a plaintext broker (the harness's default listener).
    let plain = Mosquitto::start().unwrap();

    let raw_state = tempfile::tempdir().unwrap();
    let plain_state = tempfile::tempdir().unwrap();
    let raw_daemon = Daemon::start(parse_config(&daemon_config(
        raw_port,
        &tls,
        raw_state.path(),
        200,
    )));
    let plain_daemon = Daemon::start(parse_config(&daemon_config(
        plain.port(),
        &tls,
        plain_state.path(),
        200,
    )));
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (raw_report, _) = raw_daemon.stop(Duration::from_secs(15)).await;
    let (plain_report, _) = plain_daemon.stop(Duration::from_secs(15)).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    acceptor.join().unwrap();

    let seen = first_bytes.lock().unwrap().clone();
    assert!(seen.len() >= 2, "picketd retried: {seen:02x?}");
    assert!(
        seen.iter().all(|&b| b == 0x16),
        "only TLS handshakes (0x16), never MQTT CONNECT (0x10): {seen:02x?}"
    );
    for report in [&raw_report, &plain_report] {
        let mqtt = report.mqtt.expect("mqtt report");
        assert_eq!(mqtt.connects, 0, "{mqtt:?}");
        assert!(mqtt.connection_errors >= 2, "{mqtt:?}");
    }
    let log = plain.log();
    assert!(connects_logged(&plain, PICKETD).is_empty(), "{log}");
    assert!(
        !log.contains("Received CONNECT"),
        "a plaintext CONNECT reached the broker:\n{log}"
    );
}

/// Case 7: the shipped unit's systemd exposure score stays at most 2.0.
#[test]
fn systemd_unit_exposure_at_most_2() {
    let analyze = Path::new("/usr/bin/systemd-analyze");
    if !analyze.exists() {
        eprintln!("skipped: /usr/bin/systemd-analyze is not installed (package systemd)");
        return;
    }
    let unit = Path::new(env!("CARGO_MANIFEST_DIR")).join("../systemd/picketd.service");
    // `--offline=true` scores the file without a running systemd (252+).
    let out = Command::new(analyze)
        .args(["security", "--offline=true", "--no-pager"])
        .arg(&unit)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let line = text
        .lines()
        .find(|line| line.contains("Overall exposure level"))
        .unwrap_or_else(|| panic!("no exposure line in:\n{text}"));
    let score: f64 = line
        .split(':')
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|number| number.parse().ok())
        .unwrap_or_else(|| panic!("unparsable: {line}"));
    eprintln!("{line}");
    assert!(score <= 2.0, "exposure {score} > 2.0:\n{text}");
}
