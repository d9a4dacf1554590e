//! Queues bounded by bytes as well as by items.
//!
//! A queue bounded only by its item count is bounded in memory only as far
//! as its items are: the engine's input channel holds serial chunks of up
//! to 4 KiB next to MQTT payloads of up to `mqtt.max_incoming_packet_bytes`
//! (256 KiB by default), so 16,384 of them could be 4 GiB, enough to have
//! the kernel kill the daemon on a tower computer. A [`ByteBudget`] caps
//! the bytes a queue holds; the queue's own capacity still caps its items.
//!
//! * [`input_queue`]: the engine's input channel. Full (items or bytes):
//!   [`InputSender::try_send`] refuses at once (MQTT: the event loop must
//!   not stall), [`InputSender::send_within`] waits a bounded time, then
//!   refuses (serial: the tty buffers a little meanwhile). The caller
//!   counts every refusal.
//! * The recorder's queue (`recording.rs`) takes a [`ByteBudget`] of its
//!   own with the same rule: an item that does not fit is dropped and
//!   counted.

use std::sync::Arc;
use std::time::Duration;

use picket_engine::RawInput;
use tokio::sync::{Semaphore, mpsc};

/// A count of bytes held against a limit, shared by a queue's senders and
/// its receiver. Senders take an item's bytes before queueing it; the
/// receiver gives them back when it is done with the item.
///
/// Built on a semaphore with one permit per byte, so a sender can wait for
/// room without polling; taking never blocks the receiver's thread.
#[derive(Debug)]
pub struct ByteBudget {
    permits: Semaphore,
    limit: usize,
}

/// Why an item was refused by a bounded queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum QueueRefusal {
    /// The queue holds its capacity in items, or its byte budget has no
    /// room for this item; the item is dropped.
    #[error("queue full")]
    Full,
    /// The receiving end is gone (shutdown); the item is dropped.
    #[error("queue closed")]
    Closed,
}

impl ByteBudget {
    /// A budget of `limit` bytes. Limits beyond half of what a semaphore
    /// can count (`usize::MAX >> 4`, far beyond any memory) are clamped to
    /// it, so no giving back can overflow the semaphore.
    pub fn new(limit: usize) -> Self {
        let limit = limit.min(Semaphore::MAX_PERMITS / 2);
        Self {
            permits: Semaphore::new(limit),
            limit,
        }
    }

    /// Bytes taken and not yet given back.
    pub fn held(&self) -> usize {
        self.limit - self.permits.available_permits()
    }

    /// Takes `bytes` if they fit now; `false` takes nothing. An item larger
    /// than the whole limit never fits (configuration validation keeps the
    /// limits above the largest input).
    pub fn try_take(&self, bytes: usize) -> bool {
        let Some(count) = permit_count(bytes) else {
            return false;
        };
        match self.permits.try_acquire_many(count) {
            Ok(permit) => {
                permit.forget();
                true
            }
            Err(_) => false,
        }
    }

    /// Takes `bytes`, waiting up to `wait` for room; `false` takes nothing.
    pub async fn take_within(&self, bytes: usize, wait: Duration) -> bool {
        let Some(count) = permit_count(bytes) else {
            return false;
        };
        if count as usize > self.limit {
            return false;
        }
        match tokio::time::timeout(wait, self.permits.acquire_many(count)).await {
            Ok(Ok(permit)) => {
                permit.forget();
                true
            }
            // Timed out, or closed (never: nothing closes it).
            Ok(Err(_)) | Err(_) => false,
        }
    }

    /// Gives back `bytes` taken earlier.
    pub fn give_back(&self, bytes: usize) {
        // Never more than was taken, so never past the limit.
        let bytes = bytes.min(self.held());
        self.permits.add_permits(bytes);
    }
}

/// A semaphore acquires at most `u32::MAX` permits at once; no input comes
/// near (a serial read is 4 KiB, an MQTT packet is capped by config).
fn permit_count(bytes: usize) -> Option<u32> {
    u32::try_from(bytes).ok()
}

