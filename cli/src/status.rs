//! `ironlb status`: who announces what, per LoadBalancer Service, or for one node.
//!
//! ```text
//!   API (thin reads) ──> Inputs ──> rows() / node_view() (pure) ──> table or JSON
//!     Services, NodeAnnouncements, Warning Events of Services, ConfigMap ironlb-system/config
//! ```
//! The view is built by pure functions over fixture-friendly inputs; every API failure becomes
//! one line saying what is wrong (unreachable, forbidden, IronLB not installed).

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::time::Duration;

use anyhow::{Context, anyhow};
use clap::{Args, ValueEnum};
use ironlb_config::{Config, Protocol};
use ironlb_k8s::node_announcement::{AnnounceMode, BgpSession, L2Conflict, NodeAnnouncement};
use ironlb_k8s::{ServiceKey, annotations};
use k8s_openapi::api::core::v1::{ConfigMap, Event, Namespace, Service};
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, ListParams};
use kube::{Client, Resource};
use serde::Serialize;

/// `ironlb status` flags.
#[derive(Args, Debug)]
pub(crate) struct StatusArgs {
    /// Output format.
    #[arg(long, short, value_enum, default_value_t = Output::Table)]
    output: Output,
    /// Show one node's view: what it announces and its BGP sessions.
    #[arg(long)]
    node: Option<String>,
    /// The namespace IronLB runs in.
    #[arg(long, env = "IRONLB_NAMESPACE", default_value = "ironlb-system")]
    namespace: String,
    /// The IronLB ConfigMap (key `config`).
    #[arg(long, default_value = "config")]
    config_map: String,
}

/// Output formats.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum Output {
    Table,
    Json,
}

/// Everything the view is built from, as read from the API.
#[derive(Debug, Default)]
pub(crate) struct Inputs {
    /// All Services (non-LoadBalancer ones are skipped).
    pub services: Vec<Service>,
    /// All NodeAnnouncements.
    pub announcements: Vec<NodeAnnouncement>,
    /// Warning Events about Services.
    pub events: Vec<Event>,
    /// The IronLB config in force, if it could be read and parsed.
    pub config: Option<Config>,
}

/// One node announcing one of a Service's IPs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct Announcer {
    /// The node.
    pub node: String,
    /// The IP it announces.
    pub ip: IpAddr,
    /// `layer2` or `bgp`.
    pub mode: AnnounceMode,
    /// Layer 2: the interface.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub interface: Option<String>,
    /// BGP: the peers.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub peers: Vec<IpAddr>,
    /// Layer 2: another MAC claims the IP, as the node reports it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub conflict: Option<ConflictCell>,
}

/// What a node reports of another MAC claiming an IP it answers for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ConflictCell {
    /// Claiming frames seen.
    pub count: u64,
    /// The MAC of the last claim.
    pub last_mac: String,
}

/// One LoadBalancer Service as `ironlb status` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct ServiceRow {
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
    /// IPs in the Service's status.
    pub ips: Vec<IpAddr>,
    /// Its pool: the annotation, else the config's pool holding its first IP.
    pub pool: Option<String>,
    /// The pool's protocol, else the mode announced.
    pub mode: Option<String>,
    /// Nodes announcing its IPs.
    pub announcers: Vec<Announcer>,
    /// Why it has no IP: the message of its latest Warning Event.
    pub reason: Option<String>,
}

/// One node's view (`--node`); JSON keys as in the NodeAnnouncement (`bgpSessions`).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct NodeView {
    /// The node.
    pub node: String,
    /// What it announces.
    pub announcements: Vec<ironlb_k8s::node_announcement::Announcement>,
    /// Its BGP sessions.
    pub bgp_sessions: Vec<BgpSession>,
    /// Layer 2: other MACs claiming IPs it answers for.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub conflicts: Vec<L2Conflict>,
}

