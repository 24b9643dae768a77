//! `ironlb lab ...`: the lab, a real Kubernetes cluster (control plane, kubelets, containerd,
//! kube-proxy) on a LAN of network namespaces on this machine, with IronLB installed from its
//! image and `deploy/`.
//!
//! The work is done by bash scripts embedded in this binary (`cli/lab/*.sh`), so `ironlb` works
//! from any directory: this module only parses the command line, names the checkout's `deploy/`
//! and IronLB image (`IRONLB_DEPLOY_DIR`, `IRONLB_IMAGE_LAYOUT` override them) and runs
//! `bash -c SCRIPT`. The script prints progress and errors on stderr and, for `up` and `env`,
//! `export NAME=VALUE` lines on stdout. The router's configs are not the script's: they are
//! rendered here from the typed topology (`ironlb-lab`) and handed to it in the environment.
use anyhow::Context as _;
use clap::{Subcommand, ValueEnum};
use ironlb_lab::{Prefix, Topology};
use std::path::PathBuf;
use std::process::Command;

/// The lab script: its parts (functions) first, `lab.sh` (settings, commands, `main`) last.
const LAB_SH: &str = concat!(
    include_str!("../lab/network.sh"),
    include_str!("../lab/cluster.sh"),
    include_str!("../lab/images.sh"),
    include_str!("../lab/routers.sh"),
    include_str!("../lab/lab.sh"),
);
const BUILD_SH: &str = include_str!("../lab/build-control-plane.sh");
/// The checkout this binary was built from: its `deploy/` is what the lab installs.
const CHECKOUT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/..");

/// Subcommands of `ironlb lab`.
#[derive(Subcommand)]
pub enum LabCommand {
    /// Bring the lab up (needs root); prints `export` lines, so `eval "$(ironlb lab up)"` works.
    /// Safe to run when a lab is already up: then it only prints the exports.
    Up {
        /// Number of node hosts (namespaces ilb-node1..N, also the Node names).
        #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u8).range(1..=8))]
        nodes: u8,
        /// The BGP router on the LAN.
        #[arg(long, value_enum, default_value_t = Router::Bird)]
        router: Router,
        /// How IronLB is installed into the cluster, as the README says.
        #[arg(long, value_enum, default_value_t = Installer::Kustomize)]
        install: Installer,
    },
    /// Remove everything the lab made: processes, namespaces, interfaces, files.
    Down,
    /// Print the `export` lines of the running lab.
    Env {
        /// The same exports as one JSON object.
        #[arg(long)]
        json: bool,
    },
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
    /// Load IronLB's image (`deploy/image/build.sh` makes it; `IRONLB_IMAGE_LAYOUT`
    /// overrides where from) into every node and restart the speaker DaemonSet and the
    /// controller Deployment on it, through the shipped manifests; waits until ready.
    Rollout,
    /// Build Helm from its Go module into the lab's cache, once, and print its path (the lab
    /// exports it as `IRONLB_LAB_HELM`).
    Helm,
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
    /// Every replica of the IronLB controller Deployment (scaled to 0, then back).
    Controller,
    /// The kube-apiserver (etcd keeps running; started again on the same port).
    Apiserver,
    /// The IronLB speaker pod of one node (kept off it with the label `ironlb.io/speaker=false`).
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
    /// FRR (zebra + bfdd + bgpd).
    Frr,
    /// No router.
    None,
}

