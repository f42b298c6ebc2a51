//! Requests and status classes per second (last 5 minutes) and per minute (last 24 hours), by
//! the log's own timestamps: what a viewer who connects mid-day needs to draw whole charts at
//! once (the `history` message), and the buckets each `stats` frame brings up to date. Bounded:
//! 300 + 1,440 buckets, whatever the log's size.

use std::collections::{BTreeSet, VecDeque};

use serde::Serialize;

/// Seconds kept per second.
pub const SECONDS: usize = 300;
/// Minutes kept per minute.
pub const MINUTES: usize = 1440;

/// `[UNIX_S, REQUESTS, S2XX, S3XX, S4XX, S5XX]`: one bucket, stamped with its first second.
pub type Bucket = [i64; 6];

/// Contiguous buckets of one width, oldest first, quiet ones included as zeros.
#[derive(Debug, Clone)]
struct Ring {
    width: i64,
    len: usize,
    buckets: VecDeque<Bucket>,
    /// Starts of the buckets counted in since [`Ring::changes`] last took them.
    changed: BTreeSet<i64>,
    /// The window started over (a jump, the clock set back): every bucket is news.
    restarted: bool,
    /// The bucket last put in `changed` (since it was last taken).
    last_marked: Option<i64>,
}

impl Ring {
    fn new(width: i64, len: usize) -> Ring {
        Ring {
            width,
            len,
            buckets: VecDeque::with_capacity(len),
            changed: BTreeSet::new(),
            restarted: false,
            last_marked: None,
        }
    }

    /// Starts the window over when its newest bucket is further ahead of the clock than any
    /// line may be (`ahead` seconds): the clock was set back, and the lines that follow, stamped
    /// by that clock, would all fall before the window.
    fn follow_clock(&mut self, now: i64, ahead: i64) {
        if self
            .buckets
            .back()
            .is_some_and(|last| last[0] > now + ahead)
        {
            self.buckets.clear();
            self.restarted = true;
        }
    }

    /// Moves the window so that it ends with the bucket holding `time` (never back).
    fn advance(&mut self, time: i64) {
        let start = time - time.rem_euclid(self.width);
        match self.buckets.back() {
            Some(last) if last[0] >= start => {}
            Some(last) if start - last[0] > self.width * self.len as i64 => {
                // A jump past the whole window: nothing of it stays.
                self.buckets.clear();
                self.restarted = true;
                self.advance(time);
            }
            Some(last) => {
                let mut next = last[0] + self.width;
                while next <= start {
                    self.buckets.push_back([next, 0, 0, 0, 0, 0]);
                    next += self.width;
                }
            }
            None => {
                // Start full of quiet buckets, so a chart spans the whole window from the first.
                for i in (0..self.len as i64).rev() {
                    self.buckets
                        .push_back([start - i * self.width, 0, 0, 0, 0, 0]);
                }
            }
        }
        while self.buckets.len() > self.len {
            self.buckets.pop_front();
        }
    }

    /// Adds whole counts `[requests, 2xx, 3xx, 4xx, 5xx]` to the bucket holding `time`.
    fn add(&mut self, time: i64, counts: [u64; 5]) {
        self.advance(time);
        let first = self.buckets.front().map_or(time, |b| b[0]);
        if time < first {
            return;
        }
        let at = ((time - first) / self.width) as usize;
        if let Some(bucket) = self.buckets.get_mut(at) {
            for (b, n) in bucket[1..].iter_mut().zip(counts) {
                *b += n as i64;
            }
            // Most requests land in the bucket the one before did: no set insert for them.
            if !self.restarted && self.last_marked != Some(bucket[0]) {
                self.changed.insert(bucket[0]);
                self.last_marked = Some(bucket[0]);
            }
        }
    }

    /// The buckets counted in since the last call, and always the newest (where the window
    /// ends), oldest first; all of them after a restart.
    fn changes(&mut self) -> Vec<Bucket> {
        let changed = std::mem::take(&mut self.changed);
        self.last_marked = None;
        if std::mem::take(&mut self.restarted) {
            return self.buckets.iter().copied().collect();
        }
        let Some(first) = self.buckets.front().map(|b| b[0]) else {
            return Vec::new();
        };
        let newest = self.buckets.len() - 1;
        let mut at: Vec<usize> = changed
            .range(first..)
            .map(|start| ((start - first) / self.width) as usize)
            .filter(|&i| i < newest)
            .collect();
        at.push(newest);
        at.into_iter().map(|i| self.buckets[i]).collect()
    }

