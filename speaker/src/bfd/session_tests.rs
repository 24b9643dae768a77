//! Scripted tests of the BFD session: inputs in, outputs asserted.

use super::*;

fn cfg() -> BfdConfig {
    BfdConfig {
        desired_min_tx: Duration::from_millis(100),
        required_min_rx: Duration::from_millis(100),
        detect_mult: 3,
        ..BfdConfig::default()
    }
}

fn sent(out: &[Output]) -> Vec<Packet> {
    out.iter()
        .filter_map(|o| match o {
            Output::Send(p) => Some(p.clone()),
            _ => None,
        })
        .collect()
}

fn changes(out: &[Output]) -> Vec<(State, State)> {
    out.iter()
        .filter_map(|o| match o {
            Output::StateChanged { from, to, .. } => Some((*from, *to)),
            _ => None,
        })
        .collect()
}

fn rx(s: &mut Session, p: &Packet) -> Vec<Output> {
    s.handle(Input::Received {
        packet: p.clone(),
        ttl: 255,
    })
}

#[test]
fn start_sends_a_slow_down_packet() {
    let mut a = Session::new(cfg(), 7);
    let out = a.handle(Input::Start);
    let p = &sent(&out)[0];
    assert_eq!(p.state, State::Down);
    assert_eq!((p.my_disc, p.your_disc), (7, 0));
    assert_eq!(p.desired_min_tx(), SLOW_TX, "slow TX until Up (6.8.3)");
    assert_eq!(p.required_min_rx(), Duration::from_millis(100));
    assert_eq!(p.required_min_echo_rx, 0);
    assert!(out.contains(&Output::ArmTimer(Timer::Tx, SLOW_TX)));
}

#[test]
fn three_way_handshake_reaches_up_on_both_ends() {
    let mut a = Session::new(cfg(), 1);
    let mut b = Session::new(cfg(), 2);
    let a1 = sent(&a.handle(Input::Start)).remove(0);
    let _ = b.handle(Input::Start);
    // B hears Down: Init, and says so at once.
    let out = rx(&mut b, &a1);
    assert_eq!(changes(&out), vec![(State::Down, State::Init)]);
    let b1 = sent(&out).remove(0);
    assert_eq!((b1.state, b1.your_disc), (State::Init, 1));
    // A hears Init: Up, with a Poll for its faster Desired Min TX.
    let out = rx(&mut a, &b1);
    assert_eq!(changes(&out), vec![(State::Down, State::Up)]);
    let a2 = sent(&out).remove(0);
    assert_eq!(a2.state, State::Up);
    assert!(a2.poll);
    assert_eq!(a2.desired_min_tx(), Duration::from_millis(100));
    // B hears Up: Up, and answers the Poll with Final.
    let out = rx(&mut b, &a2);
    assert_eq!(changes(&out), vec![(State::Init, State::Up)]);
    let b2 = sent(&out).remove(0);
    assert!(b2.final_ && !b2.poll);
    assert_eq!(b2.state, State::Up);
    // A's Poll Sequence ends; its next packets carry no P.
    let _ = rx(&mut a, &b2);
    let out = a.handle(Input::TimerFired(Timer::Tx));
    assert!(!sent(&out)[0].poll);
    assert_eq!(a.state(), State::Up);
    assert_eq!(b.state(), State::Up);
    assert_eq!(a.stats().state_changes, 1);
}

fn up_pair() -> (Session, Session) {
    let mut a = Session::new(cfg(), 1);
    let mut b = Session::new(cfg(), 2);
    let p = sent(&a.handle(Input::Start)).remove(0);
    let p = sent(&rx(&mut b, &p)).remove(0);
    let p = sent(&rx(&mut a, &p)).remove(0);
    let p = sent(&rx(&mut b, &p)).remove(0);
    let _ = rx(&mut a, &p);
    assert_eq!((a.state(), b.state()), (State::Up, State::Up));
    (a, b)
}

#[test]
fn detection_time_is_remote_mult_times_agreed_interval() {
    let (mut a, mut b) = up_pair();
    // B now advertises 100 ms; A requires 100 ms; B's multiplier is 3.
    let p = sent(&b.handle(Input::TimerFired(Timer::Tx))).remove(0);
    let out = rx(&mut a, &p);
    assert!(out.contains(&Output::ArmTimer(Timer::Detect, Duration::from_millis(300))));
    // A slower peer (500 ms, mult 5) sets a longer detection time.
    let mut slow = p.clone();
    slow.desired_min_tx = 500_000;
    slow.detect_mult = 5;
    let out = rx(&mut a, &slow);
    assert!(out.contains(&Output::ArmTimer(
        Timer::Detect,
        Duration::from_millis(2500)
    )));
    assert_eq!(a.tx_interval(), Some(Duration::from_millis(100)));
}