/// The rows of the table: one per LoadBalancer Service, sorted by namespace/name.
pub(crate) fn rows(inputs: &Inputs) -> Vec<ServiceRow> {
    let mut out: Vec<ServiceRow> = inputs
        .services
        .iter()
        .filter(|s| s.spec.as_ref().and_then(|s| s.type_.as_deref()) == Some("LoadBalancer"))
        .map(|svc| row(svc, inputs))
        .collect();
    out.sort_by(|a, b| (&a.namespace, &a.name).cmp(&(&b.namespace, &b.name)));
    out
}

fn row(svc: &Service, inputs: &Inputs) -> ServiceRow {
    // As the NodeAnnouncement names it: `namespace/name`.
    let key = ServiceKey::of(svc);
    // Ingress entries that are not IPs (hostnames) are not ours to announce.
    let ips = ironlb_k8s::service::status_ips(svc);
    // One precedence with the controller (ironlb.io, metallb.io, metallb.universe.tf); where
    // spellings disagree the controller refuses the Service, and this shows the first.
    let pool_by_annotation =
        annotations::first(svc.metadata.annotations.as_ref(), annotations::ADDRESS_POOL);
    let pool_in_config = inputs
        .config
        .as_ref()
        .and_then(|c| ips.iter().find_map(|ip| c.pool_of(*ip)));
    let pool = pool_by_annotation.or_else(|| pool_in_config.map(|p| p.name.0.clone()));
    let shown_as = key.to_string();
    let mut announcers: Vec<Announcer> = Vec::new();
    for na in &inputs.announcements {
        let node = na.metadata.name.clone().unwrap_or_default();
        let Some(status) = &na.status else { continue };
        for a in &status.announcements {
            if !(ips.contains(&a.ip) || a.services.contains(&shown_as)) {
                continue;
            }
            let conflict = status
                .conflicts
                .iter()
                .find(|c| c.ip == a.ip)
                .map(|c| ConflictCell {
                    count: c.count,
                    last_mac: c.last_mac.clone(),
                });
            announcers.push(Announcer {
                node: node.clone(),
                ip: a.ip,
                mode: a.mode,
                interface: a.interface.clone(),
                peers: a.peers.clone(),
                conflict,
            });
        }
    }
    announcers.sort_by(|a, b| (a.ip, &a.node).cmp(&(b.ip, &b.node)));
    let pool_mode = pool
        .as_deref()
        .and_then(|p| inputs.config.as_ref()?.pool(p))
        .or(pool_in_config)
        .map(|p| match p.protocol {
            Protocol::Layer2 => "layer2",
            Protocol::Bgp => "bgp",
        });
    let announced_modes: BTreeSet<&str> = announcers.iter().map(|a| mode_name(a.mode)).collect();
    let mode = pool_mode
        .map(str::to_owned)
        .or_else(|| (!announced_modes.is_empty()).then(|| join(announced_modes.iter())));
    let reason = if ips.is_empty() {
        latest_warning(&inputs.events, &key.namespace, &key.name)
    } else {
        None
    };
    ServiceRow {
        namespace: key.namespace,
        name: key.name,
        ips,
        pool,
        mode,
        announcers,
        reason,
    }
}

fn mode_name(m: AnnounceMode) -> &'static str {
    match m {
        AnnounceMode::Layer2 => "layer2",
        AnnounceMode::Bgp => "bgp",
    }
}

fn join<T: ToString>(items: impl Iterator<Item = T>) -> String {
    items.map(|i| i.to_string()).collect::<Vec<_>>().join(",")
}

/// The `reason: message` of the latest Warning Event about Service `namespace/name`.
fn latest_warning(events: &[Event], namespace: &str, name: &str) -> Option<String> {
    events
        .iter()
        .filter(|e| e.type_.as_deref() == Some("Warning"))
        .filter(|e| {
            let o = &e.involved_object;
            o.kind.as_deref() == Some("Service")
                && o.namespace.as_deref() == Some(namespace)
                && o.name.as_deref() == Some(name)
        })
        .max_by_key(|e| event_time(e))
        .map(|e| {
            let reason = e.reason.as_deref().unwrap_or("Warning");
            match e.message.as_deref() {
                Some(m) if !m.is_empty() => format!("{reason}: {m}"),
                _ => reason.to_owned(),
            }
        })
}

