//! Which Events to write: the pure decision behind [`super::EventPublisher`], with no
//! clock and no API (the caller passes `now`).
//!
//! * **Aggregation.** Similar Events — same object, reason, action, and message *shape*
//!   ([`shape`]: MAC addresses and plain numbers blanked, IP addresses kept) — form one
//!   series: the first is created, later ones patch that Event's `series.count` and
//!   `series.lastObservedTime` (events.k8s.io/v1, as client-go's `tools/events` does), at
//!   most once per [`Rate::update_interval`]; occurrences in between are counted and
//!   written by the next update or by [`Aggregator::flush`]. A series idle for
//!   [`Rate::series_idle`] is closed; the next occurrence creates a new Event.
//! * **Per object and reason**, a token bucket limits how many new Events (series) may be
//!   created: [`Rate::burst`] at once, one more per [`Rate::refill`].
//! * **Per component**, a hard ceiling: at most [`Rate::per_minute`] writes (creates and
//!   updates) in any 60 s window, whatever the input.
//!
//! Invariants: memory is bounded by [`Rate::capacity`] series and as many buckets
//! (least recently used forgotten first) plus `per_minute` write times; every decision
//! that writes respects the ceiling; an update always carries the whole count so far.
//!
//! Series and buckets are remembered by a 64-bit keyed hash of their key (random keys per
//! aggregator, so no peer can aim for a collision), not by the key itself: a full cache
//! of 1,024 series then takes about 0.5 MiB instead of 2 MiB (measured by RSS, 50 full
//! caches of Service keys and `L2Conflict` notes). Two keys colliding
//! (odds about 10^-13 for a full cache) would count in one series; nothing else.

use super::Reason;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::hash::{BuildHasher, Hash, RandomState};
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// The window of the per-component ceiling.
pub const CEILING_WINDOW: Duration = Duration::from_secs(60);

/// The limits of an [`Aggregator`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    /// New Events per object and reason at once.
    pub burst: u32,
    /// One more new Event per object and reason after this long.
    pub refill: Duration,
    /// A series is patched at most once per this long.
    pub update_interval: Duration,
    /// A series without occurrences for this long is closed.
    pub series_idle: Duration,
    /// Event writes (creates and patches) per component in any 60 s.
    pub per_minute: u32,
    /// Series (and buckets) remembered; the least recently used are forgotten.
    pub capacity: usize,
}

impl Default for Rate {
    /// client-go's spam filter allows a burst of 25 per object then one per 5 minutes,
    /// and closes series after 6 minutes; IronLB is stricter on the burst.
    fn default() -> Self {
        Rate {
            burst: 10,
            refill: Duration::from_secs(30),
            update_interval: Duration::from_secs(10),
            series_idle: Duration::from_secs(6 * 60),
            per_minute: 120,
            capacity: 1024,
        }
    }
}

/// The object an Event is about, as far as aggregation is concerned.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ObjectKey {
    /// Kind, e.g. `Service`.
    pub kind: String,
    /// Namespace (empty when cluster-scoped).
    pub namespace: String,
    /// Name.
    pub name: String,
    /// Uid, if known.
    pub uid: String,
}

/// What makes two Events similar.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct EventKey {
    /// The object.
    pub object: ObjectKey,
    /// Reason (and so type).
    pub reason: Reason,
    /// Action.
    pub action: &'static str,
    /// The message's [`shape`].
    pub shape: String,
}

/// What to do with one occurrence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Create a new Event of this name.
    Create {
        /// `metadata.name`.
        name: String,
    },
    /// Patch the Event `name`: `series.count = count`, last observed at `last_seen`.
    Update {
        /// `metadata.name` of the series' Event.
        name: String,
        /// Occurrences so far, at least 2.
        count: u32,
        /// The latest occurrence.
        last_seen: Instant,
    },
    /// Write nothing now.
    Drop(Dropped),
}

/// A series, as the aggregator knows it (see [`Aggregator::id`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SeriesId(u64);

/// An update [`Aggregator::flush`] owes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owed {
    /// The series.
    pub series: SeriesId,
    /// The namespace of its Event.
    pub namespace: String,
    /// A [`Decision::Update`].
    pub update: Decision,
}

/// Why nothing is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Dropped {
    /// Counted in its series; a later update writes it.
    Aggregated,
    /// The object's and reason's bucket is empty.
    RateLimited,
    /// The component's ceiling is reached.
    Ceiling,
}

impl Dropped {
    /// The metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            Dropped::Aggregated => "aggregated",
            Dropped::RateLimited => "rate_limited",
            Dropped::Ceiling => "ceiling",
        }
    }
}

