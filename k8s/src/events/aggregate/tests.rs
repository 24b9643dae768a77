//! Scripts of occurrences in, decisions out.

use super::*;
use proptest::prelude::*;

fn object(name: &str) -> ObjectKey {
    ObjectKey {
        kind: "Service".into(),
        namespace: "web".into(),
        name: name.into(),
        uid: format!("uid-{name}"),
    }
}

fn key(name: &str, reason: Reason, note: &str) -> EventKey {
    EventKey {
        object: object(name),
        reason,
        action: "Announce",
        shape: shape(note),
    }
}

fn conflict(mac: &str) -> EventKey {
    key(
        "front",
        Reason::L2Conflict,
        &format!("{mac} also claims 2001:db8::1 on eth0; node n1 announces it"),
    )
}

fn rate() -> Rate {
    Rate {
        burst: 3,
        refill: Duration::from_secs(30),
        update_interval: Duration::from_secs(10),
        series_idle: Duration::from_secs(360),
        per_minute: 20,
        capacity: 100,
    }
}

fn secs(t0: Instant, s: f64) -> Instant {
    t0 + Duration::from_secs_f64(s)
}

/// Short form of a decision, for tables.
fn short(d: &Decision) -> String {
    match d {
        Decision::Create { name } => format!("create {name}"),
        Decision::Update { name, count, .. } => format!("update {name} {count}"),
        Decision::Drop(why) => format!("drop {}", why.as_str()),
    }
}

#[test]
fn shape_blanks_macs_and_numbers_but_keeps_ips() {
    let table = [
        (
            "02:00:00:00:00:01 also claims 192.0.2.1 on eth0; node n1 announces it",
            "<mac> also claims 192.0.2.1 on eth0; node n1 announces it",
        ),
        (
            "02:aa:bb:cc:dd:ee also claims 2001:db8::1 on eth0; node n1 announces it",
            "<mac> also claims 2001:db8::1 on eth0; node n1 announces it",
        ),
        ("12000 more in the last 10 s", "# more in the last # s"),
        (
            "no free IPv4 address (3 pools)",
            "no free IPv4 address (# pools)",
        ),
        (
            "announcing 192.0.2.1 from node n1 on eth0",
            "announcing 192.0.2.1 from node n1 on eth0",
        ),
        ("", ""),
    ];
    for (note, want) in table {
        assert_eq!(shape(note), want, "{note}");
    }
    assert_ne!(
        shape("announcing 192.0.2.1 from node n1 on eth0"),
        shape("announcing 2001:db8::1 from node n1 on eth0"),
        "a dual-stack Service's two IPs are two series"
    );
}

#[test]
fn a_flood_of_similar_events_is_one_event_whose_count_grows() {
    let t0 = Instant::now();
    let mut a = Aggregator::new(rate(), Some("n1".into()), 0);
    // 1000 spoofed frames per second for 30 s, each from a new MAC.
    let mut script = Vec::new();
    for i in 0..30_000u32 {
        let at = secs(t0, f64::from(i) / 1000.0);
        let mac = format!(
            "02:00:00:{:02x}:{:02x}:{:02x}",
            i >> 16 & 0xff,
            i >> 8 & 0xff,
            i & 0xff
        );
        let d = a.decide(&conflict(&mac), at);
        if !matches!(d, Decision::Drop(Dropped::Aggregated)) {
            script.push((i, short(&d)));
        }
    }
    assert_eq!(
        script,
        vec![
            (0, "create front.n1.1".to_owned()),
            (10_000, "update front.n1.1 10001".to_owned()),
            (20_000, "update front.n1.1 20001".to_owned()),
        ]
    );
    // The last 9,999 are not written yet: the flush writes them 10 s after the last update.
    assert!(a.flush(secs(t0, 29.9995)).is_empty());
    let flushed = a.flush(secs(t0, 30.0));
    assert_eq!(flushed.len(), 1);
    assert_eq!(short(&flushed[0].update), "update front.n1.1 30000");
    assert_eq!(flushed[0].namespace, "web");
    if let Decision::Update { last_seen, .. } = flushed[0].update {
        assert_eq!(last_seen, secs(t0, 29.999));
    }
    assert!(a.flush(secs(t0, 60.0)).is_empty(), "nothing owed");
}