/// When an Event last happened, whichever API wrote it.
fn event_time(e: &Event) -> Option<Timestamp> {
    e.series
        .as_ref()
        .and_then(|s| s.last_observed_time.as_ref().map(|t| t.0))
        .or_else(|| e.last_timestamp.as_ref().map(|t| t.0))
        .or_else(|| e.event_time.as_ref().map(|t| t.0))
        .or_else(|| e.first_timestamp.as_ref().map(|t| t.0))
        .or_else(|| e.metadata.creation_timestamp.as_ref().map(|t| t.0))
}

/// Node `node`'s view, or `None` when it has no NodeAnnouncement.
pub(crate) fn node_view(inputs: &Inputs, node: &str) -> Option<NodeView> {
    let na = inputs
        .announcements
        .iter()
        .find(|n| n.metadata.name.as_deref() == Some(node))?;
    let status = na.status.clone().unwrap_or_default();
    Some(NodeView {
        node: node.to_owned(),
        announcements: status.announcements,
        bgp_sessions: status.bgp_sessions,
        conflicts: status.conflicts,
    })
}

/// Renders `rows` as an aligned text table.
pub(crate) fn render_rows(rows: &[ServiceRow]) -> String {
    let mut cells =
        vec![["SERVICE", "IPS", "POOL", "MODE", "ANNOUNCED BY", "REASON"].map(str::to_owned)];
    for r in rows {
        let by = if r.announcers.is_empty() {
            "-".to_owned()
        } else {
            join(r.announcers.iter().map(announcer_cell))
        };
        cells.push([
            format!("{}/{}", r.namespace, r.name),
            if r.ips.is_empty() {
                "<pending>".to_owned()
            } else {
                join(r.ips.iter())
            },
            r.pool.clone().unwrap_or_else(|| "-".to_owned()),
            r.mode.clone().unwrap_or_else(|| "-".to_owned()),
            by,
            r.reason.clone().unwrap_or_else(|| "-".to_owned()),
        ]);
    }
    table(&cells)
}

fn announcer_cell(a: &Announcer) -> String {
    let via = match (&a.interface, a.peers.is_empty()) {
        (Some(i), _) => i.clone(),
        (None, false) => format!(
            "peers {}",
            a.peers
                .iter()
                .map(|p| p.to_string())
                .collect::<Vec<_>>()
                .join(" ")
        ),
        (None, true) => mode_name(a.mode).to_owned(),
    };
    match &a.conflict {
        Some(c) => format!(
            "{}({} {via})[conflict: {} claims, last {}]",
            a.node, a.ip, c.count, c.last_mac
        ),
        None => format!("{}({} {via})", a.node, a.ip),
    }
}

/// Renders a node's view: its announcements, then its BGP sessions.
pub(crate) fn render_node(view: &NodeView) -> String {
    let mut cells = vec![["IP", "SERVICES", "MODE", "INTERFACE/PEERS", "SINCE"].map(str::to_owned)];
    for a in &view.announcements {
        cells.push([
            a.ip.to_string(),
            a.services.join(","),
            mode_name(a.mode).to_owned(),
            a.interface.clone().unwrap_or_else(|| join(a.peers.iter())),
            a.since.0.to_string(),
        ]);
    }
    let mut out = format!("Node {}\n\n", view.node);
    if view.announcements.is_empty() {
        out.push_str("Announces nothing.\n");
    } else {
        out.push_str(&table(&cells));
    }
    out.push('\n');
    if view.bgp_sessions.is_empty() {
        out.push_str("No BGP sessions.\n");
    } else {
        let mut cells = vec![["BGP PEER", "STATE", "SINCE"].map(str::to_owned)];
        for s in &view.bgp_sessions {
            cells.push([
                s.peer.to_string(),
                format!("{:?}", s.state),
                s.since.0.to_string(),
            ]);
        }
        out.push_str(&table(&cells));
    }
    if !view.conflicts.is_empty() {
        out.push('\n');
        let mut cells = vec![
            [
                "CONFLICT ON IP",
                "INTERFACE",
                "LAST MAC",
                "CLAIMS",
                "LAST SEEN",
            ]
            .map(str::to_owned),
        ];
        for c in &view.conflicts {
            cells.push([
                c.ip.to_string(),
                c.interface.clone(),
                c.last_mac.clone(),
                c.count.to_string(),
                c.last_seen.0.to_string(),
            ]);
        }
        out.push_str(&table(&cells));
    }
    out
}

