//! A named OS thread the daemon waits for at shutdown without blocking its
//! runtime (the recorder, the outbox's sync thread).

use std::thread::JoinHandle;

use tokio::sync::oneshot;

/// A running background thread: wait for it with [`finished`] (async) or
/// [`join`] (blocking, tests).
///
/// [`finished`]: BackgroundThread::finished
/// [`join`]: BackgroundThread::join
#[derive(Debug)]
pub struct BackgroundThread {
    name: &'static str,
    handle: JoinHandle<()>,
    done: oneshot::Receiver<()>,
}

impl BackgroundThread {
    /// Starts `work` on a thread called `name`.
    pub fn spawn(
        name: &'static str,
        work: impl FnOnce() + Send + 'static,
    ) -> std::io::Result<BackgroundThread> {
        let (done_tx, done) = oneshot::channel();
        let handle = std::thread::Builder::new()
            .name(name.into())
            .spawn(move || {
                work();
                let _ = done_tx.send(());
            })?;
        Ok(BackgroundThread { name, handle, done })
    }

    /// Waits (blocking) for the thread to end.
    pub fn join(self) {
        if self.handle.join().is_err() {
            tracing::error!(thread = self.name, "background thread panicked");
        }
    }

    /// [`join`](Self::join) for async callers. Dropping the future before
    /// it resolves (a shutdown deadline) leaves the thread detached rather
    /// than blocking a runtime thread: with the engine wedged, the channel
    /// that would end the thread is never closed and a blocking join would
    /// never return, and a runtime waits for its blocking tasks when it
    /// shuts down.
    pub async fn finished(self) {
        // Err: the thread ended without signalling (it panicked).
        if self.done.await.is_err() {
            tracing::error!(thread = self.name, "background thread panicked");
        }
    }
}
