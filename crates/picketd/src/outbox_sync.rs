//! The outbox's sync thread: every `fsync` and compaction of the outbox
//! runs here, outside the outbox's lock, so the engine never waits on the
//! disk and the MQTT task never waits for the lock while a sync or a
//! compaction is in progress.
//!
//! Under [`FsyncPolicy::Always`] the engine wakes the thread after each
//! commit; the thread syncs and publishes (makes visible, then notifies the
//! MQTT task) every batch the sync covered. Batches committed while a sync
//! runs wait for the next one, which starts as soon as it ends: a group
//! commit whose group is whatever arrived during the last `fsync`. Under
//! [`FsyncPolicy::GroupCommit`] the thread syncs on its own timer. Under
//! [`FsyncPolicy::Never`] it only compacts.
//!
//! After each sync the thread compacts if acknowledged records have piled
//! up ([`Outbox::compaction_due`]); a commit that finds one due wakes it
//! under every policy. A failed compaction leaves the old file in use: it
//! is reported and retried after [`COMPACTION_RETRY`]. A compaction leaves
//! the new file (and its name) to sync, so a sync follows at once.
//!
//! The thread ends once its [`SyncWaker`] is dropped (the engine thread
//! ends), after a last sync, so the final outputs are durable and visible
//! before the MQTT task's shutdown drain gives up on them.

use std::sync::mpsc::{self, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::Notify;

use crate::background::BackgroundThread;
use crate::outbox::{FsyncPolicy, Outbox, OutboxError, lock};
use crate::telemetry::{DaemonCounters, InternalEvent, OutboxCompactionFailed, OutboxSyncFailed};

/// How long the thread sleeps without a wake-up under `Always` and
/// `Never`: only a backstop, commits wake it.
const IDLE_WAKE: Duration = Duration::from_secs(1);

/// Pause after a failed compaction before the next attempt: the old file
/// stays valid meanwhile, only larger.
pub const COMPACTION_RETRY: Duration = Duration::from_secs(10);

/// The engine's handle: wakes the sync thread after a commit.
#[derive(Debug)]
pub struct SyncWaker {
    wakes: SyncSender<()>,
    wake_on_commit: bool,
}

impl SyncWaker {
    /// Asks for a sync of what was just committed (under `Always`; group
    /// commit keeps to its timer), or for a compaction when `outbox` is
    /// due one. Never blocks: a full channel means a wake-up is already
    /// pending, and the sync it starts covers this commit too.
    pub fn committed(&self, outbox: &Outbox) {
        if self.wake_on_commit || outbox.compaction_due() {
            match self.wakes.try_send(()) {
                Ok(()) | Err(TrySendError::Full(())) => {}
                // The thread stopped after a failed fsync; that failure was
                // reported and the outbox refuses further outputs.
                Err(TrySendError::Disconnected(())) => {}
            }
        }
    }
}

/// Starts the sync thread for `outbox`, which hands it compaction.
/// Entries a sync makes visible are announced on `ready`.
pub fn start(
    outbox: Arc<Mutex<Outbox>>,
    policy: FsyncPolicy,
    ready: Arc<Notify>,
    counters: Arc<DaemonCounters>,
) -> std::io::Result<(SyncWaker, BackgroundThread)> {
    let (wake_on_commit, period) = match policy {
        FsyncPolicy::Always => (true, IDLE_WAKE),
        FsyncPolicy::GroupCommit { interval_ms } => {
            (false, Duration::from_millis(interval_ms.max(1)))
        }
        FsyncPolicy::Never => (false, IDLE_WAKE),
    };
    lock(&outbox).set_background_compaction(true);
    let final_sync = policy != FsyncPolicy::Never;
    // One slot: wake-ups coalesce while a sync runs.
    let (wakes, woken) = mpsc::sync_channel(1);
    let thread = BackgroundThread::spawn("picketd-outbox-sync", move || {
        let mut compaction_paused_until: Option<Instant> = None;
        loop {
            let last = match woken.recv_timeout(period) {
                Ok(()) | Err(RecvTimeoutError::Timeout) => false,
                Err(RecvTimeoutError::Disconnected) => true,
            };
            if !sync_once(&outbox, &ready, &counters, last && final_sync) || last {
                break;
            }
            if compaction_paused_until.is_some_and(|until| Instant::now() < until) {
                continue;
            }
            compaction_paused_until = None;
            match compact_if_due(&outbox) {
                Ok(false) => {}
                Ok(true) => {
                    if !sync_once(&outbox, &ready, &counters, false) {
                        break;
                    }
                }
                Err(error) => {
                    OutboxCompactionFailed {
                        error: &error,
                        retry_in: COMPACTION_RETRY,
                    }
                    .emit(&counters);
                    compaction_paused_until = Some(Instant::now() + COMPACTION_RETRY);
                }
            }
        }
    })?;
    Ok((
        SyncWaker {
            wakes,
            wake_on_commit,
        },
        thread,
    ))
}

/// Compacts the outbox if it is due one, writing the new file without the
/// lock; returns whether the file was replaced.
fn compact_if_due(outbox: &Mutex<Outbox>) -> Result<bool, OutboxError> {
    let Some(request) = lock(outbox).begin_compaction()? else {
        return Ok(false);
    };
    let written = request.run();
    lock(outbox).finish_compaction(&request, written)
}

/// Runs one sync if the policy wants one now (or unconditionally when
/// `last`); returns false once the outbox is unusable.
fn sync_once(
    outbox: &Mutex<Outbox>,
    ready: &Notify,
    counters: &DaemonCounters,
    last: bool,
) -> bool {
    match sync_if_due(outbox, ready, last) {
        Ok(()) => true,
        Err(error) => {
            OutboxSyncFailed {
                error: &error,
                unpublished: lock(outbox).awaiting_sync(),
            }
            .emit(counters);
            false
        }
    }
}

fn sync_if_due(outbox: &Mutex<Outbox>, ready: &Notify, last: bool) -> Result<(), OutboxError> {
    let request = {
        let mut outbox = lock(outbox);
        if !(last || outbox.sync_due()) {
            return Ok(());
        }
        match outbox.begin_sync()? {
            Some(request) => request,
            None => return Ok(()),
        }
    };
    // The fsync itself, without the lock.
    let result = request.run();
    if lock(outbox).finish_sync(&request, result)? > 0 {
        ready.notify_one();
    }
    Ok(())
}
