//! `ironlb-speaker`: parse flags, build the context, run.
#![forbid(unsafe_code)]

use anyhow::Context as _;
use clap::Parser;
use ironlb_speaker::bgp::{self, BgpMetrics};
use ironlb_speaker::gossip::detector::Timing;
use ironlb_speaker::k8s::announcement_writer::NodeAnnouncementWriter;
use ironlb_speaker::k8s::gossip_setup;
use ironlb_speaker::l2::{self, L2Options};
use ironlb_speaker::metrics::Metrics;
use ironlb_speaker::run::{self, Settings};
use std::net::SocketAddr;
use std::time::Duration;
use tracing_subscriber::EnvFilter;

/// How long an exiting speaker tries to clear its NodeAnnouncement.
const CLEAR_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

/// Announces LoadBalancer IPs from this node: ARP/NDP answers for the IPs it wins.
#[derive(Debug, Parser)]
#[command(version)]
struct Flags {
    /// This node's name.
    #[arg(long, env = "NODE_NAME")]
    node_name: String,
    /// IronLB's namespace (ConfigMap).
    #[arg(long, env = "IRONLB_NAMESPACE", default_value = "ironlb-system")]
    namespace: String,
    /// Name of the ConfigMap holding the config (under the key `config`).
    #[arg(long, default_value = "config")]
    config_name: String,
    /// MetalLB's namespace: its `metallb.io` objects there (IPAddressPool, L2Advertisement,
    /// ...) are read in place and merged with the ConfigMap's config; empty: never read.
    #[arg(
        long,
        env = "IRONLB_METALLB_NAMESPACE",
        default_value = "metallb-system"
    )]
    metallb_namespace: String,
    /// `loadBalancerClass` served, besides Services with no class.
    #[arg(long, default_value = "ironlb.io/ironlb")]
    lb_class: String,
    /// Address for /metrics, /healthz and /readyz.
    #[arg(long, default_value = "0.0.0.0:7472")]
    metrics_addr: SocketAddr,
    /// Interfaces to answer on (comma-separated); default: every suitable one.
    #[arg(long, value_delimiter = ',')]
    interfaces: Vec<String>,
    /// UDP port of the speakers' gossip.
    #[arg(long, default_value_t = ironlb_speaker::gossip::PORT)]
    gossip_port: u16,
    /// Re-announce every IP this often (seconds); 0 disables the periodic refresh.
    #[arg(long, default_value_t = 0)]
    refresh_secs: u64,
    /// Gossip: a heartbeat to the speakers that watch this one every this many
    /// milliseconds, on the gossip port + 1 (UDP); 0: none, probing alone detects failures.
    #[arg(long, default_value_t = default_ms(|t| t.heartbeat), value_parser = clap::value_parser!(u64).range(0..=5000))]
    gossip_heartbeat_interval_ms: u64,
    /// Gossip: how many speakers each one sends its heartbeats to (the next ones by name),
    /// and so how many watch it. Every speaker of a cluster should use the same.
    #[arg(long, default_value_t = Timing::default().heartbeat_fanout as u64, value_parser = clap::value_parser!(u64).range(1..=16))]
    gossip_heartbeat_fanout: u64,
    /// Gossip: probe a peer speaker every this many milliseconds.
    #[arg(long, default_value_t = default_ms(|t| t.probe_interval), value_parser = clap::value_parser!(u64).range(10..=5000))]
    gossip_probe_interval_ms: u64,
    /// Gossip: how long a suspicion stands before it is decided (milliseconds; longer in
    /// large clusters: 4 × log10(speakers) probe intervals at least).
    #[arg(long, default_value_t = default_ms(|t| t.suspicion), value_parser = clap::value_parser!(u64).range(10..=60000))]
    gossip_suspicion_ms: u64,
    /// Gossip: a suspect heard from within this many milliseconds is not declared down:
    /// the longest a live speaker may be silent (busy, datagrams lost) and keep its IPs.
    #[arg(long, default_value_t = default_ms(|t| t.silence), value_parser = clap::value_parser!(u64).range(10..=60000))]
    gossip_silence_ms: u64,
}

/// A default of [`Timing`] in milliseconds, for the flags.
fn default_ms(of: fn(&Timing) -> Duration) -> u64 {
    u64::try_from(of(&Timing::default()).as_millis()).unwrap_or(u64::MAX)
}

