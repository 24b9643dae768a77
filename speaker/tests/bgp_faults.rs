//! Faults against real peers in namespaces of their own (see `bgp_netns`): a
//! peer that sends garbage or an OPEN from the wrong AS gets the right
//! NOTIFICATION on the wire; a link that flaps longer than the hold time
//! ends in a re-established session with its routes back in BIRD. Needs root.

mod bgp_netns;

use std::collections::BTreeSet;
use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use bgp_netns::{Lab, Names, R4, ROUTER_AS, S4, child, eventually, peer, router, run, runtime};
use ironlb_lab::BirdOptions;
use ironlb_speaker::bgp::session::DownReason;
use ironlb_speaker::bgp::{BgpSpeaker, PeerSpec, Route, State};

const T: Duration = Duration::from_secs(30);

/// A fake peer: accepts one connection on 192.0.2.1:179, reads our OPEN,
/// misbehaves as told, then writes the (code, subcode) of the NOTIFICATION
/// it gets back to the result file.
const FAKE_PEER: &str = r#"
import socket, struct, sys
mode, result = sys.argv[1], sys.argv[2]
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("192.0.2.1", 179))
s.listen(1)
c, _ = s.accept()
c.settimeout(20)
def read(n):
    b = b""
    while len(b) < n:
        chunk = c.recv(n - len(b))
        if not chunk:
            raise SystemExit("closed")
        b += chunk
    return b
def message():
    h = read(19)
    length, kind = struct.unpack("!HB", h[16:19])
    return kind, read(length - 19)
kind, _ = message()
assert kind == 1, kind
if mode == "garbage":
    c.sendall(b"\x00" * 16 + struct.pack("!HB", 19, 4))
elif mode == "badas":
    body = struct.pack("!BHH4sB", 4, 64999, 90, bytes([192, 0, 2, 1]), 0)
    c.sendall(b"\xff" * 16 + struct.pack("!HB", 19 + len(body), 1) + body)
while True:
    kind, body = message()
    if kind == 3:
        open(result, "w").write("%d %d" % (body[0], body[1]))
        break
"#;

fn spec(hold: u64) -> PeerSpec {
    let mut s = PeerSpec::new(
        64512,
        64500,
        SocketAddr::new(R4.parse().unwrap(), 179),
        Ipv4Addr::new(192, 0, 2, 2),
    );
    s.source = Some(S4.parse().unwrap());
    s.hold_time = Duration::from_secs(hold);
    s
}

/// The speaker side against the fake peer: the NOTIFICATION it reports
/// sending must be `want`, and the peer must have received exactly that.
fn against_fake_peer(names: &Names, want: (u8, u8)) {
    let rt = runtime();
    let _g = rt.enter();
    let mut speaker = BgpSpeaker::new();
    speaker.set_peers(vec![spec(90)]);
    let result = names.dir.join("result");
    let got = eventually(T, || {
        std::fs::read_to_string(&result).map_err(|e| e.to_string())
    });
    assert_eq!(got, format!("{} {}", want.0, want.1));
    let st = &speaker.status()[0];
    assert_eq!(
        st.stats.last_down,
        Some(DownReason::NotificationSent(want.0, want.1))
    );
    assert_ne!(st.state, State::Established);
    rt.block_on(speaker.shutdown());
}

fn start_fake_peer(lab: &Lab, mode: &str) {
    let n = &lab.names;
    let script = n.dir.join("fake_peer.py");
    std::fs::write(&script, FAKE_PEER).unwrap();
    let result = n.dir.join("result");
    n.spawn_in_router(
        &[
            "python3",
            script.to_str().unwrap(),
            mode,
            result.to_str().unwrap(),
        ],
        "fake.pid",
        "fake.log",
    );
    // Wait until it listens.
    eventually(T, || {
        let out = n.in_router(&["ss", "-ltn"]);
        out.contains("192.0.2.1:179").then_some(()).ok_or(out)
    });
}

#[test]
fn garbage_from_the_peer_gets_connection_not_synchronized() {
    const TAG: &str = "xg";
    if let Some(names) = child(TAG) {
        against_fake_peer(&names, (1, 1));
        return;
    }
    let lab = Lab::new(TAG);
    start_fake_peer(&lab, "garbage");
    lab.run_child("garbage_from_the_peer_gets_connection_not_synchronized");
    lab.names.kill_pidfile("fake.pid", "TERM");
}

#[test]
fn open_from_the_wrong_as_gets_bad_peer_as() {
    const TAG: &str = "xa";
    if let Some(names) = child(TAG) {
        against_fake_peer(&names, (2, 2));
        return;
    }
    let lab = Lab::new(TAG);
    start_fake_peer(&lab, "badas");
    lab.run_child("open_from_the_wrong_as_gets_bad_peer_as");
    lab.names.kill_pidfile("fake.pid", "TERM");
}

#[test]
fn link_down_longer_than_hold_time_drops_and_recovers_the_session() {
    const TAG: &str = "xl";
    let v4 = "198.51.100.10/32";
    if let Some(names) = child(TAG) {
        let rt = runtime();
        let _g = rt.enter();
        let mut speaker = BgpSpeaker::new();
        speaker.set_peers(vec![spec(3)]);
        speaker.set_routes(BTreeSet::from([Route::new(
            v4.parse().unwrap(),
            Default::default(),
        )]));
        let has_route = || {
            let out = names.birdc(&format!("show route {v4}"));
            if out.contains(v4) { Ok(()) } else { Err(out) }
        };
        eventually(T, has_route);
        let rif = format!("ilbt-bgp-{TAG}r");
        run(&["ip", "-n", &names.router_ns, "link", "set", &rif, "down"]);
        eventually(Duration::from_secs(10), || {
            let st = &speaker.status()[0];
            (st.stats.last_down == Some(DownReason::NotificationSent(4, 0)))
                .then_some(())
                .ok_or(format!("{st:?}"))
        });
        run(&["ip", "-n", &names.router_ns, "link", "set", &rif, "up"]);
        eventually(T, || {
            let st = &speaker.status()[0];
            (st.state == State::Established && st.stats.established_count == 2)
                .then_some(())
                .ok_or(format!("{st:?}"))
        });
        eventually(T, has_route);
        rt.block_on(speaker.shutdown());
        return;
    }
    let lab = Lab::new(TAG);
    let mut p = peer("ironlb4", R4, S4);
    p.session.families.truncate(1);
    p.session.error_wait = Some((1, 5));
    lab.names
        .start_bird(&router(ROUTER_AS, vec![p]).bird(&BirdOptions::default()));
    lab.run_child("link_down_longer_than_hold_time_drops_and_recovers_the_session");
}
