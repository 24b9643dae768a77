//! `ironlb lab ...`: the lab, a real etcd + kube-apiserver and a simulated LAN of network
//! namespaces on this machine.
//!
//! The work is done by bash scripts embedded in this binary (`cli/lab/*.sh`), so `ironlb` works
//! from any directory: this module only parses the command line, finds the component binaries
//! (next to `ironlb`, or in `IRONLB_BIN_DIR`) and runs `bash -c SCRIPT`. The script prints
//! progress and errors on stderr and, for `up` and `env`, `export NAME=VALUE` lines on stdout.
use anyhow::Context as _;
use clap::{Subcommand, ValueEnum};
use std::path::PathBuf;
use std::process::Command;

const LAB_SH: &str = include_str!("../lab/lab.sh");
const BUILD_SH: &str = include_str!("../lab/build-control-plane.sh");
const NAMESPACE_YAML: &str = include_str!("../../deploy/namespace.yaml");
const RBAC_YAML: &str = include_str!("../../deploy/rbac.yaml");
const CRDS_YAML: &str = include_str!("../../deploy/crds/nodeannouncement.yaml");

/// Subcommands of `ironlb lab`.
#[derive(Subcommand)]
pub enum LabCommand {
    /// Bring the lab up (needs root); prints `export` lines, so `eval "$(ironlb lab up)"` works.
    /// Safe to run when a lab is already up: then it only prints the exports.
    Up {
        /// Number of node hosts (namespaces ilb-node1..N, also the Node names).
        #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u8).range(1..=60))]
        nodes: u8,
        /// The BGP router on the LAN.
        #[arg(long, value_enum, default_value_t = Router::Bird)]
        router: Router,
    },
    /// Remove everything the lab made: processes, namespaces, interfaces, files.
    Down,
    /// Print the `export` lines of the running lab.
    Env,
    /// Install every Debian package the lab and the tests use (all three routers), if missing.
    Install,
    /// Stop a component: `controller`, `apiserver`, or `speaker NODE`.
    Stop {
        #[command(subcommand)]
        component: Component,
    },
    /// Start a component again: `controller`, `apiserver`, or `speaker NODE`.
    Start {
        #[command(subcommand)]
        component: Component,
    },
    /// Take a node's LAN link down or up (the cable between the node and the bridge).
    Link {
        /// Node name (`ilb-node1`; `node1` is accepted too).
        node: String,
        /// New state of the link.
        #[arg(value_enum)]
        state: LinkState,
    },
}

/// A lab component that can be stopped and started.
#[derive(Subcommand)]
pub enum Component {
    /// The `ironlb-controller` process (root namespace).
    Controller,
    /// The kube-apiserver (etcd keeps running; started again on the same port).
    Apiserver,
    /// The `ironlb-speaker` process of one node.
    Speaker {
        /// Node name (`ilb-node1`; `node1` is accepted too).
        node: String,
    },
}

/// The BGP router the lab runs.
#[derive(Clone, Copy, ValueEnum)]
pub enum Router {
    /// BIRD 2, installing learned routes with ECMP.
    Bird,
    /// GoBGP (routes stay in its RIB).
    Gobgp,
    /// FRR (zebra + bgpd).
    Frr,
    /// No router.
    None,
}

/// State of a node's LAN link.
#[derive(Clone, Copy, ValueEnum)]
pub enum LinkState {
    Down,
    Up,
}

impl LabCommand {
    /// The script's arguments for this command.
    fn script_args(&self) -> Vec<String> {
        let component = |verb: &str, c: &Component| match c {
            Component::Controller => vec![verb.to_owned(), "controller".to_owned()],
            Component::Apiserver => vec![verb.to_owned(), "apiserver".to_owned()],
            Component::Speaker { node } => {
                vec![verb.to_owned(), "speaker".to_owned(), node.clone()]
            }
        };
        match self {
            LabCommand::Up { nodes, router } => {
                let router = router.to_possible_value().map(|v| v.get_name().to_owned());
                vec![
                    "up".to_owned(),
                    "--nodes".to_owned(),
                    nodes.to_string(),
                    "--router".to_owned(),
                    router.unwrap_or_else(|| "bird".to_owned()),
                ]
            }
            LabCommand::Down => vec!["down".to_owned()],
            LabCommand::Env => vec!["env".to_owned()],
            LabCommand::Install => vec!["install".to_owned()],
            LabCommand::Stop { component: c } => component("stop", c),
            LabCommand::Start { component: c } => component("start", c),
            LabCommand::Link { node, state } => {
                let state = match state {
                    LinkState::Down => "down",
                    LinkState::Up => "up",
                };
                vec!["link".to_owned(), node.clone(), state.to_owned()]
            }
        }
    }
}

/// Where `ironlb-controller` and `ironlb-speaker` are looked for: `IRONLB_BIN_DIR`, else the
/// directory of this binary.
fn component_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("IRONLB_BIN_DIR") {
        return Some(PathBuf::from(dir));
    }
    let exe = std::env::current_exe().ok()?;
    exe.parent().map(PathBuf::from)
}

/// Runs a lab subcommand; returns the process exit code.
pub fn run(cmd: LabCommand) -> anyhow::Result<u8> {
    let mut bash = Command::new("bash");
    bash.arg("-c")
        .arg(LAB_SH)
        .arg("ironlb-lab")
        .args(cmd.script_args())
        .env("IRONLB_LAB_BUILD_SCRIPT", BUILD_SH)
        .env("IRONLB_LAB_NAMESPACE_YAML", NAMESPACE_YAML)
        .env("IRONLB_LAB_RBAC_YAML", RBAC_YAML)
        .env("IRONLB_LAB_CRDS_YAML", CRDS_YAML);
    if let Some(dir) = component_dir() {
        bash.env("IRONLB_LAB_BIN", dir);
    }
    let status = bash
        .status()
        .context("running bash for the lab script (is bash installed?)")?;
    // A signal has no code: report it as a failure.
    Ok(status.code().map_or(1, |c| u8::try_from(c).unwrap_or(1)))
}
