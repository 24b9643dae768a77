//! Test lab for BGP interop tests: two network namespaces of their own
//! (`ilbt-bgp-<tag>-<pid>-s` for our speaker, `ilbt-bgp-<tag>-<pid>-r` for the router, `<pid>`
//! the test process's, so two runs on one machine never share or delete each other's)
//! joined by a veth pair, made with `ironlb_lab::netns` (`ip -n`), so the root namespace is
//! never touched. Everything is removed by [`Lab`]'s `Drop`, also when a test fails. The
//! routers' configs come from `ironlb_lab::routers` ([`router`], [`peer`]).
//!
//! The speaker side runs in the speaker namespace by re-executing the test
//! binary there (`ip netns exec ... <test-binary> --exact <test>`), with
//! `ILBT_BGP_CHILD=<tag>:<pid>` set; [`child`] tells the test which half it is.
//!
//! ```text
//!  ilbt-bgp-<tag>-<pid>-s                    ilbt-bgp-<tag>-<pid>-r
//!  ilbt-bgp-<tag>s  192.0.2.2, .3            ilbt-bgp-<tag>r  192.0.2.1
//!                   2001:db8:1::2, ::3  <──veth──>             2001:db8:1::1
//!  (our BgpSpeaker)                          (bird / gobgpd / frr)
//! ```
// Shared by several test crates as `mod bgp_netns;`: its `pub` items are used across them.
#![allow(unreachable_pub)]
#![allow(dead_code)]

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use ipnet::IpNet;
use ironlb_config::Community;
use ironlb_lab::{Family, Neighbor, Netns, Router, Session};
use ironlb_speaker::bgp::{PeerSpec, Route, RouteAttrs};

/// Our AS and the router's in the interop tests.
pub const OUR_AS: u32 = 64512;
pub const ROUTER_AS: u32 = 64500;
/// The host routes the interop tests announce.
pub const V4: &str = "198.51.100.10/32";
pub const V6: &str = "2001:db8:ffff::10/128";
/// How long a router gets to reach the expected state.
pub const T: Duration = Duration::from_secs(30);

/// Our side of a session to `peer` from `source`.
pub fn spec(peer: &str, source: &str, peer_as: u32) -> PeerSpec {
    let mut s = PeerSpec::new(
        OUR_AS,
        peer_as,
        SocketAddr::new(peer.parse().unwrap(), 179),
        Ipv4Addr::new(192, 0, 2, 2),
    );
    s.source = Some(source.parse().unwrap());
    s
}

/// A route with these communities and local-pref.
pub fn route(p: &str, communities: &[Community], local_pref: Option<u32>) -> Route {
    Route::new(
        p.parse().unwrap(),
        RouteAttrs {
            communities: communities.iter().copied().collect(),
            local_pref,
        },
    )
}

/// Router side addresses.
pub const R4: &str = "192.0.2.1";
pub const R6: &str = "2001:db8:1::1";
/// Speaker side addresses (two of each, for tests needing two sessions).
pub const S4: &str = "192.0.2.2";
pub const S4B: &str = "192.0.2.3";
pub const S6: &str = "2001:db8:1::2";
pub const S6B: &str = "2001:db8:1::3";

/// The router side of an interop test: AS `asn`, router id [`R4`], these neighbors.
pub fn router(asn: u32, neighbors: Vec<Neighbor>) -> Router {
    Router {
        asn,
        router_id: R4.parse().unwrap(),
        groups: Vec::new(),
        neighbors,
    }
}

/// A neighbor of the router: our speaker at `addr` in [`OUR_AS`], seen from the router's
/// `local`; passive, both families, the router learning and telling nothing.
pub fn peer(name: &str, local: &str, addr: &str) -> Neighbor {
    Neighbor {
        name: name.into(),
        address: addr.parse().unwrap(),
        local: Some(local.parse().unwrap()),
        session: Session::new(OUR_AS, &[Family::Ipv4, Family::Ipv6]).passive(),
    }
}

/// Names and paths of one lab, the same in the parent and the child.
#[derive(Debug, Clone)]
pub struct Names {
    pub tag: String,
    /// The pid of the test process that made the lab.
    pub run: u32,
    pub speaker_ns: String,
    pub router_ns: String,
    pub dir: PathBuf,
}