/// The shape of an Event message: MAC addresses become `<mac>` and words made only of
/// digits become `#`; IP addresses and everything else stay. So "02:..:01 also claims
/// 192.0.2.1" and "02:..:02 also claims 192.0.2.1" are one series, while the Events of a
/// dual-stack Service's two IPs stay two.
pub fn shape(note: &str) -> String {
    let mut out = String::with_capacity(note.len());
    for (i, word) in note.split(' ').enumerate() {
        if i > 0 {
            out.push(' ');
        }
        let core = word.trim_end_matches([',', ';', '.', ':', ')']);
        let core = core.trim_start_matches('(');
        let blank = if is_mac(core) {
            Some("<mac>")
        } else if !core.is_empty()
            && core.bytes().all(|b| b.is_ascii_digit() || b == b',')
            && core.parse::<IpAddr>().is_err()
        {
            Some("#")
        } else {
            None
        };
        match blank {
            Some(b) => out.push_str(&word.replacen(core, b, 1)),
            None => out.push_str(word),
        }
    }
    out
}

fn is_mac(s: &str) -> bool {
    let parts: Vec<&str> = s.split([':', '-']).collect();
    parts.len() == 6
        && parts
            .iter()
            .all(|p| p.len() == 2 && p.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// A map that forgets its least recently used entry beyond a capacity.
#[derive(Debug)]
struct Lru<K, V> {
    map: HashMap<K, (V, u64)>,
    order: BTreeMap<u64, K>,
    clock: u64,
    capacity: usize,
}

impl<K: Clone + Eq + Hash, V> Lru<K, V> {
    fn new(capacity: usize) -> Self {
        Lru {
            map: HashMap::new(),
            order: BTreeMap::new(),
            clock: 0,
            capacity: capacity.max(1),
        }
    }

    fn len(&self) -> usize {
        self.map.len()
    }

    fn get_mut(&mut self, k: &K) -> Option<&mut V> {
        let (v, used) = self.map.get_mut(k)?;
        self.order.remove(used);
        self.clock += 1;
        *used = self.clock;
        self.order.insert(self.clock, k.clone());
        Some(v)
    }

    fn insert(&mut self, k: K, v: V) {
        self.remove(&k);
        while self.map.len() >= self.capacity {
            let Some((_, oldest)) = self.order.pop_first() else {
                break;
            };
            self.map.remove(&oldest);
        }
        self.clock += 1;
        self.order.insert(self.clock, k.clone());
        self.map.insert(k, (v, self.clock));
    }

    fn remove(&mut self, k: &K) -> Option<V> {
        let (v, used) = self.map.remove(k)?;
        self.order.remove(&used);
        Some(v)
    }
}

#[derive(Debug)]
struct Series {
    name: String,
    namespace: String,
    count: u32,
    written: u32,
    last_seen: Instant,
    last_write: Instant,
}

#[derive(Debug)]
struct Bucket {
    tokens: u32,
    refilled_at: Instant,
}

impl Bucket {
    fn refill(&mut self, rate: &Rate, now: Instant) {
        if self.tokens >= rate.burst || rate.refill.is_zero() {
            self.tokens = rate.burst;
            self.refilled_at = now;
            return;
        }
        let elapsed = now.saturating_duration_since(self.refilled_at);
        let n = elapsed.as_nanos() / rate.refill.as_nanos();
        let n = u32::try_from(n).unwrap_or(u32::MAX);
        if n > 0 {
            self.tokens = self.tokens.saturating_add(n).min(rate.burst);
            self.refilled_at = if self.tokens >= rate.burst {
                now
            } else {
                self.refilled_at + rate.refill * n
            };
        }
    }
}

/// The aggregation and rate decision, one per component.
#[derive(Debug)]
pub struct Aggregator {
    rate: Rate,
    hasher: RandomState,
    series: Lru<u64, Series>,
    buckets: Lru<u64, Bucket>,
    /// Times of the writes in the last [`CEILING_WINDOW`], oldest first.
    writes: VecDeque<Instant>,
    /// Names are `object[.instance].<stamp>`, the stamp growing by one per Event.
    instance: Option<String>,
    stamp: u64,
}

impl Aggregator {
    /// An aggregator with `rate`. Event names carry `instance` when several instances may
    /// report on one object; `first_stamp` (e.g. the start time in nanoseconds) makes them
    /// unique across restarts.
    pub fn new(rate: Rate, instance: Option<String>, first_stamp: u64) -> Self {
        Aggregator {
            rate,
            hasher: RandomState::new(),
            series: Lru::new(rate.capacity),
            buckets: Lru::new(rate.capacity),
            writes: VecDeque::new(),
            instance,
            stamp: first_stamp,
        }
    }

    /// Series remembered now (at most [`Rate::capacity`]).
    pub fn len(&self) -> usize {
        self.series.len()
    }

    /// Whether no series is remembered.
    pub fn is_empty(&self) -> bool {
        self.series.len() == 0
    }

    fn ceiling_allows(&mut self, now: Instant) -> bool {
        while self
            .writes
            .front()
            .is_some_and(|t| now.saturating_duration_since(*t) >= CEILING_WINDOW)
        {
            self.writes.pop_front();
        }
        self.writes.len() < self.rate.per_minute as usize
    }

    /// The series `key` belongs to.
    pub fn id(&self, key: &EventKey) -> SeriesId {
        SeriesId(self.hasher.hash_one(key))
    }

    /// Decides about one occurrence of `key` at `now`.
    pub fn decide(&mut self, key: &EventKey, now: Instant) -> Decision {
        let idle = self.rate.series_idle;
        let interval = self.rate.update_interval;
        let ceiling = self.ceiling_allows(now);
        let SeriesId(id) = self.id(key);
        if let Some(s) = self.series.get_mut(&id) {
            // A series that still owes a write stays open until it is written.
            if s.written < s.count || now.saturating_duration_since(s.last_seen) < idle {
                s.count = s.count.saturating_add(1);
                s.last_seen = now;
                if ceiling && now.saturating_duration_since(s.last_write) >= interval {
                    s.written = s.count;
                    s.last_write = now;
                    let d = Decision::Update {
                        name: s.name.clone(),
                        count: s.count,
                        last_seen: now,
                    };
                    self.writes.push_back(now);
                    return d;
                }
                return Decision::Drop(Dropped::Aggregated);
            }
            // Closed (idle, and all written).
            self.series.remove(&id);
        }
        let rate = self.rate;
        let bucket_key = self.hasher.hash_one((&key.object, key.reason));
        let has_token = match self.buckets.get_mut(&bucket_key) {
            Some(b) => {
                b.refill(&rate, now);
                b.tokens > 0
            }
            None => rate.burst > 0,
        };
        if !has_token {
            return Decision::Drop(Dropped::RateLimited);
        }
        if !ceiling {
            return Decision::Drop(Dropped::Ceiling);
        }
        match self.buckets.get_mut(&bucket_key) {
            Some(b) => b.tokens -= 1,
            None => self.buckets.insert(
                bucket_key,
                Bucket {
                    tokens: rate.burst - 1,
                    refilled_at: now,
                },
            ),
        }
        self.writes.push_back(now);
        let name = self.next_name(&key.object.name);
        self.series.insert(
            id,
            Series {
                name: name.clone(),
                namespace: key.object.namespace.clone(),
                count: 1,
                written: 1,
                last_seen: now,
                last_write: now,
            },
        );
        Decision::Create { name }
    }

    /// The updates owed at `now`: series with occurrences not yet written whose last write
    /// is at least [`Rate::update_interval`] old, as far as the ceiling allows. Closes idle
    /// series that owe nothing.
    pub fn flush(&mut self, now: Instant) -> Vec<Owed> {
        let mut owed: Vec<(u64, u64)> = self
            .series
            .map
            .iter()
            .filter(|(_, (s, _))| {
                s.written < s.count
                    && now.saturating_duration_since(s.last_write) >= self.rate.update_interval
            })
            .map(|(k, (_, used))| (*used, *k))
            .collect();
        // Oldest use first, so that no series waits forever behind busier ones.
        owed.sort_by_key(|(used, _)| *used);
        let mut out = Vec::new();
        for (_, key) in owed {
            if !self.ceiling_allows(now) {
                break;
            }
            if let Some((s, _)) = self.series.map.get_mut(&key) {
                s.written = s.count;
                s.last_write = now;
                self.writes.push_back(now);
                out.push(Owed {
                    series: SeriesId(key),
                    namespace: s.namespace.clone(),
                    update: Decision::Update {
                        name: s.name.clone(),
                        count: s.count,
                        last_seen: s.last_seen,
                    },
                });
            }
        }
        let idle = self.rate.series_idle;
        let closed: Vec<u64> = self
            .series
            .map
            .iter()
            .filter(|(_, (s, _))| {
                s.written == s.count && now.saturating_duration_since(s.last_seen) >= idle
            })
            .map(|(k, _)| *k)
            .collect();
        for k in closed {
            self.series.remove(&k);
        }
        out
    }

    /// Forgets `series` (its Event is gone, e.g. expired in the API): the next occurrence
    /// creates a new one.
    pub fn forget(&mut self, series: SeriesId) {
        self.series.remove(&series.0);
    }

    fn next_name(&mut self, object: &str) -> String {
        let object = if object.is_empty() { "ironlb" } else { object };
        self.stamp = self.stamp.wrapping_add(1);
        match &self.instance {
            Some(i) => format!("{object}.{i}.{:x}", self.stamp),
            None => format!("{object}.{:x}", self.stamp),
        }
    }
}

#[cfg(test)]
mod tests;
