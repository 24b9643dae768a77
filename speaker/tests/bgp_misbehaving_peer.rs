//! A misbehaving BGP peer on the wire (issue 17 item 4): the table of
//! `speaker/src/bgp/misbehaving_peer.rs` (its cases and the reactions RFC 4271 and
//! RFC 7606 prescribe), replayed over real TCP against the real driver
//! ([`BgpSpeaker`]) in network namespaces of their own (see `bgp_netns`). Needs root.
//!
//! One scripted peer (Python 3, standard library only, in the router namespace) takes
//! the rows in turn on one listening socket: for each it breaks or completes the OPEN
//! exchange as the row says, sends the row's bytes and writes what came back. The
//! speaker side, in the speaker namespace, checks each result in lock step with the
//! session's own status, then lets the peer go on:
//!
//! ```text
//!  speaker ns (this test, child)            router ns (PEER script)
//!  BgpSpeaker ── TCP 192.0.2.2 → .1:179 ──> accept, OPEN, row bytes, observe
//!      │                                     │ results/<i>: what came back, reconnect delay
//!      └─ status() per row <── results/<i> ──┘
//!                             ── acks/<i> ──> next row
//! ```
//!
//! Why a Python peer and not a Rust one: the peer must live in the router namespace;
//! `ip netns exec python3` puts it there with no second re-exec protocol and no
//! `setns`, as `bgp_faults.rs` already does. The rows stay Rust data (bytes built
//! here, handed to the script as hex): the script knows nothing of BGP errors.
//!
//! Reactions: *kept* (treat-as-withdraw or attribute discard; the speaker installs
//! nothing a peer sends, so both look the same on the wire: no NOTIFICATION, the
//! connection stays, KEEPALIVEs go on); *reset* (the NOTIFICATION with this code and
//! subcode, nothing after it, close, reconnect after the backoff); *peer notified*
//! (our NOTIFICATION followed by more messages: the speaker answers nothing, closes and
//! reconnects). After the table: the speaker is alive (it reconnects, and shuts down
//! with Cease on the wire), its last DownReason is the last row's, no task panicked and
//! no file descriptor leaked.

mod bgp_netns;
#[path = "../src/bgp/wire_fixtures.rs"]
mod wire_fixtures;

use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use bgp_netns::{Lab, Names, R4, S4, child, eventually, runtime};
use ironlb_speaker::bgp::session::{DownReason, SessionStats};
use ironlb_speaker::bgp::{BgpSpeaker, PeerSpec, State};
use wire_fixtures::*;

const TAG: &str = "mp";
const NAME: &str = "misbehaving_peer_table_on_the_wire";
const T: Duration = Duration::from_secs(30);
const LOCAL_AS: u32 = 64512;
/// Backoff bounds of the speaker under test: short, so the table runs in about a
/// minute, and far enough apart to see the delay double and then stop growing.
const RETRY_MIN: Duration = Duration::from_secs(1);
const RETRY_MAX: Duration = Duration::from_secs(4);

/// The scripted peer. Arguments: the script (first line `good_open <hex>`, then one
/// row a line: `<open|est> <kept|reset> <hex>`), the results directory, the acks
/// directory. For row `i` it writes `results/<i>` (`key=value` words: `seq` the message
/// types received after the row's bytes, `notification` its code and subcode, `eof`,
/// `reconnect` seconds from the close to the next accept, `reopen` whether that
/// connection began with an OPEN), then waits for `acks/<i>`. At the end it waits for
/// the speaker's shutdown and writes `results/shutdown`.
const PEER: &str = r#"
import os, select, socket, struct, sys, time
script, results, acks = sys.argv[1:4]
lines = [l.split() for l in open(script) if l.strip()]
good_open = bytes.fromhex(lines[0][1])
rows = [(f[0], f[1], bytes.fromhex(f[2]) if len(f) > 2 else b"") for f in lines[1:]]
KEEPALIVE = b"\xff" * 16 + struct.pack("!HB", 19, 4)
ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.bind(("192.0.2.1", 179))
ls.listen(4)
ls.settimeout(20)
stray = []