#[test]
fn different_shapes_are_rate_limited_per_object_and_reason() {
    let t0 = Instant::now();
    let mut a = Aggregator::new(rate(), None, 0);
    let script: Vec<(f64, &str, Reason, &str, &str)> = vec![
        (
            0.0,
            "a",
            Reason::AllocationFailed,
            "pool p1 exhausted",
            "create a.1",
        ),
        (
            0.1,
            "a",
            Reason::AllocationFailed,
            "pool p2 exhausted",
            "create a.2",
        ),
        (
            0.2,
            "a",
            Reason::AllocationFailed,
            "pool p3 exhausted",
            "create a.3",
        ),
        // Burst of 3 spent: a fourth message shape is dropped...
        (
            0.3,
            "a",
            Reason::AllocationFailed,
            "pool p4 exhausted",
            "drop rate_limited",
        ),
        // ...but another reason or another object has its own bucket.
        (
            0.4,
            "a",
            Reason::IpConflict,
            "pool p4 exhausted",
            "create a.4",
        ),
        (
            0.5,
            "b",
            Reason::AllocationFailed,
            "pool p4 exhausted",
            "create b.5",
        ),
        // A repeat of a known series is aggregated, not rate limited.
        (
            0.6,
            "a",
            Reason::AllocationFailed,
            "pool p1 exhausted",
            "drop aggregated",
        ),
        // One token back after 30 s.
        (
            30.0,
            "a",
            Reason::AllocationFailed,
            "pool p4 exhausted",
            "create a.6",
        ),
        (
            30.1,
            "a",
            Reason::AllocationFailed,
            "pool p5 exhausted",
            "drop rate_limited",
        ),
        (
            30.2,
            "a",
            Reason::AllocationFailed,
            "pool p1 exhausted",
            "update a.1 3",
        ),
    ];
    for (at, obj, reason, note, want) in script {
        let d = a.decide(&key(obj, reason, note), secs(t0, at));
        assert_eq!(short(&d), want, "at {at} {obj} {note}");
    }
}

