//! `ironlb-controller`: parse flags, build the context, run.

use std::net::SocketAddr;

use anyhow::Context as _;
use clap::Parser;
use ironlb_controller::events::Publisher;
use ironlb_controller::metrics::Metrics;
use ironlb_controller::request::Classes;
use ironlb_controller::run::{Context, Settings};
use ironlb_controller::{leader, run};
use tracing_subscriber::EnvFilter;

/// Gives LoadBalancer Services their external IPs.
#[derive(Debug, Parser)]
#[command(version)]
struct Flags {
    /// IronLB's namespace (ConfigMap, Lease, Events about the config).
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
    /// Serve only Services of `--lb-class`, not those without a class (for running a
    /// second, independent instance).
    #[arg(long)]
    only_lb_class: bool,
    /// Address for /metrics, /healthz and /readyz.
    #[arg(long, default_value = "0.0.0.0:7472")]
    metrics_addr: SocketAddr,
    /// Lease used to elect the leader.
    #[arg(long, default_value = "ironlb-controller")]
    lease_name: String,
}

// One thread: the work is one state machine plus I/O waits, and a single thread keeps
// memory (allocator arenas, stacks) small.
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
    let identity = std::env::var("POD_NAME").unwrap_or_else(|_| {
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
        format!("{}-{}", host.trim(), std::process::id())
    });
    tracing::info!(%identity, namespace = %flags.namespace, "starting");

    let client = kube::Client::try_default()
        .await
        .context("building the Kubernetes client")?;
    let metrics = Metrics::new().context("registering metrics")?;
    let (ready_tx, ready_rx) = tokio::sync::watch::channel(false);
    let readiness = ironlb_k8s::http::Readiness::Flag {
        ready: ready_rx,
        waiting_for: "waiting for config and the Service list",
    };
    let server = tokio::spawn(ironlb_k8s::http::serve(
        flags.metrics_addr,
        metrics.registry().clone(),
        Some(readiness),
    ));
    let (leader, campaign) = leader::campaign(
        client.clone(),
        &flags.namespace,
        &flags.lease_name,
        &identity,
    )
    .await
    .context("starting leader election")?;
    let ctx = Context {
        publisher: Publisher::new(
            client.clone(),
            &identity,
            &flags.namespace,
            &flags.config_name,
            metrics.events.clone(),
        ),
        client,
        metrics,
        settings: Settings {
            namespace: flags.namespace,
            config_name: flags.config_name,
            metallb_namespace: Some(flags.metallb_namespace).filter(|ns| !ns.is_empty()),
            classes: Classes {
                ours: flags.lb_class,
                classless: !flags.only_lb_class,
            },
        },
        ready: ready_tx,
    };
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("installing the SIGTERM handler")?;
    tokio::select! {
        _ = term.recv() => tracing::info!("terminated, exiting"),
        r = run::run(ctx, leader) => r.context("controller stopped")?,
        r = server => r.context("metrics server task")?.context("metrics server")?,
        r = tokio::signal::ctrl_c() => {
            r.context("waiting for a signal")?;
            tracing::info!("interrupted, exiting");
        }
    }
    // The controller loop (and with it the leader receiver) is gone: let the campaign
    // release the Lease so another replica takes over at once.
    match tokio::time::timeout(std::time::Duration::from_secs(3), campaign).await {
        Ok(Ok(Ok(_))) => tracing::info!("lease released"),
        Ok(Ok(Err(e))) => tracing::warn!(error = %e, "releasing the lease failed"),
        Ok(Err(e)) => tracing::warn!(error = %e, "lease task failed"),
        Err(_) => tracing::warn!("lease not released within 3 s"),
    }
    Ok(())
}