/// The engine's input channel: at most `capacity` inputs and `max_bytes` of
/// their payloads. Every source holds a clone of the sender; the engine
/// thread holds the receiver.
pub fn input_queue(capacity: usize, max_bytes: usize) -> (InputSender, InputReceiver) {
    let (items, queue) = mpsc::channel(capacity);
    let budget = Arc::new(ByteBudget::new(max_bytes));
    (
        InputSender {
            items,
            budget: Arc::clone(&budget),
        },
        InputReceiver { queue, budget },
    )
}

/// A source's end of the engine's input channel.
#[derive(Debug, Clone)]
pub struct InputSender {
    items: mpsc::Sender<RawInput>,
    budget: Arc<ByteBudget>,
}

impl InputSender {
    /// Queues `input` if there is room for it now, in items and bytes.
    pub fn try_send(&self, input: RawInput) -> Result<(), QueueRefusal> {
        if self.items.is_closed() {
            return Err(QueueRefusal::Closed);
        }
        let bytes = input.bytes.len();
        if !self.budget.try_take(bytes) {
            return Err(QueueRefusal::Full);
        }
        self.items.try_send(input).map_err(|error| {
            self.budget.give_back(bytes);
            match error {
                mpsc::error::TrySendError::Full(_) => QueueRefusal::Full,
                mpsc::error::TrySendError::Closed(_) => QueueRefusal::Closed,
            }
        })
    }

    /// Queues `input`, waiting up to `wait` in all for room in items and
    /// bytes.
    pub async fn send_within(&self, input: RawInput, wait: Duration) -> Result<(), QueueRefusal> {
        if self.items.is_closed() {
            return Err(QueueRefusal::Closed);
        }
        let deadline = tokio::time::Instant::now() + wait;
        let bytes = input.bytes.len();
        if !self.budget.take_within(bytes, wait).await {
            return Err(QueueRefusal::Full);
        }
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        self.items.send_timeout(input, left).await.map_err(|error| {
            self.budget.give_back(bytes);
            match error {
                mpsc::error::SendTimeoutError::Timeout(_) => QueueRefusal::Full,
                mpsc::error::SendTimeoutError::Closed(_) => QueueRefusal::Closed,
            }
        })
    }
}

/// The engine thread's end of the input channel. A received input's bytes
/// stay taken until [`InputReceiver::done`] gives them back, so the budget
/// covers the batch being handled as well as the queue; a receiver that
/// never calls it ends up refusing everything.
#[derive(Debug)]
pub struct InputReceiver {
    queue: mpsc::Receiver<RawInput>,
    budget: Arc<ByteBudget>,
}

impl InputReceiver {
    /// Waits for the next input; `None` once every sender is gone and the
    /// queue is empty.
    pub async fn recv(&mut self) -> Option<RawInput> {
        self.queue.recv().await
    }

    /// Waits for inputs and moves up to `limit` of them into `batch`;
    /// 0 once every sender is gone and the queue is empty.
    pub async fn recv_many(&mut self, batch: &mut Vec<RawInput>, limit: usize) -> usize {
        self.queue.recv_many(batch, limit).await
    }

    /// An input already queued, if any.
    pub fn try_recv(&mut self) -> Option<RawInput> {
        self.queue.try_recv().ok()
    }

    /// Refuses further inputs; those queued can still be received.
    pub fn close(&mut self) {
        self.queue.close();
    }

    /// Gives back the bytes of an input the engine is done with.
    pub fn done(&self, input: &RawInput) {
        self.budget.give_back(input.bytes.len());
    }

