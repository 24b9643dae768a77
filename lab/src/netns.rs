//! Network namespaces, veth pairs, bridges and addresses, made by running `ip` (as the lab's
//! scripts do), and the processes started in them.
//!
//! Invariant: a [`Netns`] deletes its namespace when dropped, also when a test panics, and a
//! [`Daemon`] kills and reaps its process; nothing here touches a namespace it did not create
//! (except [`Netns::replace`], which deletes a leftover of the very name it is given). Veths are
//! created inside a namespace with their peer in another, so the root namespace never sees
//! either end.
use std::fs::File;
use std::net::IpAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};

use ipnet::IpNet;

/// A command that could not run or failed.
#[derive(Debug, thiserror::Error)]
pub enum NetnsError {
    /// The program could not be started.
    #[error("cannot run {cmd}: {source}")]
    Spawn {
        /// The command line.
        cmd: String,
        /// Why.
        source: std::io::Error,
    },
    /// It ran and failed.
    #[error("{cmd} failed ({status}): {stderr}")]
    Failed {
        /// The command line.
        cmd: String,
        /// Its exit status.
        status: std::process::ExitStatus,
        /// What it said on stderr.
        stderr: String,
    },
    /// It ran but did not say what was asked.
    #[error("{cmd} said {output:?}, not what was asked")]
    Unexpected {
        /// The command line.
        cmd: String,
        /// What it said.
        output: String,
    },
    /// A log file for a daemon could not be made.
    #[error("log file {path}: {source}")]
    Log {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
}

fn line(cmd: &Command) -> String {
    let mut s = cmd.get_program().to_string_lossy().into_owned();
    for a in cmd.get_args() {
        s.push(' ');
        s.push_str(&a.to_string_lossy());
    }
    s
}

/// Runs `cmd` to completion; its stdout when it succeeds.
pub fn run(cmd: &mut Command) -> Result<String, NetnsError> {
    let out = cmd.output().map_err(|source| NetnsError::Spawn {
        cmd: line(cmd),
        source,
    })?;
    if !out.status.success() {
        return Err(NetnsError::Failed {
            cmd: line(cmd),
            status: out.status,
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Runs `ip ARGS`.
pub fn ip(args: &[&str]) -> Result<String, NetnsError> {
    run(Command::new("ip").args(args))
}

/// Whether a namespace called `name` exists.
pub fn exists(name: &str) -> bool {
    Path::new("/run/netns").join(name).exists()
}

/// A network namespace this process made, with `lo` up; deleted on drop.
#[derive(Debug)]
pub struct Netns {
    name: String,
}

impl Netns {
    /// Makes namespace `name` (it must not exist) and brings up its `lo`.
    pub fn add(name: &str) -> Result<Netns, NetnsError> {
        ip(&["netns", "add", name])?;
        let ns = Netns {
            name: name.to_owned(),
        };
        ns.up("lo")?;
        Ok(ns)
    }

    /// Like [`Netns::add`], after deleting a namespace of the same name left by an earlier,
    /// killed run. Only for names this caller owns (a test's own `ilbt-*` names).
    pub fn replace(name: &str) -> Result<Netns, NetnsError> {
        if exists(name) {
            let _ = ip(&["netns", "del", name]);
        }
        Netns::add(name)
    }

    /// Its name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Runs `ip -n NAME ARGS`.
    pub fn ip(&self, args: &[&str]) -> Result<String, NetnsError> {
        run(Command::new("ip").arg("-n").arg(&self.name).args(args))
    }

    /// A command running `program` in the namespace (`ip netns exec NAME program`; the
    /// program is exec'd, so a spawned child's pid is the program's).
    pub fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.name]).arg(program);
        c
    }

    /// Runs `args` in the namespace; its stdout.
    pub fn exec(&self, args: &[&str]) -> Result<String, NetnsError> {
        let (program, rest) = args
            .split_first()
            .map_or(("true", &[][..]), |(p, r)| (*p, r));
        run(self.command(program).args(rest))
    }

    /// Sets sysctls (`KEY=VALUE`) in the namespace.
    pub fn sysctl(&self, settings: &[&str]) -> Result<(), NetnsError> {
        let mut args = vec!["sysctl", "-qw"];
        args.extend_from_slice(settings);
        self.exec(&args).map(drop)
    }

    /// A veth pair: `ifname` here, `peer_ifname` in `peer`; both down.
    pub fn veth(&self, ifname: &str, peer: &Netns, peer_ifname: &str) -> Result<(), NetnsError> {
        self.ip(&[
            "link",
            "add",
            ifname,
            "type",
            "veth",
            "peer",
            "name",
            peer_ifname,
            "netns",
            peer.name(),
        ])
        .map(drop)
    }

    /// A bridge `name` without STP or forwarding delay, up.
    pub fn bridge(&self, name: &str) -> Result<(), NetnsError> {
        self.ip(&[
            "link",
            "add",
            name,
            "type",
            "bridge",
            "stp_state",
            "0",
            "forward_delay",
            "0",
        ])?;
        self.up(name)
    }

    /// Puts `ifname` on `bridge` and brings it up.
    pub fn attach(&self, ifname: &str, bridge: &str) -> Result<(), NetnsError> {
        self.ip(&["link", "set", ifname, "master", bridge, "up"])
            .map(drop)
    }

    /// Brings `ifname` up.
    pub fn up(&self, ifname: &str) -> Result<(), NetnsError> {
        self.ip(&["link", "set", ifname, "up"]).map(drop)
    }

    /// Takes `ifname` down.
    pub fn down(&self, ifname: &str) -> Result<(), NetnsError> {
        self.ip(&["link", "set", ifname, "down"]).map(drop)
    }

    /// Adds `addr` to `ifname`; IPv6 without duplicate address detection, so it is usable
    /// at once.
    pub fn add_addr(&self, ifname: &str, addr: IpNet) -> Result<(), NetnsError> {
        let a = addr.to_string();
        match addr {
            IpNet::V4(_) => self.ip(&["addr", "add", &a, "dev", ifname]),
            IpNet::V6(_) => self.ip(&["addr", "add", &a, "dev", ifname, "nodad"]),
        }
        .map(drop)
    }

    /// A default route via `gw` (of its family).
    pub fn default_route(&self, gw: IpAddr) -> Result<(), NetnsError> {
        let g = gw.to_string();
        match gw {
            IpAddr::V4(_) => self.ip(&["route", "add", "default", "via", &g]),
            IpAddr::V6(_) => self.ip(&["-6", "route", "add", "default", "via", &g]),
        }
        .map(drop)
    }

    /// The MAC address of `ifname`, lower case.
    pub fn mac(&self, ifname: &str) -> Result<String, NetnsError> {
        let out = self.ip(&["-br", "link", "show", ifname])?;
        out.split_whitespace()
            .nth(2)
            .map(str::to_lowercase)
            .ok_or_else(|| NetnsError::Unexpected {
                cmd: format!("ip -n {} -br link show {ifname}", self.name),
                output: out.clone(),
            })
    }

    /// Starts `args` in the namespace in the background, stdin closed, stdout and stderr to
    /// `log`; killed when the returned guard drops.
    pub fn spawn(&self, args: &[&str], log: &Path) -> Result<Daemon, NetnsError> {
        let file = |source| NetnsError::Log {
            path: log.display().to_string(),
            source,
        };
        let out = File::create(log).map_err(file)?;
        let err = out.try_clone().map_err(file)?;
        let (program, rest) = args
            .split_first()
            .map_or(("true", &[][..]), |(p, r)| (*p, r));
        let mut cmd = self.command(program);
        cmd.args(rest).stdin(Stdio::null()).stdout(out).stderr(err);
        let child = cmd.spawn().map_err(|source| NetnsError::Spawn {
            cmd: line(&cmd),
            source,
        })?;
        Ok(Daemon { child })
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .stderr(Stdio::null())
            .status();
    }
}

/// A process started by [`Netns::spawn`]; killed (SIGKILL) and reaped on drop.
#[derive(Debug)]
pub struct Daemon {
    child: Child,
}

impl Daemon {
    /// Its pid.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Whether it is still running.
    pub fn running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn root() -> bool {
        run(Command::new("id").arg("-u")).is_ok_and(|u| u.trim() == "0")
    }

    #[test]
    fn a_failing_command_says_what_it_ran() {
        let err = run(Command::new("sh").args(["-c", "echo nope >&2; exit 3"])).unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.starts_with("sh -c echo nope >&2; exit 3 failed"),
            "{msg}"
        );
        assert!(msg.ends_with(": nope"), "{msg}");
        assert!(matches!(
            run(&mut Command::new("/nonexistent/ironlb")),
            Err(NetnsError::Spawn { .. })
        ));
    }

    /// Two namespaces, a veth between them, addresses, a ping; all gone after the drop.
    #[test]
    fn namespaces_and_veths_are_made_and_removed() {
        if !root() {
            eprintln!("skipped: needs root");
            return;
        }
        let (a_name, b_name) = (
            format!("ilbt-lab-{}-a", std::process::id()),
            format!("ilbt-lab-{}-b", std::process::id()),
        );
        {
            let a = Netns::add(&a_name).unwrap();
            let b = Netns::add(&b_name).unwrap();
            assert!(exists(&a_name) && exists(&b_name));
            a.veth("va", &b, "vb").unwrap();
            a.bridge("br0").unwrap();
            a.add_addr("va", "192.0.2.1/24".parse().unwrap()).unwrap();
            a.add_addr("va", "2001:db8:1::1/64".parse().unwrap())
                .unwrap();
            b.add_addr("vb", "192.0.2.2/24".parse().unwrap()).unwrap();
            a.up("va").unwrap();
            b.up("vb").unwrap();
            b.default_route("192.0.2.1".parse().unwrap()).unwrap();
            assert_eq!(a.mac("va").unwrap().len(), 17);
            b.exec(&["ping", "-c", "1", "-W", "5", "192.0.2.1"])
                .unwrap();
            let mut d = b
                .spawn(
                    &["sleep", "60"],
                    &std::env::temp_dir().join(format!("{b_name}.log")),
                )
                .unwrap();
            assert!(d.running());
            assert!(
                Netns::add(&a_name).is_err(),
                "a second namespace of one name"
            );
        }
        assert!(!exists(&a_name) && !exists(&b_name));
        let _ = std::fs::remove_file(std::env::temp_dir().join(format!("{b_name}.log")));
    }
}