/// How the lab installs IronLB.
#[derive(Clone, Copy, ValueEnum)]
pub enum Installer {
    /// `kubectl apply -k deploy/`, the memberlist Secret and the example config.
    Kustomize,
    /// `helm install` of `deploy/helm/ironlb`, the example config as its `config` value.
    Helm,
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
            LabCommand::Up {
                nodes,
                router,
                install,
            } => {
                let name = |v: Option<clap::builder::PossibleValue>| {
                    v.map(|v| v.get_name().to_owned()).unwrap_or_default()
                };
                vec![
                    "up".to_owned(),
                    "--nodes".to_owned(),
                    nodes.to_string(),
                    "--router".to_owned(),
                    name(router.to_possible_value()),
                    "--install".to_owned(),
                    name(install.to_possible_value()),
                ]
            }
            LabCommand::Down => vec!["down".to_owned()],
            LabCommand::Env { json: false } => vec!["env".to_owned()],
            LabCommand::Env { json: true } => vec!["env".to_owned(), "--json".to_owned()],
            LabCommand::Install => vec!["install".to_owned()],
            LabCommand::Rollout => vec!["rollout".to_owned()],
            LabCommand::Helm => vec!["helm".to_owned()],
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

/// `name` from the environment, else `default`.
fn env_or(name: &str, default: &str) -> std::ffi::OsString {
    std::env::var_os(name).unwrap_or_else(|| default.into())
}

/// The lab router's configs for the script: `(variable, config)` for BIRD, GoBGP and FRR, for
/// the lab whose state directory and name prefix the script will use (`IRONLB_LAB_STATE`,
/// `IRONLB_LAB_PREFIX`, same defaults; a bad prefix is the script's to report).
fn router_confs() -> anyhow::Result<[(&'static str, String); 3]> {
    let state = PathBuf::from(env_or("IRONLB_LAB_STATE", "/run/ironlb-lab"));
    let prefix = std::env::var("IRONLB_LAB_PREFIX")
        .ok()
        .and_then(|p| Prefix::new(&p).ok())
        .unwrap_or_default();
    let topology = Topology::new(prefix, 1)?;
    Ok([
        ("IRONLB_LAB_BIRD_CONF", Topology::router_bird_conf(&state)),
        ("IRONLB_LAB_GOBGP_CONF", Topology::router_gobgp_conf()?),
        ("IRONLB_LAB_FRR_CONF", topology.router_frr_conf(&state)?),
    ])
}

/// Runs a lab subcommand; returns the process exit code.
pub fn run(cmd: LabCommand) -> anyhow::Result<u8> {
    let mut bash = Command::new("bash");
    bash.arg("-c")
        .arg(LAB_SH)
        .arg("ironlb-lab")
        .args(cmd.script_args())
        .env("IRONLB_LAB_BUILD_SCRIPT", BUILD_SH)
        .env(
            "IRONLB_LAB_DEPLOY_DIR",
            env_or("IRONLB_DEPLOY_DIR", &format!("{CHECKOUT}/deploy")),
        )
        .env(
            "IRONLB_LAB_IMAGE_LAYOUT",
            env_or(
                "IRONLB_IMAGE_LAYOUT",
                &format!("{CHECKOUT}/target/oci/ironlb"),
            ),
        );
    if let Some(dir) = component_dir() {
        bash.env("IRONLB_LAB_BIN", dir);
    }
    bash.envs(router_confs()?);
    let status = bash
        .status()
        .context("running bash for the lab script (is bash installed?)")?;
    // A signal has no code: report it as a failure.
    Ok(status.code().map_or(1, |c| u8::try_from(c).unwrap_or(1)))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What the script writes to `$STATE/bird.conf` etc.: the ironlb-lab renderings, which its
    /// tests pin to what routers.sh wrote before (byte for byte).
    #[test]
    fn the_script_gets_the_lab_router_configs() {
        let confs = router_confs().unwrap();
        let names: Vec<&str> = confs.iter().map(|(n, _)| *n).collect();
        assert_eq!(
            names,
            [
                "IRONLB_LAB_BIRD_CONF",
                "IRONLB_LAB_GOBGP_CONF",
                "IRONLB_LAB_FRR_CONF"
            ]
        );
        assert!(confs[0].1.contains("template bgp lab_node {"));
        assert!(confs[1].1.contains("[global.config]\n  as = 64500\n"));
        assert!(confs[2].1.contains("router bgp 64500\n"));
        // The script takes them and uses nothing else for the router.
        assert!(LAB_SH.contains("ROUTER_CONF_BIRD=${IRONLB_LAB_BIRD_CONF:-}"));
        assert!(LAB_SH.contains("router_conf bird >\"$STATE/bird.conf\""));
        assert!(!LAB_SH.contains("protocol bgp"));
        assert!(!LAB_SH.contains("[global.config]"));
        assert!(!LAB_SH.contains("router bgp"));
    }

    /// While network.sh and lab.sh still draw the LAN, they must draw the topology's LAN: the
    /// script's address functions (evaluated by bash) and fixed values against ironlb-lab's.
    #[test]
    fn the_script_draws_the_topology() {
        use ironlb_lab::topology::{MAX_NODES, NODE_ASN, Node, ROUTER_ASN};
        let script = format!(
            "{}\nfor i in $(seq 1 {MAX_NODES}); do echo \"$(node_v4 $i) $(node_v6 $i) $(pod_v4 $i) $(pod_v6 $i)\"; done",
            include_str!("../lab/network.sh")
        );
        let out = Command::new("bash").arg("-c").arg(script).output().unwrap();
        assert!(out.status.success(), "{out:?}");
        let want: String = (1..=MAX_NODES)
            .map(|i| {
                let n = Node::new(i).unwrap();
                let (h, (p4, p6)) = (n.host(), n.pods());
                format!("{} {} {p4} {p6}\n", h.v4, h.v6)
            })
            .collect();
        assert_eq!(String::from_utf8_lossy(&out.stdout), want);

        let (router, cp, client) = (
            Topology::router(),
            Topology::control_plane(),
            Topology::client(),
        );
        let (remote_r, remote) = (Topology::router_remote(), Topology::remote());
        let ((pods4, pods6), (svc4, svc6)) = (Topology::pod_cidrs(), Topology::service_cidrs());
        let k8s = Topology::kubernetes_service();
        let t = Topology::new(Prefix::default(), 1).unwrap();
        let spelled = [
            format!("addrs \"$NS_ROUTER\" eth0 {}/24 {}/64", router.v4, router.v6),
            format!("addrs \"$NS_ROUTER\" eth1 {}/26 {}/64", remote_r.v4, remote_r.v6),
            format!("addrs \"$NS_REMOTE\" eth0 {}/26 {}/64", remote.v4, remote.v6),
            format!("default_via \"$NS_REMOTE\" {} {}", remote_r.v4, remote_r.v6),
            format!("CP_V4={} CP_V6={}", cp.v4, cp.v6),
            format!("addrs \"$NS_CLIENT\" eth0 {}/24 {}/64", client.v4, client.v6),
            format!("default_via \"$NS_CLIENT\" {} {}", router.v4, router.v6),
            format!("POD_CIDRS={pods4},{pods6}"),
            format!("SERVICE_CIDRS={svc4},{svc6}"),
            format!("KUBERNETES_SVC_V4={} KUBERNETES_SVC_V6={}", k8s.v4, k8s.v6),
            format!("ROUTER_ASN={ROUTER_ASN} NODE_ASN={NODE_ASN}"),
            format!("local v4={} v6={}", router.v4, router.v6),
            format!("P=${{IRONLB_LAB_PREFIX:-{}}}", Prefix::default()),
            "NS_LAN=${P}lan NS_CLIENT=${P}client NS_ROUTER=${P}router NS_REMOTE=${P}remote NS_CP=${P}cp".to_owned(),
        ];
        for line in spelled {
            assert!(
                LAB_SH.contains(&line),
                "the lab script does not say {line:?}"
            );
        }
        assert_eq!(
            [
                t.lan_ns(),
                t.client_ns(),
                t.router_ns(),
                t.remote_ns(),
                t.cp_ns()
            ],
            [
                "ilb-lan",
                "ilb-client",
                "ilb-router",
                "ilb-remote",
                "ilb-cp"
            ]
        );
    }
}