class Conn:
    def __init__(self, s):
        self.s, self.buf, self.up, self.sent = s, b"", False, 0.0
    def send(self, b):
        try:
            self.s.sendall(b)
        except OSError:
            pass
    def next(self, deadline):
        """The next message as (type, body), or "eof", or "timeout"."""
        while True:
            if len(self.buf) >= 19:
                n, kind = struct.unpack("!HB", self.buf[16:19])
                if n < 19:
                    return "eof"
                if len(self.buf) >= n:
                    body, self.buf = self.buf[19:n], self.buf[n:]
                    return kind, body
            now = time.monotonic()
            if self.up and now - self.sent >= 1:
                self.send(KEEPALIVE)
                self.sent = now
            if now >= deadline:
                return "timeout"
            r, _, _ = select.select([self.s], [], [], min(0.1, deadline - now))
            if r:
                try:
                    chunk = self.s.recv(65536)
                except OSError:
                    return "eof"
                if not chunk:
                    return "eof"
                self.buf += chunk

def accept():
    """The speaker's next connection and whether it began with an OPEN."""
    c = Conn(ls.accept()[0])
    m = c.next(time.monotonic() + 10)
    return c, int(isinstance(m, tuple) and m[0] == 1)

def establish(conn):
    conn.send(good_open + KEEPALIVE)
    conn.up, conn.sent = True, time.monotonic()
    # The KEEPALIVE answering our OPEN, then one a keepalive interval later: the
    # session proved stable, which starts the speaker's backoff over.
    got, deadline = 0, time.monotonic() + 10
    while got < 2:
        m = conn.next(deadline)
        if not isinstance(m, tuple):
            raise SystemExit("establish: %s" % m)
        if m[0] == 4:
            got += 1
        else:
            stray.append(str(m[0]))

def write(name, words):
    tmp = os.path.join(results, name + ".tmp")
    with open(tmp, "w") as f:
        f.write(" ".join("%s=%s" % kv for kv in words.items()) + "\n")
    os.rename(tmp, os.path.join(results, name))

def wait_ack(i):
    global conn
    path, deadline = os.path.join(acks, str(i)), time.monotonic() + 60
    while not os.path.exists(path):
        if time.monotonic() > deadline:
            raise SystemExit("no ack for row %d" % i)
        if conn is None or not conn.up:
            # Nothing is due before our OPEN; what comes stays buffered for later.
            time.sleep(0.05)
            continue
        m = conn.next(time.monotonic() + 0.05)
        if m == "eof":
            stray.append("eof")
            conn.s.close()
            conn = None
        elif isinstance(m, tuple) and m[0] != 4:
            stray.append(str(m[0]))

conn, _ = accept()
for i, (phase, mode, data) in enumerate(rows):
    if conn is None:
        conn, _ = accept()
    if phase == "est" and not conn.up:
        establish(conn)
    if phase == "open" and conn.up:
        raise SystemExit("row %d: an OPEN row on an established session" % i)
    conn.send(data)
    res = {"seq": [], "notification": "-", "eof": 0, "reconnect": "-", "reopen": 0}
    keepalives, need = 0, (3 if phase == "open" else 2)
    deadline = time.monotonic() + (8 if mode == "kept" else 10)
    while True:
        m = conn.next(deadline)
        if m == "timeout":
            break
        if m == "eof":
            res["eof"] = 1
            break
        kind, body = m
        res["seq"].append(str(kind))
        if kind == 3 and res["notification"] == "-" and len(body) >= 2:
            res["notification"] = "%d,%d" % (body[0], body[1])
        if kind == 4:
            keepalives += 1
            if not conn.up:
                # Our OPEN was accepted: complete the session.
                conn.send(KEEPALIVE)
                conn.up, conn.sent = True, time.monotonic()
            if mode == "kept" and keepalives >= need:
                break
    if res["eof"]:
        conn.s.close()
        closed = time.monotonic()
        try:
            conn, res["reopen"] = accept()
            res["reconnect"] = "%.3f" % (time.monotonic() - closed)
        except OSError:
            conn = None
    res["seq"] = ",".join(res["seq"]) or "-"
    write(str(i), res)
    wait_ack(i)