#[test]
fn the_ceiling_holds_whatever_the_objects() {
    let t0 = Instant::now();
    let mut a = Aggregator::new(rate(), None, 0);
    let mut written = 0;
    for i in 0..100 {
        let d = a.decide(
            &key(&format!("s{i}"), Reason::IpAllocated, "x"),
            secs(t0, 1.0),
        );
        match d {
            Decision::Drop(Dropped::Ceiling) => {}
            Decision::Create { .. } => written += 1,
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(written, 20);
    // Still closed 59 s after the writes, open again at 60 s.
    let late = key("late", Reason::IpAllocated, "x");
    assert_eq!(
        a.decide(&late, secs(t0, 60.9)),
        Decision::Drop(Dropped::Ceiling)
    );
    assert!(matches!(
        a.decide(&late, secs(t0, 61.0)),
        Decision::Create { .. }
    ));
}

#[test]
fn an_idle_series_is_closed_and_a_new_event_follows() {
    let t0 = Instant::now();
    let mut a = Aggregator::new(rate(), None, 0);
    let k = key(
        "a",
        Reason::L2Conflict,
        "02:00:00:00:00:01 also claims 192.0.2.1",
    );
    assert_eq!(short(&a.decide(&k, t0)), "create a.1");
    assert!(a.flush(secs(t0, 359.0)).is_empty());
    assert_eq!(a.len(), 1);
    assert!(a.flush(secs(t0, 360.0)).is_empty());
    assert_eq!(a.len(), 0, "closed");
    assert_eq!(short(&a.decide(&k, secs(t0, 400.0))), "create a.2");
    // Forgotten (the Event expired in the API): the next one is created again.
    a.forget(a.id(&k));
    assert_eq!(short(&a.decide(&k, secs(t0, 401.0))), "create a.3");
}

#[test]
fn memory_is_bounded_by_capacity() {
    let t0 = Instant::now();
    let mut a = Aggregator::new(
        Rate {
            per_minute: u32::MAX,
            capacity: 50,
            ..rate()
        },
        None,
        0,
    );
    for i in 0..10_000 {
        a.decide(&key(&format!("s{i}"), Reason::IpAllocated, "x"), t0);
    }
    assert_eq!(a.len(), 50);
    assert!(a.buckets.len() <= 50);
    // The most recent are the ones kept.
    assert_eq!(
        a.decide(&key("s9999", Reason::IpAllocated, "x"), t0),
        Decision::Drop(Dropped::Aggregated)
    );
}

#[derive(Debug, Clone)]
struct Occurrence {
    after_ms: u64,
    object: u8,
    reason: bool,
    shape: u8,
}

fn occurrence() -> impl Strategy<Value = Occurrence> {
    (0u64..2_000, 0u8..20, any::<bool>(), 0u8..5).prop_map(|(after_ms, object, reason, shape)| {
        Occurrence {
            after_ms,
            object,
            reason,
            shape,
        }
    })
}

proptest! {
    /// Whatever the input: writes in any 60 s window never exceed the ceiling, updates
    /// carry growing counts, and once the ceiling opens again every series has written the
    /// number of occurrences it aggregated.
    #[test]
    fn ceiling_and_counts_hold(script in proptest::collection::vec(occurrence(), 1..400)) {
        let t0 = Instant::now();
        let r = Rate { per_minute: 15, capacity: 1000, ..rate() };
        let mut a = Aggregator::new(r, None, 0);
        let mut at = t0;
        let mut writes: Vec<Instant> = Vec::new();
        let mut written: HashMap<String, u32> = HashMap::new();
        let mut occurred: HashMap<String, u32> = HashMap::new();
        let mut live: HashMap<EventKey, String> = HashMap::new();
        fn record(d: &Decision, written: &mut HashMap<String, u32>) -> Result<(), TestCaseError> {
            if let Decision::Update { name, count, .. } = d {
                let before = written.insert(name.clone(), *count).unwrap_or(0);
                prop_assert!(*count > before && *count >= 2, "{name}: {before} then {count}");
            }
            Ok(())
        }
        for o in &script {
            at += Duration::from_millis(o.after_ms);
            let reason = if o.reason { Reason::L2Conflict } else { Reason::IpConflict };
            let k = key(&format!("s{}", o.object), reason, &format!("p{} x", o.shape));
            let d = a.decide(&k, at);
            match &d {
                Decision::Create { name } => {
                    writes.push(at);
                    written.insert(name.clone(), 1);
                    occurred.insert(name.clone(), 1);
                    live.insert(k.clone(), name.clone());
                }
                Decision::Update { .. } | Decision::Drop(Dropped::Aggregated) => {
                    if matches!(d, Decision::Update { .. }) {
                        writes.push(at);
                    }
                    let name = live.get(&k).cloned().unwrap_or_default();
                    *occurred.entry(name).or_default() += 1;
                    record(&d, &mut written)?;
                }
                Decision::Drop(_) => {}
            }
            for o in a.flush(at) {
                writes.push(at);
                record(&o.update, &mut written)?;
            }
        }
        for (i, w) in writes.iter().enumerate() {
            let n = writes[i..].iter().take_while(|t| t.duration_since(*w) < CEILING_WINDOW).count();
            prop_assert!(n <= 15, "{} writes within 60 s", n);
        }
        for step in 1..=100u64 {
            for o in a.flush(at + Duration::from_secs(60 * step)) {
                record(&o.update, &mut written)?;
            }
        }
        prop_assert_eq!(written, occurred);
    }
}
