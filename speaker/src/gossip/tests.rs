//! The gossip task on loopback: joins, deaths, leaves, floods and wrong keys.
use super::*;

fn metrics() -> GossipMetrics {
    GossipMetrics {
        refused: IntCounterVec::new(prometheus::Opts::new("refused", "test"), &["reason"]).unwrap(),
        verdicts: IntCounterVec::new(prometheus::Opts::new("verdicts", "test"), &["state"])
            .unwrap(),
    }
}

#[test]
fn dissemination_grows_with_the_cluster_and_can_change_at_run_time() {
    let tx = |n| lan_config(n).max_transmissions.get();
    assert_eq!(tx(1), tx(8));
    assert!(tx(8) < tx(100) && tx(100) < tx(1000) && tx(1000) < tx(5000));
    let mut foca = Foca::new(
        NodeId {
            name: "a".into(),
            addr: "127.0.0.1:7946".parse().unwrap(),
            bump: 0,
        },
        lan_config(1),
        <XorShiftRng as rand_core::SeedableRng>::from_seed([1; 16]),
        WireCodec,
    );
    foca.set_config(lan_config(5000)).unwrap();
}

#[test]
fn refusals_have_bounded_reasons() {
    let table = [
        (SealError::Short, "short"),
        (SealError::Version(9), "version"),
        (SealError::Auth, "auth"),
    ];
    for (e, label) in table {
        assert_eq!(Refused::from_seal(&e).as_str(), label);
    }
    let sealer = Sealer::new(b"key").unwrap();
    let other = Sealer::new(b"other").unwrap();
    let sealed = other.seal(b"hello").unwrap();
    for (bytes, want) in [
        (vec![1u8, 2], Refused::Short),
        (sealed.clone(), Refused::Auth),
    ] {
        let e = sealer.open(&bytes).unwrap_err();
        assert_eq!(Refused::from_seal(&e), want);
    }
    let mut v = sealed;
    v[0] = 0xee;
    assert_eq!(
        Refused::from_seal(&sealer.open(&v).unwrap_err()),
        Refused::Version
    );
}

async fn node(
    name: &str,
    secret: &[u8],
) -> (GossipHandle, tokio::task::JoinHandle<()>, SocketAddr) {
    // Port 0: the OS picks one whose next port (heartbeats) is free too.
    let addr = loop {
        let probe = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let addr = probe.local_addr().unwrap();
        if heartbeat::beat_addr(addr).is_some_and(|b| std::net::UdpSocket::bind(b).is_ok()) {
            break addr;
        }
    };
    let (h, t) = spawn(
        GossipOptions {
            name: name.into(),
            bind: addr,
            advertise: addr,
            timing: Timing::default(),
        },
        secret,
        metrics(),
    )
    .await
    .unwrap();
    (h, t, addr)
}

async fn wait_for(
    rx: &mut watch::Receiver<BTreeSet<String>>,
    want: &[&str],
    within: Duration,
) -> Result<Duration, BTreeSet<String>> {
    let want: BTreeSet<String> = want.iter().map(|s| s.to_string()).collect();
    let start = Instant::now();
    let ok = matches!(
        tokio::time::timeout(within, rx.wait_for(|m| *m == want)).await,
        Ok(Ok(_))
    );
    if ok {
        Ok(start.elapsed())
    } else {
        Err(rx.borrow().clone())
    }
}

#[tokio::test]
async fn speakers_join_and_a_dead_one_is_noticed() {
    let (a, ta, aa) = node("a", b"key").await;
    let (b, tb, ab) = node("b", b"key").await;
    let (c, tc, ac) = node("c", b"key").await;
    let peers = BTreeMap::from([("a".into(), aa), ("b".into(), ab), ("c".into(), ac)]);
    a.set_peers(peers.clone());
    b.set_peers(peers.clone());
    c.set_peers(peers);
    let mut am = a.members.clone();
    wait_for(&mut am, &["a", "b", "c"], Duration::from_secs(5))
        .await
        .expect("all three joined");
    // Members are watched from their first heartbeat on.
    tokio::time::sleep(Duration::from_millis(300)).await;
    // Kill c without a goodbye.
    tc.abort();
    let _ = tc.await;
    drop(c);
    let took = wait_for(&mut am, &["a", "b"], Duration::from_secs(3))
        .await
        .expect("c declared down");
    // Detection speed is a benchmark (docs/PERFORMANCE.md); here, only that it happens
    // within the wait above, so a loaded CI machine does not make the test flaky.
    eprintln!("dead speaker noticed after {took:?}");
    ta.abort();
    tb.abort();
    drop(b);
}