# The speaker stops now: its Cease is the last thing on the wire.
res = {"notification": "-"}
while conn is not None:
    m = conn.next(time.monotonic() + 30)
    if not isinstance(m, tuple):
        break
    if m[0] == 3 and len(m[1]) >= 2:
        res["notification"] = "%d,%d" % (m[1][0], m[1][1])
res["stray"] = ",".join(stray) or "-"
write("shutdown", res)
"#;

/// Where the row's bytes go: in place of the peer's OPEN, or on an Established session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Open,
    Established,
}

/// The reaction RFC 4271 / RFC 7606 prescribe, as seen on the wire and in the status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Want {
    /// Treat-as-withdraw or attribute discard (or an acceptable OPEN): no NOTIFICATION,
    /// the connection stays up and KEEPALIVEs go on.
    Kept,
    /// Session reset: this NOTIFICATION (code, subcode), close, reconnect.
    Reset(u8, u8),
    /// The peer sent NOTIFICATION (code, subcode) and kept talking: the speaker sends
    /// nothing, closes and reconnects.
    PeerNotified(u8, u8),
}

/// One row of the table.
struct Row {
    name: &'static str,
    phase: Phase,
    bytes: Vec<u8>,
    want: Want,
}

fn row(name: &'static str, phase: Phase, bytes: Vec<u8>, want: Want) -> Row {
    Row {
        name,
        phase,
        bytes,
        want,
    }
}

