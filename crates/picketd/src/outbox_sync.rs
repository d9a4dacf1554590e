//! The outbox's sync thread: every `fsync` of the outbox runs here, outside
//! the outbox's lock, so the engine never waits on the disk and the MQTT
//! task never waits for the lock while a sync is in progress.
//!
//! Under [`FsyncPolicy::Always`] the engine wakes the thread after each
//! commit; the thread syncs and publishes (makes visible, then notifies the
//! MQTT task) every batch the sync covered. Batches committed while a sync
//! runs wait for the next one, which starts as soon as it ends: a group
//! commit whose group is whatever arrived during the last `fsync`. Under
//! [`FsyncPolicy::GroupCommit`] the thread syncs on its own timer. Under
//! [`FsyncPolicy::Never`] there is no thread.
//!
//! The thread ends once its [`SyncWaker`] is dropped (the engine thread
//! ends), after a last sync, so the final outputs are durable and visible
//! before the MQTT task's shutdown drain gives up on them.

use std::sync::mpsc::{self, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Notify;

use crate::background::BackgroundThread;
use crate::outbox::{FsyncPolicy, Outbox, OutboxError, lock};
use crate::telemetry::{DaemonCounters, InternalEvent, OutboxSyncFailed};

/// How long the thread sleeps without a wake-up under `Always`: only a
/// backstop, every commit wakes it.
const IDLE_WAKE: Duration = Duration::from_secs(1);

/// The engine's handle: wakes the sync thread after a commit.
#[derive(Debug)]
pub struct SyncWaker {
    wakes: SyncSender<()>,
    wake_on_commit: bool,
}

impl SyncWaker {
    /// Asks for a sync of what was just committed (under `Always`; group
    /// commit keeps to its timer). Never blocks: a full channel means a
    /// wake-up is already pending, and the sync it starts covers this
    /// commit too.
    pub fn committed(&self) {
        if self.wake_on_commit {
            match self.wakes.try_send(()) {
                Ok(()) | Err(TrySendError::Full(())) => {}
                // The thread stopped after a failed fsync; that failure was
                // reported and the outbox refuses further outputs.
                Err(TrySendError::Disconnected(())) => {}
            }
        }
    }
}

/// Starts the sync thread for `outbox` (none under [`FsyncPolicy::Never`]).
/// Entries a sync makes visible are announced on `ready`.
pub fn start(
    outbox: Arc<Mutex<Outbox>>,
    policy: FsyncPolicy,
    ready: Arc<Notify>,
    counters: Arc<DaemonCounters>,
) -> std::io::Result<Option<(SyncWaker, BackgroundThread)>> {
    let (wake_on_commit, period) = match policy {
        FsyncPolicy::Always => (true, IDLE_WAKE),
        FsyncPolicy::GroupCommit { interval_ms } => {
            (false, Duration::from_millis(interval_ms.max(1)))
        }
        FsyncPolicy::Never => return Ok(None),
    };
    // One slot: wake-ups coalesce while a sync runs.
    let (wakes, woken) = mpsc::sync_channel(1);
    let thread = BackgroundThread::spawn("picketd-outbox-sync", move || {
        loop {
            let last = match woken.recv_timeout(period) {
                Ok(()) | Err(RecvTimeoutError::Timeout) => false,
                Err(RecvTimeoutError::Disconnected) => true,
            };
            if !sync_once(&outbox, &ready, &counters, last) || last {
                break;
            }
        }
    })?;
    Ok(Some((
        SyncWaker {
            wakes,
            wake_on_commit,
        },
        thread,
    )))
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