// One thread: the work is small and I/O-bound (the ARP/NDP receive loops have threads of
// their own), and every runtime worker would keep a malloc arena of its own (RSS, PERFORMANCE.md).
#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        // Colour only on a terminal: a pod's log goes to files and log pipelines.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .init();
    let flags = Flags::parse();
    anyhow::ensure!(!flags.node_name.is_empty(), "NODE_NAME must not be empty");
    tracing::info!(node = %flags.node_name, namespace = %flags.namespace, "starting");

    let metrics = Metrics::new().context("registering metrics")?;
    let (missing_tx, missing_rx) = tokio::sync::watch::channel(Some("starting".to_owned()));
    let server = tokio::spawn(ironlb_k8s::http::serve(
        flags.metrics_addr,
        metrics.registry().clone(),
        Some(ironlb_k8s::http::Readiness::Missing(missing_rx)),
    ));
    let client = kube::Client::try_default()
        .await
        .context("building the Kubernetes client")?;
    let (events_tx, events_rx) = tokio::sync::mpsc::channel(1024);
    let opts = L2Options {
        interfaces: flags.interfaces,
        refresh: (flags.refresh_secs > 0)
            .then(|| std::time::Duration::from_secs(flags.refresh_secs)),
        ..L2Options::default()
    };
    let (l2, mut l2_task) = l2::spawn(opts, metrics.l2.clone(), events_tx);
    let (elected_tx, elected_rx) = tokio::sync::watch::channel(false);
    tokio::spawn(ironlb_speaker::readiness::follow(
        elected_rx,
        l2.health(),
        missing_tx,
    ));
    let bgp = bgp::spawn(
        BgpMetrics::register(metrics.registry()).context("registering BGP metrics")?,
        metrics
            .announced_ips
            .with_label_values(&[flags.node_name.as_str(), "bgp"]),
    );
    let node_name = flags.node_name.clone();
    let settings = Settings {
        node_name: flags.node_name,
        namespace: flags.namespace,
        config_name: flags.config_name,
        metallb_namespace: Some(flags.metallb_namespace).filter(|ns| !ns.is_empty()),
        lb_class: flags.lb_class,
        gossip_port: flags.gossip_port,
        gossip_timing: Timing {
            heartbeat: Duration::from_millis(flags.gossip_heartbeat_interval_ms),
            // At most 16 (the parser's range): fits any usize.
            heartbeat_fanout: flags.gossip_heartbeat_fanout as usize,
            probe_interval: Duration::from_millis(flags.gossip_probe_interval_ms),
            suspicion: Duration::from_millis(flags.gossip_suspicion_ms),
            silence: Duration::from_millis(flags.gossip_silence_ms),
        },
    };
    let gossip_metrics = ironlb_speaker::gossip::GossipMetrics {
        refused: metrics.gossip_refused.clone(),
        verdicts: metrics.gossip_verdicts.clone(),
    };
    let gossip = gossip_setup::start_gossip(&client, &settings, gossip_metrics).await;
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("installing the SIGTERM handler")?;
    // Whatever ends the speaker, it withdraws and says goodbye before returning the cause.
    let outcome: anyhow::Result<()> = tokio::select! {
        _ = term.recv() => {
            tracing::info!("terminated, exiting");
            Ok(())
        }
        r = run::run(client.clone(), settings, metrics, run::Drivers {
            l2,
            l2_events: events_rx,
            gossip: gossip.as_ref().map(|g| &g.0),
            bgp: &bgp,
            elected: elected_tx,
        }) => r.context("speaker stopped"),
        r = server => r.context("metrics server task").and_then(|r| r.context("metrics server")),
        r = &mut l2_task => r.context("layer-2 responder task"),
        r = tokio::signal::ctrl_c() => r.context("waiting for a signal").map(|()| {
            tracing::info!("interrupted, exiting");
        }),
    };
    // Stop answering ARP/NDP first: a responder still running when the next owner announces
    // (after the goodbye below) takes its gratuitous ARP for a conflict and re-asserts,
    // pulling clients back to this dying node until their neighbour entries expire (seen
    // once: 3.1 s of failover instead of about 0.1 s).
    l2_task.abort();
    // Withdraw every BGP route and close the sessions with Cease before exiting; sessions
    // with graceful restart negotiated close silently, so the routers keep the routes until
    // the next speaker process reconnects (a rollout) or the restart time runs out.
    bgp.shutdown().await;
    // Show that this node announces nothing any more (best effort: the API may be down).
    let mut writer = NodeAnnouncementWriter::new(client, &node_name, None);
    match tokio::time::timeout(CLEAR_TIMEOUT, writer.clear()).await {
        Ok(Ok(_)) => {}
        Ok(Err(e)) => tracing::warn!(error = %e, "NodeAnnouncement not cleared"),
        Err(_) => tracing::warn!("NodeAnnouncement not cleared: the API did not answer in time"),
    }
    // Say goodbye so that peers take over at once rather than after failure detection.
    if let Some((g, task)) = gossip {
        g.leave(task).await;
    }
    outcome
}