    fn count(&mut self, time: i64, status: u16) {
        let mut counts = [1, 0, 0, 0, 0];
        if let Some(class) = (status / 100).checked_sub(2).filter(|c| *c < 4) {
            counts[1 + usize::from(class)] = 1;
        }
        self.add(time, counts);
    }
}

/// The two windows.
#[derive(Debug, Clone)]
pub struct History {
    seconds: Ring,
    minutes: Ring,
}

impl Default for History {
    fn default() -> Self {
        History {
            seconds: Ring::new(1, SECONDS),
            minutes: Ring::new(60, MINUTES),
        }
    }
}

/// The `history` message's content.
#[derive(Debug, Clone, Serialize)]
pub struct HistorySnapshot {
    /// The last 300 seconds, oldest first.
    pub per_second: Vec<Bucket>,
    /// The last 1,440 minutes, oldest first.
    pub per_minute: Vec<Bucket>,
}

/// How far ahead of the clock a line may be stamped and still count per second. The seconds'
/// window never moves back: a line a little ahead of the clock (another server's) must not push
/// it past the lines that follow.
const SECONDS_AHEAD: i64 = 5;
/// How far ahead of the clock a line may be stamped and still count at all: one further ahead
/// is a broken line, which would push every real line out of the windows.
const MINUTES_AHEAD: i64 = 3600;

/// The `history` member of a `stats` frame: the buckets counted in since the previous frame,
/// with their whole counts, and the newest of each window (where it ends now), oldest first.
pub type HistoryChanges = HistorySnapshot;

impl History {
    /// Counts one request at the log's `time` with its status, seen at wall-clock `now`.
    pub fn count(&mut self, time: i64, status: u16, now: i64) {
        self.follow_clock(now);
        if time > now + MINUTES_AHEAD {
            return;
        }
        if time <= now + SECONDS_AHEAD {
            self.seconds.count(time, status);
        }
        self.minutes.count(time, status);
    }

    /// Starts a window over when the clock was set back past it.
    fn follow_clock(&mut self, now: i64) {
        self.seconds.follow_clock(now, SECONDS_AHEAD + 1);
        self.minutes.follow_clock(now, MINUTES_AHEAD + 60);
    }

    /// What changed since the last call, for the next `stats` frame; both windows moved on to
    /// `now` first, so a quiet second still moves a viewer's chart.
    pub fn changes(&mut self, now: i64) -> HistoryChanges {
        self.follow_clock(now);
        self.seconds.advance(now);
        self.minutes.advance(now);
        HistoryChanges {
            per_second: self.seconds.changes(),
            per_minute: self.minutes.changes(),
        }
    }

    /// Adds a pass over existing content's counts per minute (`(unix minute, [requests,
    /// 2xx, 3xx, 4xx, 5xx])`, in any order) to the minutes' window.
    pub fn add_minutes(&mut self, mut minutes: Vec<(i64, [u64; 5])>, now: i64) {
        minutes.sort_unstable_by_key(|(m, _)| *m);
        for (minute, counts) in minutes {
            let time = minute * 60;
            // As for single lines: a minute far ahead of the clock is a broken line's.
            if time <= now + MINUTES_AHEAD {
                self.minutes.add(time, counts);
            }
        }
    }

