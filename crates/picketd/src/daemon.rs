//! The daemon: wires sources, the engine thread, the outbox and the MQTT
//! task together, and takes them down in order.
//!
//! ```text
//!  serial task (per port) ─┐  RawInput, bounded in items    engine thread (std)
//!  MQTT task (sensor subs) ┴─ and bytes (queue.rs) ───────► Engine::handle_input
//!                                                            Engine::handle_tick (every tick)
//!                                                            Engine::handle_release (lag ran out)
//!                                                              │ stage + commit (one per batch)
//!          MQTT task ◄── outbox_ready (Notify) ◄── Outbox (Arc<Mutex>, durable, bounded)
//!             │ publish QoS 1, ack on PUBACK
//!             ▼ broker          ▲ status watch (counters, uptime) ◄── engine thread
//! ```
//!
//! * The engine runs on its own OS thread so fusion never stalls the I/O
//!   runtime and a slow tick cannot delay PUBACK handling. The thread drives
//!   a current-thread tokio runtime only to wait on the input channel and its
//!   tick timer together; all engine work is synchronous.
//! * Inputs are taken in batches (up to [`INPUT_BATCH`]) and the outputs of a
//!   whole batch are committed to the outbox at once: one `write` and one
//!   `fsync` (per the outbox's policy) per batch rather than per output.
//! * A report the reorder buffer holds is let out when its lag runs out
//!   (`Engine::next_release_time`, a timer, `Engine::handle_release`), not
//!   at the next input or tick after that: with two sensors and a 20 ms
//!   lag, waiting for the next input put the p99 latency at 42 ms.
//! * The watchdog ping (`WATCHDOG=1`) is sent from the engine loop's tick,
//!   so it stops if the engine wedges; systemd then restarts the daemon.
//! * Shutdown order: stop sources (serial tasks end; no new serial input),
//!   let the engine take what is already queued, `flush` the reorder buffer
//!   and commit the final outputs, publish the final status counters, then
//!   tell the MQTT task to drain the outbox (bounded) and disconnect cleanly
//!   (final `offline` status, so the last will does not fire). The whole
//!   sequence is bounded by `daemon.shutdown_timeout_ms`.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use picket_engine::{Engine, EngineCounters, Output, RawInput};
use picket_schema::{DaemonState, SCHEMA_VERSION, SiteId, StatusMessage, Timestamp, Topics};
use tokio::sync::{Notify, oneshot, watch};
use tokio::task::JoinHandle;

use crate::background::BackgroundThread;
use crate::config::{Config, SerialPortConfig};
use crate::mqtt::{self, MqttCounters, MqttError, MqttReport};
use crate::notify::{Notifier, NotifyError};
use crate::outbox::{Outbox, OutboxError, lock};
use crate::outbox_sync::{self, SyncWaker};
use crate::queue::{self, InputReceiver};
use crate::recording::{self, RecordingSender};
use crate::serial::{self, PortExit, PortHealth};
use crate::telemetry::{
    DaemonCounters, InternalEvent, OutboxFull, OutboxWriteFailed, ShutdownInputsUnprocessed,
};

/// Most inputs the engine takes from the channel before committing their
/// outputs: big enough to amortise the outbox commit at 100,000 inputs/s,
/// small enough that a batch is well under a millisecond of work (latency).
pub const INPUT_BATCH: usize = 256;

/// Most outputs encoded and committed at once. A scan that updates a
/// hundred tracks yields a hundred messages: committed in slices, the MQTT
/// task publishes the first while the engine thread encodes the rest, so
/// the broker (the slowest stage of a burst) starts on it sooner.
const COMMIT_SLICE: usize = 32;