#[tokio::test]
async fn a_restarted_speaker_is_back_quickly() {
    let (a, ta, aa) = node("a", b"key").await;
    let (b, tb, ab) = node("b", b"key").await;
    let (c, tc, ac) = node("c", b"key").await;
    let peers = BTreeMap::from([("a".into(), aa), ("b".into(), ab), ("c".into(), ac)]);
    for h in [&a, &b, &c] {
        h.set_peers(peers.clone());
    }
    let (mut am, mut bm) = (a.members.clone(), b.members.clone());
    wait_for(&mut am, &["a", "b", "c"], Duration::from_secs(5))
        .await
        .expect("joined");
    tokio::time::sleep(Duration::from_millis(300)).await;
    tc.abort();
    let _ = tc.await;
    drop(c);
    wait_for(&mut am, &["a", "b"], Duration::from_secs(3))
        .await
        .expect("c down");
    wait_for(&mut bm, &["a", "b"], Duration::from_secs(3))
        .await
        .expect("c down at b");
    // Same name and address, as after a restart (seconds later: a newer bump).
    tokio::time::sleep(Duration::from_millis(2000)).await;
    let (c2, tc2) = spawn(
        GossipOptions {
            name: "c".into(),
            bind: ac,
            advertise: ac,
            timing: Timing::default(),
        },
        b"key",
        metrics(),
    )
    .await
    .unwrap();
    c2.set_peers(peers);
    let back_a = wait_for(&mut am, &["a", "b", "c"], Duration::from_secs(30)).await;
    let back_b = wait_for(&mut bm, &["a", "b", "c"], Duration::from_secs(5)).await;
    eprintln!("restarted speaker back after {back_a:?} at a, {back_b:?} at b");
    assert!(back_a.is_ok() && back_b.is_ok());
    for t in [ta, tb, tc2] {
        t.abort();
    }
}

type Node = (GossipHandle, tokio::task::JoinHandle<()>, SocketAddr);

/// Speakers a and b, members of each other.
async fn joined_pair() -> (Node, Node) {
    let (a, ta, aa) = node("a", b"key").await;
    let (b, tb, ab) = node("b", b"key").await;
    let peers = BTreeMap::from([("a".into(), aa), ("b".into(), ab)]);
    a.set_peers(peers.clone());
    b.set_peers(peers);
    let mut am = a.members.clone();
    wait_for(&mut am, &["a", "b"], Duration::from_secs(5))
        .await
        .expect("joined");
    ((a, ta, aa), (b, tb, ab))
}

#[tokio::test]
async fn a_speaker_that_leaves_is_gone_at_once() {
    let ((a, ta, _), (b, tb, _)) = joined_pair().await;
    let mut am = a.members.clone();
    b.leave(tb).await;
    let took = wait_for(&mut am, &["a"], Duration::from_secs(2))
        .await
        .expect("b gone");
    eprintln!("leaving speaker gone after {took:?}");
    ta.abort();
}

/// Junk at both heartbeat ports, `per_second` datagrams a second in all, for `run`.
fn flood(ports: Vec<SocketAddr>, per_second: u64, run: Duration) -> std::thread::JoinHandle<u64> {
    std::thread::spawn(move || {
        let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let junk = [[0u8; 4].as_slice(), &[0xee; 64], &[seal::VERSION; 64]];
        let start = std::time::Instant::now();
        let mut sent = 0u64;
        while start.elapsed() < run {
            // Paced in 1 ms batches.
            let due = start.elapsed().as_micros() as u64 * per_second / 1_000_000;
            while sent < due {
                let to = ports[sent as usize % ports.len()];
                let _ = socket.send_to(junk[sent as usize % junk.len()], to);
                sent += 1;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        sent
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn junk_at_the_heartbeat_ports_declares_no_one_down() {
    let ((a, ta, aa), (b, tb, ab)) = joined_pair().await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let ports = [aa, ab]
        .iter()
        .filter_map(|g| heartbeat::beat_addr(*g))
        .collect();
    // Ten times the hostile-LAN test's rate at each port, for 2 s.
    let flooder = flood(ports, 40_000, Duration::from_secs(2));
    let (mut am, mut bm) = (a.members.clone(), b.members.clone());
    let lost = tokio::time::timeout(Duration::from_secs(3), async {
        tokio::select! {
            r = am.wait_for(|m| m.len() < 2) => r.map(|m| ("a", m.clone())),
            r = bm.wait_for(|m| m.len() < 2) => r.map(|m| ("b", m.clone())),
        }
    })
    .await;
    let sent = flooder.join().unwrap();
    assert!(sent > 40_000, "the flood sent only {sent} datagrams");
    assert!(
        !matches!(lost, Ok(Ok(_))),
        "a member was lost during the flood: {lost:?}"
    );
    ta.abort();
    tb.abort();
}

#[tokio::test]
async fn a_wrong_key_keeps_a_speaker_out() {
    let (a, ta, aa) = node("a", b"right").await;
    let (b, tb, ab) = node("b", b"wrong").await;
    let peers = BTreeMap::from([("a".into(), aa), ("b".into(), ab)]);
    a.set_peers(peers.clone());
    b.set_peers(peers);
    let mut am = a.members.clone();
    let r = wait_for(&mut am, &["a", "b"], Duration::from_secs(2)).await;
    assert!(r.is_err(), "b joined with the wrong key");
    assert_eq!(*a.members.borrow(), BTreeSet::from(["a".to_string()]));
    ta.abort();
    tb.abort();
}