/// The table, in the order the peer plays it. OPEN rows come first (each breaks the
/// OPEN exchange, so the backoff grows from row to row), then a good OPEN that stays up
/// and the UPDATE rows on Established sessions (each lasts a keepalive interval first,
/// so every reset there is retried after `RETRY_MIN`).
fn rows() -> Vec<Row> {
    use Phase::{Established as E, Open as O};
    use Want::{Kept, PeerNotified, Reset};
    let with_caps = |version, hold| open(version, hold, &caps_param(&usual_caps()));
    let mut truncated = with_caps(4, 90);
    truncated.truncate(19 + 6);
    truncated[16..18].copy_from_slice(&25u16.to_be_bytes());
    let mut overrun = open_body(4, 90, &caps_param(&usual_caps()));
    overrun[9] = 200; // optional parameters length past the message
    let unknown_cap = [usual_caps(), cap(200, &[1, 2, 3])].concat();
    let mut long_as_path = as_path();
    long_as_path[2] = 200; // attribute length past the attributes
    let mut bad_total_len = update_body(&good_attrs(), &NLRI);
    bad_total_len[2..4].copy_from_slice(&500u16.to_be_bytes());
    let dup_mp = [good_attrs(), mp_reach_v6(&NLRI6), mp_reach_v6(&NLRI6)].concat();
    let prefix_33 = update(&good_attrs(), &[33, 198, 51, 100, 0, 0]);
    let with_attrs = |attrs: &[Vec<u8>]| update(&attrs.concat(), &NLRI);
    vec![
        // RFC 4271 6.2: Unsupported Version Number.
        row("OPEN version 3", O, with_caps(3, 90), Reset(2, 1)),
        row("OPEN version 5", O, with_caps(5, 90), Reset(2, 1)),
        // RFC 4271 6.2: hold time 1 or 2 s: Unacceptable Hold Time.
        row("OPEN hold time 1 s", O, with_caps(4, 1), Reset(2, 6)),
        row("OPEN hold time 2 s", O, with_caps(4, 2), Reset(2, 6)),
        // RFC 4271 6.2: an unknown optional parameter: Unsupported Optional Parameter.
        row(
            "OPEN unknown optional parameter",
            O,
            open(
                4,
                90,
                &[[99, 2, 0, 0].as_slice(), &caps_param(&usual_caps())].concat(),
            ),
            Reset(2, 4),
        ),
        // RFC 4271 6.1: a length too small for an OPEN: Bad Message Length.
        row("OPEN truncated", O, truncated, Reset(1, 2)),
        row(
            "OPEN parameters overrun",
            O,
            message(1, &overrun),
            Reset(2, 0),
        ),
        // RFC 5492: an unknown capability is ignored; this session stays up.
        row(
            "OPEN unknown capability",
            O,
            open(4, 90, &caps_param(&unknown_cap)),
            Kept,
        ),
        // RFC 7606 3(c): flags in conflict with a well-known attribute: treat-as-withdraw.
        row(
            "UPDATE ORIGIN flagged optional",
            E,
            with_attrs(&[attr(0xc0, 1, &[0]), as_path(), next_hop()]),
            Kept,
        ),
        // RFC 7606 7.1: ORIGIN of bad value: treat-as-withdraw.
        row(
            "UPDATE ORIGIN value 7",
            E,
            with_attrs(&[attr(0x40, 1, &[7]), as_path(), next_hop()]),
            Kept,
        ),
        // RFC 7606 4: an attribute overrunning the attributes: treat-as-withdraw.
        row(
            "UPDATE attribute length overflow",
            E,
            with_attrs(&[origin(), long_as_path]),
            Kept,
        ),
        // RFC 7606 7.2: malformed AS_PATH: treat-as-withdraw.
        row(
            "UPDATE AS_PATH segment type 9",
            E,
            with_attrs(&[
                origin(),
                attr(0x40, 2, &[9, 1, 0, 0, 0xfb, 0xf4]),
                next_hop(),
            ]),
            Kept,
        ),
        row(
            "UPDATE AS_PATH segment overrun",
            E,
            with_attrs(&[
                origin(),
                attr(0x40, 2, &[2, 5, 0, 0, 0xfb, 0xf4]),
                next_hop(),
            ]),
            Kept,
        ),
        // RFC 7606 7.3: NEXT_HOP of bad length: treat-as-withdraw.
        row(
            "UPDATE NEXT_HOP length 3",
            E,
            with_attrs(&[origin(), as_path(), attr(0x40, 3, &[192, 0, 2])]),
            Kept,
        ),
        // RFC 7606 3(g): a repeated attribute: all but the first discarded.
        row(
            "UPDATE ORIGIN twice",
            E,
            with_attrs(&[origin(), origin(), as_path(), next_hop()]),
            Kept,
        ),
        // RFC 7606 3(d): a missing well-known mandatory attribute: treat-as-withdraw.
        row(
            "UPDATE NEXT_HOP missing",
            E,
            with_attrs(&[origin(), as_path()]),
            Kept,
        ),
        row(
            "UPDATE ORIGIN missing",
            E,
            with_attrs(&[as_path(), next_hop()]),
            Kept,
        ),
        // RFC 7606 3(g): MP_REACH_NLRI twice: session reset, Malformed Attribute List.
        row(
            "UPDATE MP_REACH_NLRI twice",
            E,
            update(&dup_mp, &[]),
            Reset(3, 1),
        ),
        // RFC 7606 5.3 / RFC 4271 6.3: NLRI syntax: Invalid Network Field.
        row(
            "UPDATE IPv4 prefix length 33",
            E,
            prefix_33.clone(),
            Reset(3, 10),
        ),
        row(
            "UPDATE IPv4 NLRI truncated",
            E,
            update(&good_attrs(), &[24, 198]),
            Reset(3, 10),
        ),
        // RFC 7606 7.11 / RFC 4760: MP_REACH_NLRI syntax: Optional Attribute Error.
        row(
            "UPDATE IPv6 prefix length 129 in MP_REACH_NLRI",
            E,
            update(
                &[good_attrs(), mp_reach_v6(&[129, 0x20, 0x01])].concat(),
                &[],
            ),
            Reset(3, 9),
        ),
        // RFC 7606 4: total attribute length past the message: Malformed Attribute List.
        row(
            "UPDATE total attribute length overflow",
            E,
            message(2, &bad_total_len),
            Reset(3, 1),
        ),
        // RFC 4271 6.1: over 4096 bytes (no Extended Message): Bad Message Length.
        row(
            "oversize message (5019 bytes)",
            E,
            message(2, &vec![0u8; 5000]),
            Reset(1, 2),
        ),
        // RFC 4271 6.1: an unknown message type: Bad Message Type.
        row("message type 9", E, message(9, &[]), Reset(1, 3)),
        // RFC 4271 6 / 8.2.1: after our NOTIFICATION the connection is gone: what the
        // peer sent behind the bad message draws no second NOTIFICATION.
        row(
            "messages after our NOTIFICATION",
            E,
            [
                prefix_33.clone(),
                message(4, &[]),
                message(9, &[]),
                update(&dup_mp, &[]),
            ]
            .concat(),
            Reset(3, 10),
        ),
        // RFC 4271 6.4: a NOTIFICATION is never answered; what follows it is ignored.
        row(
            "messages after the peer's NOTIFICATION",
            E,
            [
                message(3, &[6, 2]),
                update(&good_attrs(), &NLRI),
                prefix_33,
                message(4, &[]),
                good_open(),
            ]
            .concat(),
            PeerNotified(6, 2),
        ),
    ]
}