/// The daemon's version, as published in the status message.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Why the daemon could not start or stopped abnormally.
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    /// The engine refused its configuration (normally caught by
    /// [`Config::load`]).
    #[error("engine configuration: {0}")]
    Engine(#[from] picket_engine::ConfigError),
    /// The state directory could not be created.
    #[error("state directory {path}: {source}")]
    StateDir {
        /// The directory.
        path: std::path::PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The outbox could not be opened.
    #[error("outbox: {0}")]
    Outbox(#[from] OutboxError),
    /// The MQTT task failed (bad TLS files, credentials...).
    #[error("mqtt: {0}")]
    Mqtt(#[from] MqttError),
    /// The MQTT task panicked or was cancelled.
    #[error("mqtt task ended abnormally: {0}")]
    MqttTask(String),
    /// The engine thread could not be started or died.
    #[error("engine thread: {0}")]
    EngineThread(String),
    /// The notify socket is unusable.
    #[error("systemd notify: {0}")]
    Notify(#[from] NotifyError),
    /// The recorder thread could not be started.
    #[error("recording thread: {0}")]
    RecordingThread(std::io::Error),
    /// The outbox's sync thread could not be started.
    #[error("cannot start the outbox sync thread: {0}")]
    SyncThread(std::io::Error),
}

/// What a finished run did, for the exit log and for tests.
#[derive(Debug, Clone)]
pub struct RunReport {
    /// The engine's counters at exit.
    pub engine: EngineCounters,
    /// The MQTT task's report (`None` if it had to be aborted at the
    /// shutdown deadline).
    pub mqtt: Option<MqttReport>,
    /// Outputs committed to the outbox during this run.
    pub outputs_enqueued: u64,
    /// Outputs dropped because the outbox was full.
    pub outbox_full_drops: u64,
    /// Records written to the recording during this run.
    pub recording_records: u64,
    /// Items not recorded (queue full, recording stopped or too large).
    pub recording_lost: u64,
    /// Inputs left queued when the shutdown's engine drain ran out of time.
    pub shutdown_unprocessed: u64,
    /// Outbox entries still unacknowledged at exit (kept on disk for the
    /// next run).
    pub outbox_unacked: usize,
    /// Time from start to `READY=1` (`None` if shutdown came first).
    pub ready_after: Option<Duration>,
    /// How long the graceful shutdown took.
    pub shutdown_took: Duration,
    /// Whether the shutdown finished within its bound with the outbox
    /// drained and a clean MQTT disconnect.
    pub clean: bool,
}

/// How the daemon talks to its supervisor; [`RunOptions::from_env`] for
/// the real thing, explicit values in tests.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// systemd notify socket (disabled: no-op).
    pub notifier: Notifier,
    /// Called on the engine thread at every tick, before the watchdog
    /// ping. Fault injection for tests: a hook that blocks is a wedged
    /// engine loop, which must stop the pings (`tests/tests/fault_watchdog.rs`).
    /// `None` in production.
    pub engine_tick_hook: Option<TickHook>,
}

/// See [`RunOptions::engine_tick_hook`].
#[derive(Clone)]
pub struct TickHook(pub Arc<dyn Fn() + Send + Sync>);

impl std::fmt::Debug for TickHook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TickHook")
    }
}

impl RunOptions {
    /// Notify socket and watchdog from `$NOTIFY_SOCKET` / `$WATCHDOG_USEC`.
    pub fn from_env() -> Result<Self, DaemonError> {
        Ok(Self {
            notifier: Notifier::from_env()?,
            engine_tick_hook: None,
        })
    }
}

/// Runs the daemon until `shutdown` resolves (SIGTERM/SIGINT in `main`),
/// then shuts down gracefully. Notify settings come from the environment.
pub async fn run(
    config: Config,
    shutdown: impl Future<Output = ()>,
) -> Result<RunReport, DaemonError> {
    run_with(config, RunOptions::from_env()?, shutdown).await
}

/// The current wall-clock time, the daemon's only clock for `received_at`
/// and ticks.
pub fn now() -> Timestamp {
    crate::now()
}

/// [`run`] with explicit options.
pub async fn run_with(
    config: Config,
    options: RunOptions,
    shutdown: impl Future<Output = ()>,
) -> Result<RunReport, DaemonError> {
    let start = Instant::now();
    let started_at = now();
    let notifier = options.notifier;
    let site = config.site_id()?;
    let engine = Engine::new(config.engine.clone())?;

    std::fs::create_dir_all(&config.state.dir).map_err(|source| DaemonError::StateDir {
        path: config.state.dir.clone(),
        source,
    })?;
    let mut outbox = Outbox::open(&config.state.dir, config.state.outbox)?;
    let recovery = outbox.recovery().clone();
    tracing::info!(
        dir = %config.state.dir.display(),
        unacked = recovery.unacked,
        torn_tail_bytes = recovery.torn_tail_bytes,
        corrupt_regions = recovery.corrupt.len(),
        next_seq = outbox.next_seq(),
        "outbox open"
    );
    let counters = Arc::new(DaemonCounters::default());
    clear_previous_tracks(&mut outbox, &Topics::new(&site), &counters)?;
    let outbox = Arc::new(Mutex::new(outbox));
    let outbox_ready = Arc::new(Notify::new());
    let (sync_waker, sync_thread) = outbox_sync::start(
        Arc::clone(&outbox),
        config.state.outbox.fsync,
        Arc::clone(&outbox_ready),
        Arc::clone(&counters),
    )
    .map_err(DaemonError::SyncThread)?;
    let mqtt_counters = Arc::new(MqttCounters::default());

    // The recording (its own thread; the engine thread holds the sender, so
    // the recorder finishes once the engine has).
    let (recording_sender, recording_thread) = if config.recording.enabled {
        let dir = config.recording.dir_in(&config.state.dir);
        let (sender, thread) = recording::start(&config.recording, dir, Arc::clone(&counters))
            .map_err(DaemonError::RecordingThread)?;
        (Some(sender), Some(thread))
    } else {
        tracing::info!("recording off ([recording] enabled = false)");
        (None, None)
    };

    // Every source shares one channel, bounded in items and in bytes. Full
    // policy: serial waits a bounded time then drops (serial.rs), MQTT
    // drops at once (mqtt.rs); both count.
    let (input_tx, input_rx) = queue::input_queue(
        config.daemon.input_channel_capacity,
        config.daemon.input_channel_bytes(),
    );
    let (status_tx, status_rx) = watch::channel(status_message(
        &site,
        started_at,
        started_at,
        BTreeMap::new(),
    ));

    // MQTT task; its shutdown is a oneshot fired after the engine's final
    // outputs are in the outbox.
    let (mqtt_stop_tx, mqtt_stop_rx) = oneshot::channel::<()>();
    let mut mqtt_task: JoinHandle<Result<MqttReport, MqttError>> =
        tokio::spawn(mqtt::run_with_counters(
            config.mqtt.clone(),
            site.clone(),
            Arc::clone(&outbox),
            Arc::clone(&outbox_ready),
            input_tx.clone(),
            status_rx,
            async move {
                let _ = mqtt_stop_rx.await;
            },
            Arc::clone(&mqtt_counters),
        ));

    // Serial tasks.
    let (sources_stop_tx, sources_stop_rx) = watch::channel(false);
    let mut ports: Vec<(String, Arc<PortHealth>)> = Vec::new();
    let mut serial_tasks: Vec<JoinHandle<PortExit>> = Vec::new();
    for port in &config.serial {
        let health = Arc::new(PortHealth::default());
        ports.push((port.path.clone(), Arc::clone(&health)));
        serial_tasks.push(tokio::spawn(serial::run_port(
            port.clone(),
            input_tx.clone(),
            health,
            Arc::clone(&counters),
            sources_stop_rx.clone(),
        )));
    }
    // Only the sources hold senders now, so the engine sees the channel
    // close once they have all stopped.
    drop(input_tx);

    // Engine thread.
    let (engine_stop_tx, engine_stop_rx) = watch::channel(false);
    let (engine_done_tx, engine_done_rx) = oneshot::channel::<EngineExit>();
    let context = EngineContext {
        site: site.clone(),
        started_at,
        outbox: Arc::clone(&outbox),
        outbox_ready: Arc::clone(&outbox_ready),
        counters: Arc::clone(&counters),
        mqtt: Arc::clone(&mqtt_counters),
        ports: ports.clone(),
        status: status_tx,
        recording: recording_sender,
        sync_waker,
        tick_hook: options.engine_tick_hook,
        notifier: notifier.clone(),
        watchdog: if config.daemon.watchdog {
            notifier.watchdog_ping_interval()
        } else {
            None
        },
        tick: Duration::from_millis(config.daemon.tick_interval_ms),
        status_interval: Duration::from_millis(config.daemon.status_interval_ms),
        // A quarter of the shutdown bound: the rest is for the outbox
        // drain and the disconnect.
        drain_budget: Duration::from_millis(config.daemon.shutdown_timeout_ms / 4),
    };
    std::thread::Builder::new()
        .name("picketd-engine".into())
        .spawn(move || {
            let exit = engine_thread(engine, input_rx, engine_stop_rx, context);
            let _ = engine_done_tx.send(exit);
        })
        .map_err(|error| DaemonError::EngineThread(error.to_string()))?;
    let mut engine_done = engine_done_rx;

    // Start-up: READY=1 once every serial port has had its first open
    // attempt and the broker has accepted us (or the broker wait expired:
    // outputs then wait in the outbox, and STATUS= says so).
    tokio::pin!(shutdown);
    let mut ready_after = None;
    let mut fatal: Option<DaemonError> = None;
    let broker_wait = Duration::from_millis(config.daemon.broker_ready_timeout_ms);
    let readiness = async {
        wait_first_attempts(&ports).await;
        tokio::time::timeout(broker_wait, mqtt_counters.wait_connected())
            .await
            .is_ok()
    };
    tokio::select! {
        () = &mut shutdown => {}
        connected = readiness => {
            let elapsed = start.elapsed();
            ready_after = Some(elapsed);
            let text = ready_text(&config.serial, &ports, connected);
            if let Err(error) = notifier.ready(&text) {
                tracing::warn!(%error, "cannot send READY=1");
            }
            tracing::info!(ready_ms = elapsed.as_millis() as u64, broker_connected = connected, "{text}");
        }
        result = &mut mqtt_task => fatal = Some(mqtt_ended(result)),
        _ = &mut engine_done => fatal = Some(DaemonError::EngineThread("engine thread ended during start-up".into())),
    }

    // Running: until shutdown, or a fatal end of the MQTT task or engine.
    let mut engine_exit: Option<EngineExit> = None;
    if fatal.is_none() && ready_after.is_some() {
        tokio::select! {
            () = &mut shutdown => {}
            result = &mut mqtt_task => fatal = Some(mqtt_ended(result)),
            exit = &mut engine_done => {
                engine_exit = exit.ok();
                fatal = Some(DaemonError::EngineThread("engine thread ended unexpectedly".into()));
            }
        }
    }

    // Shutdown, bounded as a whole.
    let shutdown_start = Instant::now();
    let deadline =
        tokio::time::Instant::now() + Duration::from_millis(config.daemon.shutdown_timeout_ms);
    let _ = notifier.stopping("stopping: draining sources, engine and outbox");
    tracing::info!("shutting down");
    let _ = sources_stop_tx.send(true);
    for task in serial_tasks {
        let _ = tokio::time::timeout_at(deadline, task).await;
    }
    let _ = engine_stop_tx.send(true);
    if engine_exit.is_none() {
        engine_exit = tokio::time::timeout_at(deadline, &mut engine_done)
            .await
            .ok()
            .and_then(Result::ok);
    }
    if engine_exit.is_none() {
        tracing::error!("engine did not finish its flush before the shutdown deadline");
    }
    // The recorder ends once the engine thread (holding its sender) has; it
    // writes and fsyncs the tail. Joined alongside the outbox drain below.
    let recording_done = recording_thread.map(BackgroundThread::finished);
    // Likewise the sync thread, after a last sync that publishes the final
    // outputs (the MQTT drain below waits for them).
    let sync_done = sync_thread.finished();
    let _ = mqtt_stop_tx.send(());
    let mqtt_report = if mqtt_task.is_finished() || fatal.is_none() {
        match tokio::time::timeout_at(deadline, &mut mqtt_task).await {
            Ok(Ok(Ok(report))) => Some(report),
            Ok(Ok(Err(error))) => {
                tracing::error!(%error, "mqtt task failed");
                fatal.get_or_insert(DaemonError::Mqtt(error));
                None
            }
            Ok(Err(join)) => {
                fatal.get_or_insert(DaemonError::MqttTask(join.to_string()));
                None
            }
            Err(_) => {
                tracing::error!("mqtt task did not finish before the shutdown deadline");
                mqtt_task.abort();
                None
            }
        }
    } else {
        None
    };
    if let Some(done) = recording_done
        && tokio::time::timeout_at(deadline, done).await.is_err()
    {
        tracing::error!("recording did not finish writing before the shutdown deadline");
    }
    if tokio::time::timeout_at(deadline, sync_done).await.is_err() {
        tracing::error!("outbox sync did not finish before the shutdown deadline");
    }
    let outbox_unacked = lock(&outbox).len();
    let _ = lock(&outbox).flush();
    if let Some(error) = fatal {
        return Err(error);
    }
    let shutdown_took = shutdown_start.elapsed();
    let clean = engine_exit.is_some()
        && mqtt_report.is_some_and(|report| report.drained && report.clean_disconnect)
        && outbox_unacked == 0;
    let report = RunReport {
        engine: engine_exit.map(|exit| exit.counters).unwrap_or_default(),
        mqtt: mqtt_report,
        outputs_enqueued: counters.outputs_enqueued.load(Ordering::Relaxed),
        outbox_full_drops: counters.outbox_full_drops.load(Ordering::Relaxed),
        recording_records: counters.recording_records.load(Ordering::Relaxed),
        recording_lost: counters.recording_lost.load(Ordering::Relaxed)
            + counters.recording_queue_drops.load(Ordering::Relaxed),
        shutdown_unprocessed: counters.shutdown_unprocessed.load(Ordering::Relaxed),
        outbox_unacked,
        ready_after,
        shutdown_took,
        clean,
    };
    tracing::info!(
        shutdown_ms = shutdown_took.as_millis() as u64,
        clean,
        outbox_unacked,
        outputs = report.outputs_enqueued,
        "stopped"
    );
    Ok(report)
}

fn mqtt_ended(
    result: Result<Result<MqttReport, MqttError>, tokio::task::JoinError>,
) -> DaemonError {
    match result {
        Ok(Ok(_)) => DaemonError::MqttTask("mqtt task ended before shutdown".into()),
        Ok(Err(error)) => DaemonError::Mqtt(error),
        Err(join) => DaemonError::MqttTask(join.to_string()),
    }
}

/// Waits until every serial port has tried to open once. The open is
/// synchronous inside the task's first poll, so this takes microseconds;
/// polling the flags keeps `PortHealth` free of a notifier.
async fn wait_first_attempts(ports: &[(String, Arc<PortHealth>)]) {
    let give_up = Instant::now() + Duration::from_secs(5);
    while !ports
        .iter()
        .all(|(_, health)| health.first_attempt_done.load(Ordering::Acquire))
        && Instant::now() < give_up
    {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

fn ready_text(
    serial: &[SerialPortConfig],
    ports: &[(String, Arc<PortHealth>)],
    broker: bool,
) -> String {
    let open = ports
        .iter()
        .filter(|(_, health)| health.connected.load(Ordering::Relaxed))
        .count();
    format!(
        "running: {open}/{} serial ports open, broker {}",
        serial.len(),
        if broker {
            "connected"
        } else {
            "unreachable (buffering in the outbox)"
        }
    )
}

fn status_message(
    site: &SiteId,
    started_at: Timestamp,
    time: Timestamp,
    counters: BTreeMap<String, u64>,
) -> StatusMessage {
    let uptime_us = time
        .as_unix_micros()
        .saturating_sub(started_at.as_unix_micros());
    StatusMessage {
        schema: SCHEMA_VERSION,
        // The MQTT task stamps status sequence numbers (its own space).
        seq: 0,
        site: site.clone(),
        time,
        state: DaemonState::Online,
        version: VERSION.to_owned(),
        started_at,
        uptime_s: u64::try_from(uptime_us / 1_000_000).unwrap_or(0),
        counters,
    }
}

/// What the engine thread needs besides the engine and its channels.
struct EngineContext {
    site: SiteId,
    started_at: Timestamp,
    outbox: Arc<Mutex<Outbox>>,
    outbox_ready: Arc<Notify>,
    counters: Arc<DaemonCounters>,
    mqtt: Arc<MqttCounters>,
    ports: Vec<(String, Arc<PortHealth>)>,
    status: watch::Sender<StatusMessage>,
    /// Where every input, tick and flush is recorded (None: recording off).
    recording: Option<RecordingSender>,
    /// Wakes the outbox's sync thread after a commit. Dropped with the
    /// context when the engine thread ends, which ends the sync thread
    /// after a last sync.
    sync_waker: SyncWaker,
    tick_hook: Option<TickHook>,
    notifier: Notifier,
    watchdog: Option<Duration>,
    tick: Duration,
    status_interval: Duration,
    /// Longest time spent on inputs still queued after the stop signal.
    /// A full channel of 4 KiB serial chunks is minutes of work after a
    /// flood; what is left at the end is counted, not processed.
    drain_budget: Duration,
}

/// What the engine thread hands back.
#[derive(Debug)]
struct EngineExit {
    counters: EngineCounters,
}

fn engine_thread(
    mut engine: Engine,
    mut inputs: InputReceiver,
    mut stop: watch::Receiver<bool>,
    context: EngineContext,
) -> EngineExit {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            tracing::error!(%error, "engine thread: cannot build its runtime");
            return EngineExit {
                counters: *engine.counters(),
            };
        }
    };
    runtime.block_on(async move {
        let mut tick = tokio::time::interval(context.tick);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut batch: Vec<RawInput> = Vec::with_capacity(INPUT_BATCH);
        let mut outputs: Vec<Output> = Vec::new();
        let mut last_ping: Option<Instant> = None;
        let mut last_status = Instant::now();
        let release_timer = tokio::time::sleep(Duration::ZERO);
        tokio::pin!(release_timer);
        let mut release_armed = false;
        loop {
            // `biased`: stop first, then the tick (ready once per period, so
            // a flood of inputs cannot starve time or the watchdog), then
            // the release (once per lag that runs out), then inputs.
            tokio::select! {
                biased;
                _ = stop.changed() => break,
                _ = tick.tick() => {
                    let now = now();
                    if let Some(recording) = &context.recording {
                        recording.tick(now);
                    }
                    let outputs = engine.handle_tick(now);
                    commit(outputs, &context);
                    context.counters.engine_ticks.fetch_add(1, Ordering::Relaxed);
                    if let Some(TickHook(hook)) = &context.tick_hook {
                        hook();
                    }
                    if let Some(interval) = context.watchdog
                        && last_ping.is_none_or(|at| at.elapsed() >= interval)
                    {
                        if let Err(error) = context.notifier.watchdog() {
                            tracing::warn!(%error, "cannot send WATCHDOG=1");
                        }
                        last_ping = Some(Instant::now());
                    }
                    if last_status.elapsed() >= context.status_interval {
                        publish_status(&engine, &context);
                        last_status = Instant::now();
                    }
                }
                () = &mut release_timer, if release_armed => {
                    let now = now();
                    if let Some(recording) = &context.recording {
                        recording.release(now);
                    }
                    let outputs = engine.handle_release(now);
                    commit(outputs, &context);
                    context.counters.engine_releases.fetch_add(1, Ordering::Relaxed);
                }
                received = inputs.recv_many(&mut batch, INPUT_BATCH) => {
                    if received == 0 {
                        // Every source is gone: only at shutdown.
                        break;
                    }
                    handle_batch(&mut engine, &mut batch, &inputs, &mut outputs, &context);
                }
            }
            release_armed = arm_release_timer(&engine, release_timer.as_mut());
        }
        // Shutdown: take what the sources had queued, for a bounded time
        // (the MQTT task still has to deliver it), release the reorder
        // buffer, publish the final counters.
        let drain_until = Instant::now() + context.drain_budget;
        inputs.close();
        while Instant::now() < drain_until {
            let before = batch.len();
            while batch.len() < INPUT_BATCH {
                match inputs.try_recv() {
                    Some(input) => batch.push(input),
                    None => break,
                }
            }
            if batch.len() == before {
                break;
            }
            handle_batch(&mut engine, &mut batch, &inputs, &mut outputs, &context);
        }
        let mut unprocessed = 0u64;
        while inputs.try_recv().is_some() {
            unprocessed += 1;
        }
        if unprocessed > 0 {
            ShutdownInputsUnprocessed {
                inputs: unprocessed,
            }
            .emit(&context.counters);
        }
        if let Some(recording) = &context.recording {
            recording.flush(now());
        }
        let outputs = engine.flush();
        commit(outputs, &context);
        publish_status(&engine, &context);
        EngineExit {
            counters: *engine.counters(),
        }
    })
}

/// Sets `timer` for the engine's next release, if a report waits in its
/// reorder buffer; returns whether it is set.
fn arm_release_timer(engine: &Engine, timer: std::pin::Pin<&mut tokio::time::Sleep>) -> bool {
    let Some(due) = engine.next_release_time() else {
        return false;
    };
    let wait_us = due.as_unix_micros().saturating_sub(now().as_unix_micros());
    // At least the timer's millisecond: a release that finds the clock a
    // hair short of `due` lets nothing out, and a zero wait would then spin.
    let wait = Duration::from_micros(wait_us.max(1_000).unsigned_abs());
    timer.reset(tokio::time::Instant::now() + wait);
    true
}

/// Clears, before anything else is published, the track topics a previous
/// run left retained: track ids restart with the process, so its tracks
/// would otherwise stay on the broker as ghosts (a clean stop leaves its
/// final states there too). The clears count as enqueued outputs, so the
/// sequence numbers stay accounted for.
fn clear_previous_tracks(
    outbox: &mut Outbox,
    topics: &Topics,
    counters: &DaemonCounters,
) -> Result<(), DaemonError> {
    let filter = topics.tracks_filter();
    let prefix = filter.trim_end_matches('#');
    let stale: Vec<String> = outbox
        .retained_topics()
        .filter(|topic| topic.starts_with(prefix))
        .map(str::to_owned)
        .collect();
    if stale.is_empty() {
        return Ok(());
    }
    for topic in &stale {
        outbox.stage_raw(topic.clone(), true, |_seq| Ok(Vec::new()))?;
    }
    outbox.commit()?;
    counters
        .outputs_enqueued
        .fetch_add(stale.len() as u64, Ordering::Relaxed);
    tracing::info!(
        tracks = stale.len(),
        "cleared the retained tracks of the previous run"
    );
    Ok(())
}

/// Feeds a batch to the engine and commits all its outputs at once.
///
/// The engine runs without the outbox lock: the MQTT task takes the same
/// lock to publish and acknowledge, and under a flood an engine holding it
/// across whole batches starved the publisher (an unfair mutex re-taken
/// back to back), so outputs piled up undelivered.
fn handle_batch(
    engine: &mut Engine,
    batch: &mut Vec<RawInput>,
    inputs: &InputReceiver,
    outputs: &mut Vec<Output>,
    context: &EngineContext,
) {
    if batch.is_empty() {
        return;
    }
    outputs.clear();
    for input in batch.drain(..) {
        context
            .counters
            .engine_inputs
            .fetch_add(1, Ordering::Relaxed);
        if let Some(recording) = &context.recording {
            recording.input(&input);
        }
        outputs.extend_from_slice(engine.handle_input(&input));
        inputs.done(&input);
    }
    commit(outputs, context);
}

/// Commits outputs in slices of [`COMMIT_SLICE`], each encoded before the
/// outbox lock is taken: the MQTT task needs that lock for every publish
/// and PUBACK, and JSON encoding is most of the staging cost (a hundred
/// track messages held it for 0.75 ms).
fn commit(outputs: &[Output], context: &EngineContext) {
    for slice in outputs.chunks(COMMIT_SLICE) {
        // This thread is the outbox's only stager, so the sequence numbers
        // read here are the ones staging assigns, unless an entry is
        // refused (full): the entries after it are then encoded again.
        let first_seq = lock(&context.outbox).next_seq();
        let encoded: Vec<_> = slice
            .iter()
            .zip(first_seq..)
            .map(|(output, seq)| (seq, encode(output, seq)))
            .collect();
        let mut outbox = lock(&context.outbox);
        let mut staged = 0u64;
        for (output, (seq, payload)) in slice.iter().zip(encoded) {
            staged += stage(&mut outbox, output, seq, payload, &context.counters);
        }
        finish_commit(&mut outbox, staged, context);
    }
}

/// The payload `output` is published with under sequence number `seq`.
fn encode(output: &Output, seq: u64) -> Result<Vec<u8>, String> {
    let mut output = output.clone();
    output.set_seq(seq);
    output.to_json().map_err(|e| e.to_string())
}

/// Stages one output, encoded for sequence number `seq`; a refusal is
/// counted and logged, never silent. Returns 1 if staged.
fn stage(
    outbox: &mut Outbox,
    output: &Output,
    seq: u64,
    payload: Result<Vec<u8>, String>,
    counters: &DaemonCounters,
) -> u64 {
    let staged = outbox.stage_raw(output.topic.clone(), output.retained, |assigned| {
        if assigned == seq {
            payload
        } else {
            encode(output, assigned)
        }
    });
    match staged {
        Ok(_seq) => 1,
        Err(OutboxError::Full { .. }) => {
            OutboxFull {
                topic: &output.topic,
            }
            .emit(counters);
            0
        }
        Err(error) => {
            OutboxWriteFailed {
                topic: &output.topic,
                error: &error,
            }
            .emit(counters);
            0
        }
    }
}

fn finish_commit(outbox: &mut Outbox, staged: u64, context: &EngineContext) {
    if staged == 0 {
        return;
    }
    match outbox.commit_deferred() {
        Ok(()) => {
            context
                .counters
                .outputs_enqueued
                .fetch_add(staged, Ordering::Relaxed);
            // Visible now unless they await their fsync, which the sync
            // thread announces itself.
            if outbox.awaiting_sync() == 0 {
                context.outbox_ready.notify_one();
            }
            context.sync_waker.committed(outbox);
        }
        Err(error) => {
            // The staged entries are rolled back by the outbox: every one of
            // them is lost and counted.
            for _ in 0..staged {
                OutboxWriteFailed {
                    topic: "(batch)",
                    error: &error,
                }
                .emit(&context.counters);
            }
        }
    }
}

/// Refreshes the status watch (the MQTT task publishes every change) and
/// `STATUS=`.
fn publish_status(engine: &Engine, context: &EngineContext) {
    let time = now();
    let mut counters = engine.counters().to_status_counters();
    counters.insert(
        "engine.live_tracks".into(),
        engine.tracker().tracks().count() as u64,
    );
    counters.insert(
        "engine.pending_reports".into(),
        engine.pending_reports() as u64,
    );
    context.counters.to_status_counters(&mut counters);
    for (port, health) in &context.ports {
        health.to_status_counters(port, &mut counters);
    }
    let mqtt = context.mqtt.snapshot();
    counters.extend(mqtt.counter_map());
    let (unacked, stats, next_seq) = {
        let outbox = lock(&context.outbox);
        (outbox.len(), outbox.stats(), outbox.next_seq())
    };
    counters.insert("outbox.unacked".into(), unacked as u64);
    counters.insert("outbox.next_seq".into(), next_seq);
    counters.insert("outbox.committed".into(), stats.committed);
    counters.insert("outbox.acked".into(), stats.acked);
    counters.insert("outbox.full".into(), stats.full);
    counters.insert("outbox.fsyncs".into(), stats.fsyncs);
    counters.insert("outbox.compactions".into(), stats.compactions);
    let text = format!(
        "{} tracks, {} inputs, broker {}, outbox backlog {}",
        engine.tracker().tracks().count(),
        engine.counters().inputs,
        if mqtt.connected { "up" } else { "DOWN" },
        unacked
    );
    context.status.send_replace(status_message(
        &context.site,
        context.started_at,
        time,
        counters,
    ));
    if let Err(error) = context.notifier.status(&text) {
        tracing::debug!(%error, "cannot send STATUS=");
    }
}