    /// Both windows, ending now (or at the log's newest time, if its clock is ahead).
    pub fn snapshot(&mut self, now: i64) -> HistorySnapshot {
        self.follow_clock(now);
        self.seconds.advance(now);
        self.minutes.advance(now);
        HistorySnapshot {
            per_second: self.seconds.buckets.iter().copied().collect(),
            per_minute: self.minutes.buckets.iter().copied().collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_by_log_time_with_quiet_ones_as_zeros() {
        let mut h = History::default();
        let t0 = 1_795_525_681; // 2026-11-24T13:08:01Z
        h.count(t0, 200, t0);
        h.count(t0, 404, t0);
        h.count(t0 + 2, 503, t0);
        h.count(t0 - 30, 301, t0);
        h.count(t0 + 86_400, 200, t0); // a broken line from tomorrow // a little out of order
        let s = h.snapshot(t0 + 10);
        assert_eq!(s.per_second.len(), SECONDS);
        assert_eq!(s.per_second.last().unwrap()[0], t0 + 10);
        let at = |t: i64| s.per_second.iter().find(|b| b[0] == t).copied().unwrap();
        assert_eq!(at(t0), [t0, 2, 1, 0, 1, 0]);
        assert_eq!(at(t0 + 1), [t0 + 1, 0, 0, 0, 0, 0]);
        assert_eq!(at(t0 + 2), [t0 + 2, 1, 0, 0, 0, 1]);
        assert_eq!(at(t0 - 30), [t0 - 30, 1, 0, 1, 0, 0]);
        assert_eq!(s.per_minute.len(), MINUTES);
        let total: i64 = s.per_minute.iter().map(|b| b[1]).sum();
        assert_eq!(total, 4);
        let minute = s
            .per_minute
            .iter()
            .find(|b| b[0] <= t0 && t0 < b[0] + 60)
            .unwrap();
        assert_eq!(
            minute[1], 3,
            "t0 and t0+2 share a minute; t0-30 is in the one before"
        );
        // Every second is there, in order.
        assert!(s.per_second.windows(2).all(|w| w[1][0] == w[0][0] + 1));
        assert!(s.per_minute.windows(2).all(|w| w[1][0] == w[0][0] + 60));
    }

    #[test]
    fn changes_are_the_buckets_counted_in_and_the_newest() {
        let mut h = History::default();
        let t0 = 1_795_525_681;
        h.snapshot(t0);
        let _ = h.changes(t0);
        h.count(t0 - 3, 200, t0);
        h.count(t0 - 3, 500, t0);
        // An hour ago (a replay): its own minute, not the current one; too old per second.
        h.count(t0 - 3600, 200, t0);
        let c = h.changes(t0 + 1);
        assert_eq!(
            c.per_second,
            [[t0 - 3, 2, 1, 0, 0, 1], [t0 + 1, 0, 0, 0, 0, 0]]
        );
        let minute = |t: i64| t - t.rem_euclid(60);
        assert_eq!(c.per_minute.len(), 3, "{:?}", c.per_minute);
        assert_eq!(c.per_minute[0], [minute(t0 - 3600), 1, 1, 0, 0, 0]);
        assert_eq!(c.per_minute[1][1], 2);
        assert_eq!(c.per_minute[2][0], minute(t0 + 1));
        // Whole counts, not increments; nothing new: only the newest.
        h.count(t0 - 3, 200, t0 + 1);
        assert_eq!(h.changes(t0 + 1).per_second[0], [t0 - 3, 3, 2, 0, 0, 1]);
        assert_eq!(h.changes(t0 + 2).per_second, [[t0 + 2, 0, 0, 0, 0, 0]]);
    }

    #[test]
    fn a_clock_set_back_starts_the_windows_over() {
        let mut h = History::default();
        let t0 = 1_795_525_681;
        h.count(t0, 200, t0);
        let _ = h.changes(t0);
        // The clock goes back two hours; lines are stamped by it.
        let back = t0 - 7200;
        h.count(back, 404, back);
        let c = h.changes(back);
        assert_eq!(c.per_second.len(), SECONDS, "the whole window, new");
        assert_eq!(c.per_second.last().unwrap(), &[back, 1, 0, 0, 1, 0]);
        assert_eq!(c.per_minute.len(), MINUTES);
        assert_eq!(c.per_minute.last().unwrap()[0], back - back.rem_euclid(60));
        // A little ahead of the clock is another server's: kept.
        let mut h = History::default();
        h.count(t0 + 5, 200, t0);
        h.count(t0, 200, t0);
        assert_eq!(
            h.snapshot(t0).per_second.iter().map(|b| b[1]).sum::<i64>(),
            2
        );
    }

    #[test]
    fn old_lines_fall_out_and_a_jump_starts_over() {
        let mut h = History::default();
        let t0 = 1_795_525_681;
        h.count(t0, 200, t0);
        // Older than the window: not in the seconds, still in the minutes.
        h.count(t0 - 1000, 200, t0);
        let s = h.snapshot(t0);
        assert_eq!(s.per_second.iter().map(|b| b[1]).sum::<i64>(), 1);
        assert_eq!(s.per_minute.iter().map(|b| b[1]).sum::<i64>(), 2);
        // Two days later: both windows are quiet.
        let s = h.snapshot(t0 + 2 * 86_400);
        assert_eq!(s.per_minute.iter().map(|b| b[1]).sum::<i64>(), 0);
        assert_eq!(s.per_minute.len(), MINUTES);
        assert_eq!(s.per_second.len(), SECONDS);
    }
}