fn table<const N: usize>(cells: &[[String; N]]) -> String {
    let mut width = [0usize; N];
    for row in cells {
        for (w, c) in width.iter_mut().zip(row) {
            *w = (*w).max(c.chars().count());
        }
    }
    let mut out = String::new();
    for row in cells {
        let line: Vec<String> = row
            .iter()
            .zip(width)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        out.push_str(line.join("   ").trim_end());
        out.push('\n');
    }
    out
}

/// Runs `ironlb status`; returns the exit code.
pub(crate) fn run(args: StatusArgs) -> anyhow::Result<u8> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    rt.block_on(run_async(args))
}

async fn run_async(args: StatusArgs) -> anyhow::Result<u8> {
    let mut config = kube::Config::infer().await.map_err(|e| {
        anyhow!("no usable kubeconfig ({e}); set KUBECONFIG or run inside a cluster")
    })?;
    config.connect_timeout = Some(Duration::from_secs(5));
    config.read_timeout = Some(Duration::from_secs(15));
    let server = config.cluster_url.to_string();
    let client =
        Client::try_from(config).map_err(|e| anyhow!("cannot build a Kubernetes client: {e}"))?;
    let inputs = read(&client, &args, &server).await?;
    match &args.node {
        Some(node) => {
            let view = node_view(&inputs, node).ok_or_else(|| {
                anyhow!("node {node} has no NodeAnnouncement: no speaker runs there (or it has not published yet)")
            })?;
            match args.output {
                Output::Json => println!("{}", serde_json::to_string_pretty(&view)?),
                Output::Table => print!("{}", render_node(&view)),
            }
        }
        None => {
            let rows = rows(&inputs);
            match args.output {
                Output::Json => println!("{}", serde_json::to_string_pretty(&rows)?),
                Output::Table if rows.is_empty() => println!("No LoadBalancer Services."),
                Output::Table => print!("{}", render_rows(&rows)),
            }
        }
    }
    Ok(0)
}

/// Reads the inputs; each failure is turned into one line by [`explain`].
async fn read(client: &Client, args: &StatusArgs, server: &str) -> anyhow::Result<Inputs> {
    let nas: Api<NodeAnnouncement> = Api::all(client.clone());
    // First, so that "not installed" and "unreachable" are told before anything else.
    let announcements = nas
        .list(&ListParams::default())
        .await
        .map_err(|e| explain::<NodeAnnouncement>(e, server, ""))?
        .items;
    let namespaces: Api<Namespace> = Api::all(client.clone());
    match namespaces.get_opt(&args.namespace).await {
        Ok(None) => {
            return Err(anyhow!(
                "IronLB is not installed: namespace {} not found (install with `kubectl apply -k deploy/`)",
                args.namespace
            ));
        }
        // Reading namespaces is not needed to show the status: without the right, skip the check.
        Ok(Some(_)) | Err(kube::Error::Api(_)) => {}
        Err(e) => return Err(explain::<Namespace>(e, server, "")),
    }
    let services = Api::<Service>::all(client.clone())
        .list(&ListParams::default())
        .await
        .map_err(|e| explain::<Service>(e, server, ""))?
        .items;
    let events = Api::<Event>::all(client.clone())
        .list(&ListParams::default().fields("involvedObject.kind=Service,type=Warning"))
        .await
        .map_err(|e| explain::<Event>(e, server, ""))?
        .items;
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), &args.namespace);
    let config = match cms.get_opt(&args.config_map).await {
        Ok(cm) => cm.and_then(|cm| {
            let text = cm.data?.get("config")?.clone();
            match ironlb_config::parse(&text) {
                Ok(c) => Some(c),
                Err(e) => {
                    eprintln!(
                        "ironlb: warning: ConfigMap {}/{} does not parse, pools shown from annotations only: {}",
                        args.namespace,
                        args.config_map,
                        e.to_string().lines().next().unwrap_or_default()
                    );
                    None
                }
            }
        }),
        Err(e) => return Err(explain::<ConfigMap>(e, server, &args.namespace)),
    };
    Ok(Inputs {
        services,
        announcements,
        events,
        config,
    })
}