#[test]
fn detection_timeout_goes_down_with_its_diag() {
    let (mut a, _) = up_pair();
    let out = a.handle(Input::TimerFired(Timer::Detect));
    assert_eq!(
        out[0],
        Output::StateChanged {
            from: State::Up,
            to: State::Down,
            diag: Diag::DetectionTimeExpired
        }
    );
    // Back to slow packets to a peer we no longer know.
    let p = sent(&a.handle(Input::TimerFired(Timer::Tx))).remove(0);
    assert_eq!(
        (p.state, p.your_disc, p.diag),
        (State::Down, 0, Diag::DetectionTimeExpired)
    );
    assert_eq!(p.desired_min_tx(), SLOW_TX);
}

#[test]
fn peer_signalling_down_or_admin_down_takes_us_down() {
    let (mut a, mut b) = up_pair();
    let mut p = sent(&b.handle(Input::TimerFired(Timer::Tx))).remove(0);
    p.state = State::Down;
    let out = rx(&mut a, &p);
    assert_eq!(changes(&out), vec![(State::Up, State::Down)]);
    let (mut a, mut b) = up_pair();
    let out = b.handle(Input::Stop);
    let p = sent(&out).remove(0);
    assert_eq!((p.state, p.diag), (State::AdminDown, Diag::AdminDown));
    let out = rx(&mut a, &p);
    assert!(out.contains(&Output::StateChanged {
        from: State::Up,
        to: State::Down,
        diag: Diag::NeighborDown
    }));
}

#[test]
fn wrong_discriminators_are_dropped_and_counted() {
    let (mut a, mut b) = up_pair();
    let good = sent(&b.handle(Input::TimerFired(Timer::Tx))).remove(0);
    let mut wrong = good.clone();
    wrong.your_disc = 99;
    assert_eq!(
        rx(&mut a, &wrong),
        vec![Output::Dropped(DropReason::Discriminator)]
    );
    let mut zero_while_up = good.clone();
    zero_while_up.your_disc = 0;
    assert_eq!(
        rx(&mut a, &zero_while_up),
        vec![Output::Dropped(DropReason::Discriminator)]
    );
    assert_eq!(a.stats().dropped, 2);
    assert_eq!(a.state(), State::Up);
}

#[test]
fn wrong_ttl_is_dropped_single_hop_and_checked_against_minimum_multihop() {
    let mut a = Session::new(cfg(), 1);
    let mut b = Session::new(cfg(), 2);
    let p = sent(&b.handle(Input::Start)).remove(0);
    let out = a.handle(Input::Received {
        packet: p.clone(),
        ttl: 254,
    });
    assert_eq!(out, vec![Output::Dropped(DropReason::Ttl(254))]);
    assert_eq!(a.state(), State::Down);
    let mut m = Session::new(
        BfdConfig {
            multihop: true,
            min_ttl: 250,
            ..cfg()
        },
        3,
    );
    let out = m.handle(Input::Received {
        packet: p.clone(),
        ttl: 249,
    });
    assert_eq!(out, vec![Output::Dropped(DropReason::Ttl(249))]);
    let out = m.handle(Input::Received {
        packet: p,
        ttl: 250,
    });
    assert_eq!(changes(&out), vec![(State::Down, State::Init)]);
}

#[test]
fn bad_length_is_dropped_and_counted() {
    let mut a = Session::new(cfg(), 1);
    let e = super::super::packet::decode(&[0x20, 0x40, 3, 24]).unwrap_err();
    let out = a.handle(Input::Malformed(e));
    assert_eq!(out, vec![Output::Dropped(DropReason::Malformed(e))]);
    assert_eq!(DropReason::Malformed(e).metric_label(), "bad_length");
    assert_eq!(a.stats().dropped, 1);
}

#[test]
fn auth_bit_while_none_configured_is_dropped() {
    let mut a = Session::new(cfg(), 1);
    let mut b = Session::new(cfg(), 2);
    let mut p = sent(&b.handle(Input::Start)).remove(0);
    p.auth = vec![1, 7, 1, b'a', b'b', b'c', b'd'];
    assert_eq!(rx(&mut a, &p), vec![Output::Dropped(DropReason::Auth)]);
    assert_eq!(a.state(), State::Down);
}