/// The script the peer reads (see [`PEER`]).
fn script(rows: &[Row]) -> String {
    let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
    let mut s = format!("good_open {}\n", hex(&good_open()));
    for r in rows {
        let phase = match r.phase {
            Phase::Open => "open",
            Phase::Established => "est",
        };
        let mode = if r.want == Want::Kept {
            "kept"
        } else {
            "reset"
        };
        s.push_str(&format!("{phase} {mode} {}\n", hex(&r.bytes)));
    }
    s
}

/// What the peer saw for one row (`results/<i>`).
#[derive(Debug, Default)]
struct Seen {
    /// Message types received after the row's bytes, in order.
    seq: Vec<u8>,
    notification: Option<(u8, u8)>,
    eof: bool,
    reconnect: Option<Duration>,
    reopen: bool,
}

impl Seen {
    fn parse(line: &str) -> Result<Self, String> {
        let mut s = Seen::default();
        for word in line.split_whitespace() {
            let (k, v) = word.split_once('=').ok_or(format!("bad word {word:?}"))?;
            let bad = |e: &dyn std::fmt::Display| format!("bad {k}: {v:?}: {e}");
            match (k, v) {
                (_, "-") => {}
                ("seq", v) => {
                    s.seq = v
                        .split(',')
                        .map(|t| t.parse().map_err(|e| bad(&e)))
                        .collect::<Result<_, _>>()?;
                }
                ("notification", v) => {
                    let (c, sub) = v.split_once(',').ok_or(format!("bad {k}: {v:?}"))?;
                    s.notification = Some((
                        c.parse().map_err(|e| bad(&e))?,
                        sub.parse().map_err(|e| bad(&e))?,
                    ));
                }
                ("eof", v) => s.eof = v == "1",
                ("reopen", v) => s.reopen = v == "1",
                ("reconnect", v) => {
                    s.reconnect = Some(Duration::from_secs_f64(v.parse().map_err(|e| bad(&e))?));
                }
                _ => {}
            }
        }
        Ok(s)
    }
}

fn read_result(dir: &Path, name: &str) -> Result<String, String> {
    std::fs::read_to_string(dir.join(name)).map_err(|e| format!("results/{name}: {e}"))
}

/// The speaker's backoff, as `Session` keeps it: doubled after each reset up to
/// `RETRY_MAX`, back to `RETRY_MIN` once a session lasted a keepalive interval.
struct Backoff(Duration);

impl Backoff {
    /// The delay expected after `row`'s reset.
    fn after(&mut self, row: &Row) -> Duration {
        let d = if row.phase == Phase::Established {
            RETRY_MIN
        } else {
            self.0
        };
        self.0 = (d * 2).min(RETRY_MAX);
        d
    }
}