impl Names {
    pub fn new(tag: &str, run: u32) -> Self {
        assert!(tag.len() <= 4, "tag too long for interface names");
        Self {
            tag: tag.into(),
            run,
            speaker_ns: format!("ilbt-bgp-{tag}-{run}-s"),
            router_ns: format!("ilbt-bgp-{tag}-{run}-r"),
            dir: PathBuf::from(format!("/tmp/ilbt-bgp-{tag}-{run}")),
        }
    }

    pub fn bird_sock(&self) -> PathBuf {
        self.dir.join("bird.ctl")
    }

    /// Runs `birdc` against the lab's BIRD.
    pub fn birdc(&self, args: &str) -> String {
        let mut c = Command::new("birdc");
        c.arg("-s").arg(self.bird_sock());
        c.args(args.split_whitespace());
        output(c)
    }

    /// Runs a command in the router namespace, returns its stdout.
    pub fn in_router(&self, cmd: &[&str]) -> String {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.router_ns]).args(cmd);
        output(c)
    }

    /// Starts BIRD (daemonised, pid file in the lab dir) with `conf`.
    pub fn start_bird(&self, conf: &str) {
        let path = self.dir.join("bird.conf");
        std::fs::write(&path, conf).expect("write bird.conf");
        let _ = std::fs::remove_file(self.bird_sock());
        run(&[
            "ip",
            "netns",
            "exec",
            &self.router_ns,
            "bird",
            "-c",
            path.to_str().unwrap_or_default(),
            "-s",
            self.bird_sock().to_str().unwrap_or_default(),
            "-P",
            self.dir.join("bird.pid").to_str().unwrap_or_default(),
        ]);
        eventually(Duration::from_secs(10), || {
            let s = self.birdc("show status");
            s.contains("Daemon is up").then_some(()).ok_or(s)
        });
    }

    /// Stops the lab's BIRD by its pid and waits until it is gone.
    pub fn stop_bird(&self) {
        self.kill_pidfile("bird.pid", "TERM");
    }

    /// Sends `sig` to the daemon whose pid is in `file`; for TERM, waits for it to exit.
    pub fn kill_pidfile(&self, file: &str, sig: &str) {
        let Ok(pid) = std::fs::read_to_string(self.dir.join(file)) else {
            return;
        };
        let pid = pid.trim().to_string();
        if pid.is_empty() {
            return;
        }
        let _ = Command::new("kill")
            .args([&format!("-{sig}"), &pid])
            .status();
        if sig == "TERM" {
            let deadline = Instant::now() + Duration::from_secs(10);
            while PathBuf::from(format!("/proc/{pid}")).exists() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = std::fs::remove_file(self.dir.join(file));
        }
    }

    /// Starts a daemon in the router namespace in the background, pid in `pidfile`.
    pub fn spawn_in_router(&self, cmd: &[&str], pidfile: &str, log: &str) {
        self.spawn_in(&self.router_ns, cmd, pidfile, log);
    }

    /// Starts a daemon in namespace `ns` in the background, pid in `pidfile`.
    pub fn spawn_in(&self, ns: &str, cmd: &[&str], pidfile: &str, log: &str) {
        let log = std::fs::File::create(self.dir.join(log)).expect("log file");
        let err = log.try_clone().expect("log file");
        let child = Command::new("ip")
            .args(["netns", "exec", ns])
            .args(cmd)
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(err)
            .spawn()
            .expect("spawn daemon");
        // `ip netns exec` execs the command, so this is the daemon's own pid.
        std::fs::write(self.dir.join(pidfile), child.id().to_string()).expect("pid file");
        // Reaped by the kernel when the test process exits; we kill it by pid.
        std::mem::forget(child);
    }
}

/// The topology, torn down on drop: daemons first (by their pid files), then the directory,
/// then the namespaces (their [`Netns`] guards).
pub struct Lab {
    pub names: Names,
    daemons: Vec<&'static str>,
    _speaker: Netns,
    _router: Netns,
}