/// One line for an API failure reading resource `K` (in `namespace`, if any).
fn explain<K: Resource<DynamicType = ()>>(
    err: kube::Error,
    server: &str,
    namespace: &str,
) -> anyhow::Error {
    let plural = K::plural(&());
    let group = K::group(&());
    let what = if group.is_empty() {
        plural.to_string()
    } else {
        format!("{plural}.{group}")
    };
    let place = if namespace.is_empty() {
        String::new()
    } else {
        format!(" in namespace {namespace}")
    };
    match err {
        kube::Error::Api(s) if s.code == 401 => anyhow!(
            "not authenticated to the Kubernetes API at {server}: the kubeconfig's credentials were refused"
        ),
        kube::Error::Api(s) if s.code == 403 => anyhow!(
            "permission denied: cannot list {what}{place} (grant the `view` ClusterRole, which includes IronLB's `ironlb:view`)"
        ),
        kube::Error::Api(s) if s.code == 404 && group == "ironlb.io" => anyhow!(
            "IronLB is not installed: the {what} CRD is missing (install with `kubectl apply -k deploy/`)"
        ),
        kube::Error::Api(s) => anyhow!("reading {what}{place}: {} ({})", s.message, s.code),
        other => anyhow!(
            "cannot reach the Kubernetes API at {server}: {}",
            one_line(&other)
        ),
    }
}