/// Checks one row against what the peer saw and the session's status.
fn check(
    row: &Row,
    seen: &Seen,
    before: &SessionStats,
    state: State,
    after: &SessionStats,
    backoff: &mut Backoff,
) -> Result<(), String> {
    let same =
        |what: &str, a: u64, b: u64| (a == b).then_some(()).ok_or(format!("{what}: {a} -> {b}"));
    // For a closed session: NOTIFICATIONs we sent, the DownReason, the one on the wire.
    let closed = match row.want {
        Want::Kept => None,
        Want::Reset(c, s) => Some((1, DownReason::NotificationSent(c, s), Some((c, s)))),
        Want::PeerNotified(c, s) => Some((0, DownReason::NotificationReceived(c, s), None)),
    };
    match closed {
        None => {
            if seen.seq.iter().any(|t| *t != 4) || seen.seq.len() < 2 || seen.eof {
                return Err(format!("not kept: {seen:?}"));
            }
            if state != State::Established {
                return Err(format!("state {state:?}"));
            }
            same(
                "notifications sent",
                before.notifications_sent,
                after.notifications_sent,
            )?;
            if after.last_down != before.last_down {
                return Err(format!("went down: {:?}", after.last_down));
            }
        }
        Some((sent, down, notification)) => {
            // A KEEPALIVE already on its way may come first; nothing may follow the
            // NOTIFICATION.
            let tail: Vec<u8> = seen.seq.iter().copied().skip_while(|t| *t == 4).collect();
            let want_tail = if sent == 1 { vec![3] } else { vec![] };
            if seen.notification != notification || tail != want_tail || !seen.eof {
                return Err(format!("want {notification:?} then close, saw {seen:?}"));
            }
            same(
                "notifications sent",
                before.notifications_sent + sent,
                after.notifications_sent,
            )?;
            if after.last_down != Some(down.clone()) {
                return Err(format!("last down {:?}, want {down:?}", after.last_down));
            }
            let want = backoff.after(row);
            let got = seen.reconnect.ok_or("no reconnect")?;
            // The delay runs from the speaker's close; the peer's clock starts a little
            // later and a loaded machine adds some.
            let (lo, hi) = (
                want.saturating_sub(Duration::from_millis(150)),
                want + Duration::from_millis(1500),
            );
            if !seen.reopen || got < lo || got > hi {
                return Err(format!(
                    "reconnect after {got:?} (want {want:?}), OPEN {}",
                    seen.reopen
                ));
            }
        }
    }
    Ok(())
}

/// Set by the panic hook: a panic anywhere in the speaker side, tasks included.
static PANICKED: AtomicBool = AtomicBool::new(false);

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").map_or(0, |d| d.count())
}

fn spec() -> PeerSpec {
    let mut s = PeerSpec::new(
        LOCAL_AS,
        PEER_AS,
        SocketAddr::new(R4.parse().unwrap(), 179),
        Ipv4Addr::new(192, 0, 2, 2),
    );
    s.source = Some(S4.parse().unwrap());
    // A KEEPALIVE every second shows a kept session quickly; the hold time is long
    // enough that a slow machine never expires it.
    s.hold_time = Duration::from_secs(30);
    s.keepalive_time = Duration::from_secs(1);
    s.retry_min = RETRY_MIN;
    s.retry_max = RETRY_MAX;
    s
}