#[test]
fn passive_session_waits_for_the_peer() {
    let mut a = Session::new(
        BfdConfig {
            passive: true,
            ..cfg()
        },
        1,
    );
    assert!(a.handle(Input::Start).is_empty());
    assert!(a.handle(Input::TimerFired(Timer::Tx)).is_empty());
    let mut b = Session::new(cfg(), 2);
    let p = sent(&b.handle(Input::Start)).remove(0);
    let out = rx(&mut a, &p);
    let reply = sent(&out).remove(0);
    assert_eq!((reply.state, reply.your_disc), (State::Init, 2));
    assert!(out.contains(&Output::ArmTimer(Timer::Tx, SLOW_TX)));
}

#[test]
fn peer_asking_for_no_packets_gets_none() {
    let (mut a, mut b) = up_pair();
    let mut p = sent(&b.handle(Input::TimerFired(Timer::Tx))).remove(0);
    p.required_min_rx = 0;
    let _ = rx(&mut a, &p);
    assert!(a.handle(Input::TimerFired(Timer::Tx)).is_empty());
}

#[test]
fn admin_down_session_ignores_everything() {
    let (mut a, mut b) = up_pair();
    let _ = a.handle(Input::Stop);
    let p = sent(&b.handle(Input::TimerFired(Timer::Tx))).remove(0);
    assert!(rx(&mut a, &p).is_empty());
    assert!(a.handle(Input::TimerFired(Timer::Tx)).is_empty());
    assert_eq!(a.state(), State::AdminDown);
}

#[test]
fn profile_values_map_to_the_config() {
    let p = ironlb_config::BfdProfile {
        name: "fast".into(),
        receive_interval: Some(100),
        transmit_interval: Some(150),
        detect_multiplier: Some(5),
        echo_interval: Some(50),
        echo_mode: true,
        passive_mode: true,
        minimum_ttl: Some(250),
    };
    let c = BfdConfig::from_profile(&p, true);
    assert_eq!(c.required_min_rx, Duration::from_millis(100));
    assert_eq!(c.desired_min_tx, Duration::from_millis(150));
    assert_eq!(
        (c.detect_mult, c.passive, c.multihop, c.min_ttl, c.echo_mode),
        (5, true, true, 250, true)
    );
    let empty = ironlb_config::BfdProfile {
        name: "d".into(),
        receive_interval: None,
        transmit_interval: None,
        detect_multiplier: None,
        echo_interval: None,
        echo_mode: false,
        passive_mode: false,
        minimum_ttl: None,
    };
    assert_eq!(BfdConfig::from_profile(&empty, false), BfdConfig::default());
}

#[test]
fn jitter_stays_within_the_rfc_bounds() {
    let i = Duration::from_millis(100);
    assert_eq!(jittered(i, 3, 0.0), i);
    assert_eq!(jittered(i, 3, 1.0), Duration::from_millis(75));
    assert_eq!(jittered(i, 1, 0.0), Duration::from_millis(90));
    assert_eq!(jittered(i, 1, 1.0), Duration::from_millis(75));
}

/// FRR's bfdd asks for one packet a second until Up, then lowers its Required Min RX
/// in a Poll: the transmit timer armed at the slow rate is re-armed at the new one, or
/// the peer's detection time runs out before our next packet.
#[test]
fn a_peer_lowering_its_required_min_rx_rearms_the_transmit_timer() {
    let (mut a, mut b) = up_pair();
    let slow = Packet {
        required_min_rx: micros(SLOW_TX),
        ..sent(&b.handle(Input::TimerFired(Timer::Tx))).remove(0)
    };
    let out = rx(&mut a, &slow);
    assert!(
        !out.iter()
            .any(|o| matches!(o, Output::ArmTimer(Timer::Tx, _)))
    );
    assert_eq!(a.tx_interval(), Some(SLOW_TX));
    let fast = Packet {
        poll: true,
        ..sent(&b.handle(Input::TimerFired(Timer::Tx))).remove(0)
    };
    let out = rx(&mut a, &fast);
    assert!(sent(&out)[0].final_);
    assert!(
        out.contains(&Output::ArmTimer(Timer::Tx, Duration::from_millis(100))),
        "{out:?}"
    );
    // Slowing down waits for the armed timer (always allowed).
    let out = rx(&mut a, &slow);
    assert!(
        !out.iter()
            .any(|o| matches!(o, Output::ArmTimer(Timer::Tx, _)))
    );
}