/// The innermost cause of `err`, which says what went wrong (e.g. "Connection refused").
fn one_line(err: &dyn std::error::Error) -> String {
    let mut cause: &dyn std::error::Error = err;
    while let Some(next) = cause.source() {
        cause = next;
    }
    cause.to_string().replace('\n', " ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn svc(v: serde_json::Value) -> Service {
        serde_json::from_value(v).unwrap()
    }

    fn lb(ns: &str, name: &str, ips: &[&str], annotations: serde_json::Value) -> Service {
        let ingress: Vec<_> = ips.iter().map(|ip| json!({"ip": ip})).collect();
        svc(json!({
            "metadata": {"namespace": ns, "name": name, "annotations": annotations},
            "spec": {"type": "LoadBalancer", "ports": [{"port": 80}]},
            "status": {"loadBalancer": {"ingress": ingress}},
        }))
    }

    fn na(node: &str, status: serde_json::Value) -> NodeAnnouncement {
        serde_json::from_value(json!({
            "apiVersion": "ironlb.io/v1alpha1", "kind": "NodeAnnouncement",
            "metadata": {"name": node}, "spec": {"nodeName": node}, "status": status,
        }))
        .unwrap()
    }

    fn warning(ns: &str, name: &str, reason: &str, msg: &str, at: &str) -> Event {
        serde_json::from_value(json!({
            "metadata": {"namespace": ns, "name": format!("{name}.{at}")},
            "involvedObject": {"kind": "Service", "namespace": ns, "name": name},
            "type": "Warning", "reason": reason, "message": msg, "lastTimestamp": at,
        }))
        .unwrap()
    }

    fn config() -> Config {
        ironlb_config::parse(
            "address-pools:\n- name: lan\n  protocol: layer2\n  addresses: [192.0.2.100-192.0.2.120]\n\
             - name: routed\n  protocol: bgp\n  addresses: [198.51.100.0/24]\n",
        )
        .unwrap()
    }

    fn fixture() -> Inputs {
        Inputs {
            services: vec![
                lb("default", "web", &["192.0.2.100"], json!({})),
                lb(
                    "apps",
                    "api",
                    &["198.51.100.7"],
                    json!({"metallb.universe.tf/address-pool": "routed"}),
                ),
                lb("default", "pending", &[], json!({})),
                svc(
                    json!({"metadata": {"namespace": "default", "name": "kubernetes"},
                           "spec": {"type": "ClusterIP"}}),
                ),
            ],
            announcements: vec![
                na(
                    "node1",
                    json!({"announcements": [
                    {"ip": "192.0.2.100", "services": ["default/web"], "mode": "layer2",
                     "interface": "eth0", "since": "2026-11-23T10:00:00Z"},
                    {"ip": "198.51.100.7", "services": ["apps/api"], "mode": "bgp",
                     "peers": ["192.0.2.1"], "since": "2026-11-23T10:00:00Z"}],
                    "bgpSessions": [{"peer": "192.0.2.1", "state": "Established", "since": "2026-11-23T09:00:00Z"}]}),
                ),
                na(
                    "node2",
                    json!({"announcements": [
                    {"ip": "198.51.100.7", "services": ["apps/api"], "mode": "bgp",
                     "peers": ["192.0.2.1"], "since": "2026-11-23T10:00:01Z"}],
                    "bgpSessions": [{"peer": "192.0.2.1", "state": "Established", "since": "2026-11-23T09:00:00Z"}]}),
                ),
            ],
            events: vec![
                warning(
                    "default",
                    "pending",
                    "AllocationFailed",
                    "pool lan is exhausted",
                    "2026-11-23T10:00:00Z",
                ),
                warning(
                    "default",
                    "pending",
                    "AllocationFailed",
                    "no pool has addresses left",
                    "2026-11-23T11:00:00Z",
                ),
                warning(
                    "default",
                    "web",
                    "AllocationFailed",
                    "old",
                    "2026-11-23T08:00:00Z",
                ),
            ],
            config: Some(config()),
        }
    }

    #[test]
    fn one_row_per_load_balancer_service_sorted() {
        let r = rows(&fixture());
        let names: Vec<_> = r
            .iter()
            .map(|r| format!("{}/{}", r.namespace, r.name))
            .collect();
        assert_eq!(names, ["apps/api", "default/pending", "default/web"]);
    }

    #[test]
    fn layer2_service_shows_config_pool_and_announcing_interface() {
        let r = rows(&fixture());
        let web = &r[2];
        assert_eq!(web.pool.as_deref(), Some("lan"));
        assert_eq!(web.mode.as_deref(), Some("layer2"));
        assert_eq!(web.announcers.len(), 1);
        assert_eq!(web.announcers[0].node, "node1");
        assert_eq!(web.announcers[0].interface.as_deref(), Some("eth0"));
        // An IP is assigned: old warnings are not a reason.
        assert_eq!(web.reason, None);
    }

    #[test]
    fn bgp_service_shows_annotated_pool_and_every_announcing_node() {
        let r = rows(&fixture());
        let api = &r[0];
        assert_eq!(api.pool.as_deref(), Some("routed"));
        assert_eq!(api.mode.as_deref(), Some("bgp"));
        let nodes: Vec<_> = api.announcers.iter().map(|a| a.node.as_str()).collect();
        assert_eq!(nodes, ["node1", "node2"]);
        assert_eq!(
            api.announcers[0].peers,
            ["192.0.2.1".parse::<IpAddr>().unwrap()]
        );
    }

    #[test]
    fn pending_service_shows_latest_warning() {
        let r = rows(&fixture());
        let p = &r[1];
        assert!(p.ips.is_empty());
        assert_eq!(
            p.reason.as_deref(),
            Some("AllocationFailed: no pool has addresses left")
        );
        assert!(render_rows(&r).contains("<pending>"));
    }

    #[test]
    fn without_config_mode_comes_from_announcements() {
        let mut i = fixture();
        i.config = None;
        let r = rows(&i);
        assert_eq!(r[2].pool, None);
        assert_eq!(r[2].mode.as_deref(), Some("layer2"));
        assert_eq!(r[1].mode, None);
    }

    #[test]
    fn table_has_header_and_aligned_columns() {
        let text = render_rows(&rows(&fixture()));
        let lines: Vec<_> = text.lines().collect();
        assert_eq!(lines.len(), 4);
        assert!(lines[0].starts_with("SERVICE"));
        let col = lines[0].find("IPS").unwrap();
        assert_eq!(&lines[3][col..col + 11], "192.0.2.100");
        assert!(lines[3].contains("node1(192.0.2.100 eth0)"));
        assert!(lines[1].contains("node2(198.51.100.7 peers 192.0.2.1)"));
    }

    #[test]
    fn json_rows_are_machine_readable() {
        let v = serde_json::to_value(rows(&fixture())).unwrap();
        assert_eq!(v[2]["ips"], json!(["192.0.2.100"]));
        assert_eq!(
            v[2]["announcers"][0],
            json!({"node": "node1", "ip": "192.0.2.100", "mode": "layer2", "interface": "eth0"})
        );
    }

    #[test]
    fn a_conflict_shows_in_the_row_and_in_the_node_view() {
        let mut i = fixture();
        i.announcements[0] = na(
            "node1",
            json!({"announcements": [
                {"ip": "192.0.2.100", "services": ["default/web"], "mode": "layer2",
                 "interface": "eth0", "since": "2026-11-23T10:00:00Z"}],
             "conflicts": [{"ip": "192.0.2.100", "interface": "eth0",
                 "lastMac": "02:00:00:00:00:12", "count": 12000,
                 "lastSeen": "2026-11-23T10:05:00Z"}]}),
        );
        let r = rows(&i);
        let web = r.iter().find(|r| r.name == "web").unwrap();
        assert_eq!(
            serde_json::to_value(&web.announcers).unwrap(),
            json!([{"node": "node1", "ip": "192.0.2.100", "mode": "layer2", "interface": "eth0",
                    "conflict": {"count": 12000, "lastMac": "02:00:00:00:00:12"}}])
        );
        let text = render_rows(&r);
        assert!(
            text.contains(
                "node1(192.0.2.100 eth0)[conflict: 12000 claims, last 02:00:00:00:00:12]"
            ),
            "{text}"
        );
        let v = node_view(&i, "node1").unwrap();
        let text = render_node(&v);
        assert!(text.contains("CONFLICT ON IP"), "{text}");
        assert!(text.contains("02:00:00:00:00:12"), "{text}");
        // Without conflicts the JSON is as before (no key).
        let v = node_view(&fixture(), "node1").unwrap();
        assert!(serde_json::to_value(&v).unwrap().get("conflicts").is_none());
    }

    #[test]
    fn node_view_lists_announcements_and_sessions() {
        let i = fixture();
        let v = node_view(&i, "node1").unwrap();
        assert_eq!(v.announcements.len(), 2);
        let text = render_node(&v);
        assert!(text.contains("BGP PEER"));
        assert!(text.contains("Established"));
        assert!(node_view(&i, "node9").is_none());
    }

    #[test]
    fn api_errors_become_one_line() {
        let status = |code| {
            kube::Error::Api(Box::new(
                serde_json::from_value(
                    json!({"status": "Failure", "message": "m", "reason": "r", "code": code}),
                )
                .unwrap(),
            ))
        };
        let e = explain::<NodeAnnouncement>(status(404), "https://x", "");
        assert!(e.to_string().starts_with("IronLB is not installed"), "{e}");
        let e = explain::<Service>(status(403), "https://x", "");
        assert!(
            e.to_string()
                .starts_with("permission denied: cannot list services"),
            "{e}"
        );
        assert!(!e.to_string().contains('\n'));
    }
}