/// The speaker side: one session to the scripted peer, each row checked as it ends.
fn speaker_side(names: &Names) {
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        PANICKED.store(true, Ordering::SeqCst);
        default_hook(info);
    }));
    let started = Instant::now();
    let rows = rows();
    let results = names.dir.join("results");
    let acks = names.dir.join("acks");
    let rt = runtime();
    let _g = rt.enter();
    let fds_before = open_fds();
    let mut speaker = BgpSpeaker::new();
    speaker.set_peers(vec![spec()]);
    let mut backoff = Backoff(RETRY_MIN);
    let mut before = SessionStats::default();
    let (mut failures, mut fds_max) = (Vec::new(), fds_before);
    println!("{:<48} {:<18} {:<10} result", "row", "want", "reconnect");
    for (i, row) in rows.iter().enumerate() {
        let line = eventually(T, || read_result(&results, &i.to_string()));
        let st = speaker.status()[0].clone();
        let seen = Seen::parse(&line).unwrap_or_else(|e| panic!("{}: {e}", row.name));
        let verdict = check(row, &seen, &before, st.state, &st.stats, &mut backoff);
        println!(
            "{:<48} {:<18} {:<10} {}",
            row.name,
            format!("{:?}", row.want),
            seen.reconnect
                .map_or("-".into(), |d| format!("{:.2} s", d.as_secs_f64())),
            match &verdict {
                Ok(()) => "ok".to_string(),
                Err(e) => format!("FAILED: {e}"),
            },
        );
        if let Err(e) = verdict {
            failures.push(format!("{}: {e}", row.name));
        }
        before = st.stats;
        fds_max = fds_max.max(open_fds());
        std::fs::write(acks.join(i.to_string()), "").expect("ack");
    }
    // Still alive: reconnected after the last row, waiting for the peer's OPEN, and
    // the last reason it went down is the last row's.
    let st = speaker.status()[0].clone();
    assert_eq!(st.state, State::OpenSent, "{st:?}");
    assert_eq!(
        st.stats.last_down,
        Some(DownReason::NotificationReceived(6, 2))
    );
    let fds_running = open_fds();
    rt.block_on(speaker.shutdown());
    let end = eventually(T, || read_result(&results, "shutdown"));
    assert!(
        end.contains("notification=6,2"),
        "no Cease at shutdown: {end}"
    );
    assert!(end.contains("stray=-"), "messages between rows: {end}");
    // The closed connection's helper tasks finish on their own (bounded by STOP_TIMEOUT).
    let fds_after = eventually(T, || {
        let n = open_fds();
        (n <= fds_before + 1).then_some(n).ok_or(format!(
            "{n} descriptors open, {fds_before} before the speaker"
        ))
    });
    println!(
        "fds: {fds_before} before, at most {fds_max} during, {fds_running} at the end, \
         {fds_after} after shutdown; speaker side took {:.1} s",
        started.elapsed().as_secs_f64()
    );
    // One connection at a time: the socket, and slack for a helper task still closing.
    assert!(fds_max <= fds_before + 3, "descriptors leak: {fds_max}");
    assert!(!PANICKED.load(Ordering::SeqCst), "a speaker task panicked");
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

#[test]
fn misbehaving_peer_table_on_the_wire() {
    if let Some(names) = child(TAG) {
        speaker_side(&names);
        return;
    }
    let lab = Lab::new(TAG);
    let n = &lab.names;
    let rows = rows();
    let (results, acks) = (n.dir.join("results"), n.dir.join("acks"));
    std::fs::create_dir_all(&results).unwrap();
    std::fs::create_dir_all(&acks).unwrap();
    std::fs::write(n.dir.join("script"), script(&rows)).unwrap();
    std::fs::write(n.dir.join("peer.py"), PEER).unwrap();
    let path = |p: &str| n.dir.join(p).to_str().unwrap().to_string();
    n.spawn_in_router(
        &[
            "python3",
            &path("peer.py"),
            &path("script"),
            &path("results"),
            &path("acks"),
        ],
        "fake.pid",
        "peer.log",
    );
    eventually(T, || {
        let out = n.in_router(&["ss", "-ltn"]);
        out.contains("192.0.2.1:179").then_some(()).ok_or(out)
    });
    let log = || std::fs::read_to_string(n.dir.join("peer.log")).unwrap_or_default();
    let ran = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| lab.run_child(NAME)));
    if ran.is_err() {
        println!("peer log:\n{}", log());
    }
    // The peer has exited by now, but stays a zombie of this process (nobody waits for
    // it), which a TERM would wait 10 s for: KILL does not wait, and the pid file goes
    // so `Lab`'s drop does not wait either.
    lab.names.kill_pidfile("fake.pid", "KILL");
    let _ = std::fs::remove_file(n.dir.join("fake.pid"));
    if let Err(e) = ran {
        std::panic::resume_unwind(e);
    }
}
