//! The reorder buffer: holds reports until they are old enough that
//! nothing earlier can still arrive, then releases them in time order.
//!
//! Reports are keyed by (time, sensor, kind, sequence, arrival): all but
//! the last are properties of the report itself, so the release order does
//! not depend on how the network interleaved arrivals. That is what makes
//! input shuffled within the lag produce byte-identical output.
//!
//! Policy:
//! * the *horizon* is the latest of "latest receive time − lag" (or the
//!   tick time − lag) and the time of anything already released; reports at
//!   or before it are released;
//! * the *floor* is the time of the newest report released (or the time the
//!   engine has moved the tracker to): a report older than the floor is too
//!   late and dropped, since releasing it would break time order. Anything
//!   else is accepted, and released at once if it is already behind the
//!   horizon. Rejecting against the horizon instead (as this buffer first
//!   did) dropped reports that were merely read late — the second half of
//!   a scan split across two serial reads, a sensor's next scan read after
//!   a slow moment — though nothing newer had been released: with a small
//!   lag that lost a fifth of a single in-order sensor's detections;
//! * a report is inserted before the horizon moves, so one that arrives
//!   exactly as late as the lag still makes it;
//! * when the buffer is full, the oldest report is released early (and
//!   counted): under a flood, latency degrades before correctness does, and
//!   memory stays bounded.

use std::collections::BTreeMap;

/// Order of reports within one (time, sensor).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum ReportRank {
    Detection,
    Radiation,
    Heartbeat,
}

/// Where a report sorts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct ReorderKey {
    /// Engine time, µs.
    pub time_us: i64,
    /// Sensor index.
    pub sensor: u32,
    /// Kind of report.
    pub rank: ReportRank,
    /// The sensor's sequence number (0 for heartbeats).
    pub sequence: u32,
    /// Arrival counter: only breaks ties between reports that are otherwise
    /// identical (a heartbeat sent twice at one time).
    pub arrival: u64,
}

/// The buffer of not-yet-released reports.
#[derive(Debug, Clone)]
pub(crate) struct ReorderBuffer<T> {
    pending: BTreeMap<ReorderKey, T>,
    capacity: usize,
    horizon_us: Option<i64>,
    floor_us: Option<i64>,
    next_arrival: u64,
}

/// A report that could not be inserted because its time has passed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TooLate;

impl<T> ReorderBuffer<T> {
    /// An empty buffer holding at most `capacity` reports.
    pub fn new(capacity: usize) -> Self {
        Self {
            pending: BTreeMap::new(),
            capacity: capacity.max(1),
            horizon_us: None,
            floor_us: None,
            next_arrival: 0,
        }
    }

    /// Reports waiting.
    pub fn len(&self) -> usize {
        self.pending.len()
    }

    /// Inserts a report. If the buffer was full, the oldest report is
    /// returned for release now (the horizon moves up to it).
    pub fn insert(
        &mut self,
        time_us: i64,
        sensor: u32,
        rank: ReportRank,
        sequence: u32,
        report: T,
    ) -> Result<Option<(ReorderKey, T)>, TooLate> {
        if self.floor_us.is_some_and(|floor| time_us < floor) {
            return Err(TooLate);
        }
        let key = ReorderKey {
            time_us,
            sensor,
            rank,
            sequence,
            arrival: self.next_arrival,
        };
        self.next_arrival += 1;
        self.pending.insert(key, report);
        if self.pending.len() > self.capacity {
            let oldest = self.pending.pop_first();
            if let Some((key, _)) = &oldest {
                self.advance_horizon(key.time_us);
                self.raise_floor(key.time_us);
            }
            return Ok(oldest);
        }
        Ok(None)
    }

    /// Moves the horizon forward (never back).
    pub fn advance_horizon(&mut self, time_us: i64) {
        self.horizon_us = Some(
            self.horizon_us
                .map_or(time_us, |horizon| horizon.max(time_us)),
        );
    }

    /// Raises the floor (never lowers it): reports older than `time_us` are
    /// refused from now on. The engine calls it when it moves the tracker's
    /// clock without a report.
    pub fn raise_floor(&mut self, time_us: i64) {
        self.floor_us = Some(self.floor_us.map_or(time_us, |floor| floor.max(time_us)));
    }

    /// Moves the horizon to the newest pending report, so that everything
    /// becomes releasable (shutdown).
    pub fn open_all(&mut self) {
        if let Some((key, _)) = self.pending.last_key_value() {
            let newest = key.time_us;
            self.advance_horizon(newest);
        }
    }

    /// The next report at or before the horizon, if any.
    pub fn pop_ready(&mut self) -> Option<(ReorderKey, T)> {
        let horizon = self.horizon_us?;
        let entry = self.pending.first_entry()?;
        if entry.key().time_us <= horizon {
            let key = *entry.key();
            let report = entry.remove();
            self.raise_floor(key.time_us);
            Some((key, report))
        } else {
            None
        }
    }

    /// The key of the next report, released or not.
    pub fn peek_key(&self) -> Option<&ReorderKey> {
        self.pending.first_key_value().map(|(key, _)| key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn releases_in_time_order_and_rejects_the_late() {
        let mut buffer = ReorderBuffer::new(8);
        for (time, label) in [(30, 'c'), (10, 'a'), (20, 'b')] {
            assert_eq!(
                buffer.insert(time, 0, ReportRank::Detection, 0, label),
                Ok(None)
            );
        }
        buffer.advance_horizon(25);
        let released: Vec<char> = std::iter::from_fn(|| buffer.pop_ready())
            .map(|(_, label)| label)
            .collect();
        assert_eq!(released, ['a', 'b']);
        // Older than the newest released report: too late.
        assert_eq!(
            buffer.insert(15, 0, ReportRank::Detection, 0, 'x'),
            Err(TooLate)
        );
        // Behind the horizon but not older than anything released (read
        // late, not sent late): accepted and released at once.
        assert_eq!(
            buffer.insert(22, 0, ReportRank::Detection, 0, 'y'),
            Ok(None)
        );
        let released: Vec<char> = std::iter::from_fn(|| buffer.pop_ready())
            .map(|(_, label)| label)
            .collect();
        assert_eq!(released, ['y']);
        buffer.raise_floor(28);
        assert_eq!(
            buffer.insert(27, 0, ReportRank::Detection, 0, 'z'),
            Err(TooLate)
        );
        assert_eq!(buffer.len(), 1);
    }

    #[test]
    fn full_buffer_releases_the_oldest_early() {
        let mut buffer = ReorderBuffer::new(2);
        assert_eq!(
            buffer.insert(20, 0, ReportRank::Detection, 0, 'b'),
            Ok(None)
        );
        assert_eq!(
            buffer.insert(10, 0, ReportRank::Detection, 0, 'a'),
            Ok(None)
        );
        let early = buffer.insert(30, 0, ReportRank::Detection, 0, 'c').unwrap();
        assert_eq!(early.map(|(_, label)| label), Some('a'));
        assert_eq!(buffer.horizon_us, Some(10));
        assert_eq!(
            buffer.insert(9, 0, ReportRank::Detection, 0, 'z'),
            Err(TooLate)
        );
    }
}