    /// The channel's byte budget.
    pub fn budget(&self) -> &ByteBudget {
        &self.budget
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use picket_engine::InputSource;

    fn input(bytes: usize) -> RawInput {
        RawInput {
            source: InputSource::Mqtt("picket/t/sensors/s/reports".to_owned()),
            received_at: picket_schema::Timestamp::UNIX_EPOCH,
            bytes: vec![b'x'; bytes],
        }
    }

    #[test]
    fn a_budget_takes_what_fits_and_gets_it_back() {
        let budget = ByteBudget::new(100);
        assert!(budget.try_take(60));
        assert!(!budget.try_take(41));
        assert!(budget.try_take(40));
        assert_eq!(budget.held(), 100);
        budget.give_back(60);
        assert_eq!(budget.held(), 40);
        assert!(!budget.try_take(101), "larger than the whole limit");
        budget.give_back(1_000);
        assert_eq!(budget.held(), 0, "giving back more than held is capped");
    }

    #[tokio::test]
    async fn inputs_are_refused_by_bytes_before_the_item_count_is_reached() {
        let (sender, mut receiver) = input_queue(1_000, 10_000);
        for _ in 0..4 {
            sender.try_send(input(2_500)).unwrap();
        }
        assert_eq!(sender.try_send(input(1)), Err(QueueRefusal::Full));
        let mut batch = Vec::new();
        assert_eq!(receiver.recv_many(&mut batch, 10).await, 4);
        // Received but not done: still held.
        assert_eq!(sender.try_send(input(1)), Err(QueueRefusal::Full));
        receiver.done(&batch[0]);
        sender.try_send(input(2_500)).unwrap();
        assert_eq!(receiver.budget().held(), 10_000);
    }

    #[tokio::test]
    async fn the_item_count_still_bounds_small_inputs_and_a_refusal_returns_its_bytes() {
        let (sender, receiver) = input_queue(2, 10_000);
        sender.try_send(input(10)).unwrap();
        sender.try_send(input(10)).unwrap();
        assert_eq!(sender.try_send(input(10)), Err(QueueRefusal::Full));
        assert_eq!(receiver.budget().held(), 20);
        drop(receiver);
        assert_eq!(sender.try_send(input(10)), Err(QueueRefusal::Closed));
    }

    /// Senders racing a slow receiver, with waits that often run out: every
    /// input is either received or refused, and every byte comes back.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn racing_senders_leave_no_bytes_behind() {
        let (sender, mut receiver) = input_queue(32, 64 * 1024);
        let senders: Vec<_> = (0..4)
            .map(|task| {
                let sender = sender.clone();
                tokio::spawn(async move {
                    let mut refused = 0u64;
                    for n in 0..2_000usize {
                        let size = 1 + (n * 7_919 + task * 104_729) % 8_192;
                        let sent = if n % 3 == 0 {
                            sender.try_send(input(size))
                        } else {
                            sender
                                .send_within(input(size), Duration::from_micros(200))
                                .await
                        };
                        refused += u64::from(sent.is_err());
                    }
                    refused
                })
            })
            .collect();
        drop(sender);
        let mut received = 0u64;
        let mut batch = Vec::new();
        while receiver.recv_many(&mut batch, 16).await > 0 {
            for input in batch.drain(..) {
                received += 1;
                receiver.done(&input);
            }
            tokio::time::sleep(Duration::from_micros(50)).await;
        }
        let mut refused = 0;
        for task in senders {
            refused += task.await.unwrap();
        }
        assert_eq!(received + refused, 8_000);
        assert!(
            refused > 0 && received > 0,
            "{received} received, {refused} refused"
        );
        assert_eq!(receiver.budget().held(), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn a_waiting_sender_gets_in_when_bytes_come_back_and_gives_up_after_its_wait() {
        let (sender, mut receiver) = input_queue(100, 1_000);
        sender.try_send(input(800)).unwrap();
        let waiting = {
            let sender = sender.clone();
            tokio::spawn(async move {
                sender
                    .send_within(input(500), Duration::from_millis(100))
                    .await
            })
        };
        tokio::time::sleep(Duration::from_millis(50)).await;
        let first = receiver.try_recv().unwrap();
        receiver.done(&first);
        assert_eq!(waiting.await.unwrap(), Ok(()));
        assert_eq!(
            sender
                .send_within(input(600), Duration::from_millis(100))
                .await,
            Err(QueueRefusal::Full),
            "500 held, 600 more do not fit within the wait"
        );
        assert_eq!(receiver.budget().held(), 500);
    }
}