impl Lab {
    /// Creates the namespaces, the veth pair and the addresses.
    pub fn new(tag: &str) -> Self {
        needs_root();
        let names = Names::new(tag, std::process::id());
        let daemons = vec![
            "bird.pid",
            "gobgpd.pid",
            "frr.pid",
            "bgpd.pid",
            "bfdd.pid",
            "zebra.pid",
            "fake.pid",
        ];
        // A directory left by an earlier run that had this pid.
        let _ = std::fs::remove_dir_all(&names.dir);
        std::fs::create_dir_all(&names.dir).expect("lab dir");
        let s = Netns::add(&names.speaker_ns).expect("speaker namespace");
        let r = Netns::add(&names.router_ns).expect("router namespace");
        let sif = format!("ilbt-bgp-{tag}s");
        let rif = format!("ilbt-bgp-{tag}r");
        s.veth(&sif, &r, &rif).expect("veth");
        for (ns, ifc, addrs) in [(&s, &sif, vec![S4, S4B, S6, S6B]), (&r, &rif, vec![R4, R6])] {
            for a in addrs {
                let ip: IpAddr = a.parse().expect("address");
                let len = if ip.is_ipv6() { 64 } else { 24 };
                ns.add_addr(ifc, IpNet::new(ip, len).expect("prefix length"))
                    .expect("address");
            }
            ns.up(ifc).expect("link up");
        }
        Lab {
            names,
            daemons,
            _speaker: s,
            _router: r,
        }
    }

    /// Re-runs the test `name` inside the speaker namespace and asserts that
    /// it ran there and passed.
    pub fn run_child(&self, name: &str) {
        let exe = std::env::current_exe().expect("test binary");
        let out_path = self.names.dir.join("child.out");
        let out = std::fs::File::create(&out_path).expect("child output file");
        let mut child = Command::new("ip")
            .args(["netns", "exec", &self.names.speaker_ns])
            .arg(exe)
            .args([
                "--exact",
                name,
                "--include-ignored",
                "--nocapture",
                "--test-threads",
                "1",
            ])
            .env(
                "ILBT_BGP_CHILD",
                format!("{}:{}", self.names.tag, self.names.run),
            )
            .stdout(out)
            .spawn()
            .expect("spawn child test");
        let deadline = Instant::now() + Duration::from_secs(240);
        let status = loop {
            if let Some(status) = child.try_wait().expect("wait child") {
                break status;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!("speaker side of {name} timed out");
            }
            std::thread::sleep(Duration::from_millis(100));
        };
        let out = std::fs::read_to_string(&out_path).unwrap_or_default();
        println!("{out}");
        assert!(status.success(), "speaker side of {name} failed: {status}");
        assert!(
            out.contains("test result: ok. 1 passed"),
            "speaker side of {name} did not run"
        );
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for d in &self.daemons {
            self.names.kill_pidfile(d, "KILL");
            self.names.kill_pidfile(d, "TERM");
        }
        let _ = std::fs::remove_dir_all(&self.names.dir);
    }
}

/// `Some(names)` when this process is the speaker-side child of test `tag`.
pub fn child(tag: &str) -> Option<Names> {
    match std::env::var("ILBT_BGP_CHILD") {
        Ok(v) => match v.split_once(':') {
            Some((t, run)) if t == tag => Some(Names::new(tag, run.parse().ok()?)),
            _ => None,
        },
        _ => None,
    }
}

/// Fails the test unless it runs as root (namespaces need it).
pub fn needs_root() {
    let uid = output({
        let mut c = Command::new("id");
        c.arg("-u");
        c
    });
    assert_eq!(uid.trim(), "0", "needs root");
}

/// Runs a command, panics with its output when it fails.
pub fn run(cmd: &[&str]) {
    let out = Command::new(cmd[0])
        .args(&cmd[1..])
        .output()
        .expect("spawn command");
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn output(mut c: Command) -> String {
    match c.output() {
        Ok(o) => {
            let mut s = String::from_utf8_lossy(&o.stdout).into_owned();
            s.push_str(&String::from_utf8_lossy(&o.stderr));
            s
        }
        Err(e) => format!("cannot run {c:?}: {e}"),
    }
}

/// Polls `f` every 200 ms until it returns `Ok` or `timeout` passes.
pub fn eventually<T>(timeout: Duration, mut f: impl FnMut() -> Result<T, String>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        match f() {
            Ok(v) => return v,
            Err(e) if Instant::now() > deadline => panic!("condition not met in {timeout:?}: {e}"),
            Err(_) => std::thread::sleep(Duration::from_millis(200)),
        }
    }
}

/// Holds for the whole of `period`: polls `f` and panics the first time it fails.
pub fn always(period: Duration, mut f: impl FnMut() -> Result<(), String>) {
    let deadline = Instant::now() + period;
    while Instant::now() < deadline {
        if let Err(e) = f() {
            panic!("condition broken: {e}");
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// A tokio runtime for the speaker side; its workers keep the sessions
/// running while the test thread blocks in [`eventually`].
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("tokio runtime")
}
