//! Scripted tests of the orchestrator: inputs in, outputs asserted.

use super::*;
use crate::k8s::index::{Event, ObjectKey};

const CONFIG: &str =
    "address-pools:\n- name: l2\n  protocol: layer2\n  addresses: [192.0.2.200-192.0.2.254]\n";

fn settings() -> Settings {
    Settings {
        node_name: "me".into(),
        namespace: "ironlb-system".into(),
        config_name: "config".into(),
        metallb_namespace: None,
        lb_class: "ironlb.io/ironlb".into(),
        gossip_port: 7946,
        gossip_timing: Default::default(),
    }
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn key(namespace: &str, name: &str) -> ObjectKey {
    ObjectKey {
        namespace: namespace.into(),
        name: name.into(),
    }
}

fn node(name: &str, ready: bool, addr: &str) -> (ObjectKey, NodeFacts) {
    let facts = NodeFacts {
        view: NodeView {
            name: name.into(),
            labels: BTreeMap::new(),
            ready,
            live: ready,
        },
        internal_ip: Some(ip(addr)),
        uid: Some(format!("uid-{name}")),
    };
    (key("", name), facts)
}

fn service(name: &str, addr: &str) -> (ObjectKey, ServiceFacts) {
    let facts = ServiceFacts {
        uid: Some(format!("uid-{name}")),
        ips: vec![ip(addr)],
        local: false,
    };
    (key("default", name), facts)
}

fn slice(service: &str, nodes: &[&str]) -> (ObjectKey, SliceFacts) {
    let facts = SliceFacts {
        service: ServiceKey {
            namespace: "default".into(),
            name: service.into(),
        },
        ready_nodes: nodes.iter().map(|n| (*n).to_string()).collect(),
    };
    (key("default", &format!("{service}-abc")), facts)
}

/// A complete (re)list of `items`, as the watcher reports it.
fn list<V>(items: Vec<(ObjectKey, V)>) -> Vec<Event<V>> {
    let mut out = vec![Event::Listing];
    out.extend(items.into_iter().map(|(k, v)| Event::Listed(k, Some(v))));
    out.push(Event::ListDone);
    out
}

/// Drives an orchestrator with a clock of its own.
struct Script {
    orchestrator: Orchestrator,
    start: Instant,
    now: Instant,
}

impl Script {
    fn new(members: Option<&[&str]>) -> Self {
        let start = Instant::now();
        let members = members.map(|m| m.iter().map(|s| (*s).to_string()).collect());
        Script {
            orchestrator: Orchestrator::new(settings(), members, start),
            start,
            now: start,
        }
    }

    fn at(&mut self, since_start: Duration) -> &mut Self {
        self.now = self.start + since_start;
        self
    }

    fn feed(&mut self, input: Input) -> Vec<Output> {
        self.orchestrator.handle(input, self.now)
    }

    fn feed_all(&mut self, inputs: impl IntoIterator<Item = Input>) -> Vec<Output> {
        inputs.into_iter().flat_map(|i| self.feed(i)).collect()
    }

    fn config(&mut self) -> Vec<Output> {
        self.feed(Input::Config(Ok(Some(CONFIG.into()))))
    }

    fn services(&mut self) -> Vec<Output> {
        self.feed_all(
            list(vec![service("web", "192.0.2.200")])
                .into_iter()
                .map(Input::Services),
        )
    }

    fn slices(&mut self) -> Vec<Output> {
        self.feed_all(
            list(vec![slice("web", &["me"])])
                .into_iter()
                .map(Input::Slices),
        )
    }

    fn nodes(&mut self, nodes: Vec<(ObjectKey, NodeFacts)>) -> Vec<Output> {
        self.feed_all(list(nodes).into_iter().map(Input::Nodes))
    }
}

fn layer2_sets(out: &[Output]) -> Vec<&BTreeMap<IpAddr, IfaceSelection>> {
    out.iter()
        .filter_map(|o| match o {
            Output::SetLayer2(set) => Some(set),
            _ => None,
        })
        .collect()
}

fn wakes(out: &[Output]) -> Vec<Instant> {
    out.iter()
        .filter_map(|o| match o {
            Output::WakeAt(at) => Some(*at),
            _ => None,
        })
        .collect()
}

fn elected(out: &[Output]) -> bool {
    !layer2_sets(out).is_empty()
}

#[test]
fn nothing_is_elected_before_services_slices_and_nodes_are_each_listed() {
    let mut s = Script::new(None);
    let out = s.config();
    assert!(!elected(&out) && !out.contains(&Output::Elected));
    assert!(!s.feed(Input::Wake).contains(&Output::Elected));
    // Services and Nodes list, then relist (a watch restart): never a stand-in for the
    // EndpointSlices, however often it happens.
    for _ in 0..2 {
        s.services();
        assert!(!elected(&s.feed(Input::Wake)), "elected without slices");
        s.nodes(vec![node("me", true, "192.0.2.10")]);
        assert!(!elected(&s.feed(Input::Wake)), "elected without slices");
    }
    let out = s.slices();
    assert_eq!(wakes(&out).len(), 1, "one wake for the burst");
    let out = s.feed(Input::Wake);
    let sets = layer2_sets(&out);
    assert_eq!(sets.len(), 1);
    assert_eq!(
        sets[0].get(&ip("192.0.2.200")),
        Some(&IfaceSelection::AllSuitable)
    );
}

#[test]
fn nothing_is_elected_before_the_config_is_read() {
    let mut s = Script::new(None);
    s.services();
    s.slices();
    s.nodes(vec![node("me", true, "192.0.2.10")]);
    // Everything but the config is listed.
    assert!(!elected(&s.feed(Input::Wake)));
    s.config();
    let out = s.feed(Input::Wake);
    assert!(elected(&out));
    assert!(
        out.contains(&Output::Elected),
        "the first election is reported"
    );
}

#[test]
fn an_absent_config_map_reads_as_an_empty_config() {
    let mut s = Script::new(None);
    s.services();
    s.slices();
    s.nodes(vec![node("me", true, "192.0.2.10")]);
    let out = s.feed(Input::Config(Ok(None)));
    assert!(out.contains(&Output::Metric(MetricUpdate::ConfigStale(false))));
    let out = s.feed(Input::Wake);
    // Elected, on no pools: nothing to announce.
    assert_eq!(layer2_sets(&out), vec![&BTreeMap::new()]);
}

#[test]
fn a_rejected_config_keeps_the_last_good_one_and_is_stale() {
    let mut s = Script::new(None);
    s.config();
    s.services();
    s.slices();
    s.nodes(vec![node("me", true, "192.0.2.10")]);
    s.feed(Input::Wake);
    let out = s.feed(Input::Config(Ok(Some("address-pools: [".into()))));
    assert!(out.contains(&Output::Metric(MetricUpdate::ConfigStale(true))));
    let out = s.feed(Input::Wake);
    assert_eq!(layer2_sets(&out)[0].len(), 1, "still announced");
    // Sources that do not merge (a pool in the ConfigMap and a MetalLB object): the same.
    let clash = ironlb_config::metallb::merge_in_place(
        Some(CONFIG),
        &[
            serde_json::json!({"apiVersion": "metallb.io/v1beta1", "kind": "IPAddressPool",
                             "metadata": {"name": "l2"}, "spec": {"addresses": ["192.0.2.0/28"]}}),
        ],
    )
    .unwrap_err();
    let out = s.feed(Input::Config(Err(clash)));
    assert!(out.contains(&Output::Metric(MetricUpdate::ConfigStale(true))));
    let out = s.feed(Input::Wake);
    assert_eq!(layer2_sets(&out)[0].len(), 1, "still announced");
}

#[test]
fn a_burst_of_changes_is_debounced_into_one_election() {
    let mut s = Script::new(None);
    s.config();
    s.services();
    s.slices();
    s.nodes(vec![node("me", true, "192.0.2.10")]);
    s.feed(Input::Wake);
    s.at(Duration::from_secs(1));
    let first = s.feed(Input::Services(Event::Applied(
        key("default", "api").clone(),
        Some(service("api", "192.0.2.201").1),
    )));
    assert_eq!(
        wakes(&first),
        vec![s.start + Duration::from_secs(1) + DEBOUNCE]
    );
    assert!(!elected(&first), "nothing before the debounce");
    // More changes within the debounce do not push the election back.
    s.at(Duration::from_millis(1020));
    let more = s.feed_all([
        Input::Slices(Event::Applied(
            slice("api", &["me"]).0,
            Some(slice("api", &["me"]).1),
        )),
        Input::WatchFailed,
    ]);
    assert!(more.is_empty(), "{more:?}");
    s.at(Duration::from_secs(1) + DEBOUNCE);
    let out = s.feed(Input::Wake);
    assert_eq!(layer2_sets(&out)[0].len(), 2);
    assert!(out.contains(&Output::Metric(MetricUpdate::ElectionChanged)));
    // A spurious wake (nothing changed since) elects nothing.
    assert!(s.feed(Input::Wake).is_empty());
}

#[test]
fn a_membership_change_re_elects_at_once() {
    let mut s = Script::new(Some(&["me", "n2"]));
    s.config();
    s.services();
    s.slices();
    s.nodes(vec![
        node("me", true, "192.0.2.10"),
        node("n2", true, "192.0.2.11"),
    ]);
    s.feed(Input::Wake);
    s.at(Duration::from_secs(5));
    let out = s.feed(Input::Members(["me".to_string()].into()));
    assert_eq!(wakes(&out), vec![s.now], "no debounce for gossip");
    let out = s.feed(Input::Wake);
    assert!(elected(&out));
    assert!(out.contains(&Output::Metric(MetricUpdate::GossipMembers(1))));
}

#[test]
fn the_first_election_waits_for_gossip_to_converge_or_the_grace_to_end() {
    let mut s = Script::new(Some(&["me"]));
    s.config();
    s.services();
    s.slices();
    s.nodes(vec![
        node("me", true, "192.0.2.10"),
        node("n2", true, "192.0.2.11"),
    ]);
    s.at(DEBOUNCE);
    let out = s.feed(Input::Wake);
    let peers: BTreeMap<String, SocketAddr> = [
        ("me".to_string(), "192.0.2.10:7946".parse().unwrap()),
        ("n2".to_string(), "192.0.2.11:7946".parse().unwrap()),
    ]
    .into();
    assert!(out.contains(&Output::SetGossipPeers(peers)));
    assert!(!elected(&out), "n2 looks dead before gossip has converged");
    assert_eq!(wakes(&out), vec![s.start + GOSSIP_GRACE]);
    // n2's speaker joins: elect at once, with both live.
    s.at(Duration::from_millis(300));
    let out = s.feed(Input::Members(["me".to_string(), "n2".to_string()].into()));
    assert_eq!(wakes(&out), vec![s.now]);
    assert!(elected(&s.feed(Input::Wake)));

    // Another start where n2's speaker never comes: elect when the grace is over.
    let mut s = Script::new(Some(&["me"]));
    s.config();
    s.services();
    s.slices();
    s.nodes(vec![
        node("me", true, "192.0.2.10"),
        node("n2", true, "192.0.2.11"),
    ]);
    s.at(DEBOUNCE);
    assert!(!elected(&s.feed(Input::Wake)));
    s.at(GOSSIP_GRACE);
    let out = s.feed(Input::Wake);
    assert!(elected(&out));
    assert_eq!(
        layer2_sets(&out)[0].len(),
        1,
        "n2 is not live: this node wins"
    );
}

#[test]
fn without_gossip_nothing_waits_for_members() {
    let mut s = Script::new(None);
    s.config();
    s.services();
    s.slices();
    s.nodes(vec![
        node("me", true, "192.0.2.10"),
        node("n2", true, "192.0.2.11"),
    ]);
    let out = s.feed(Input::Wake);
    assert!(elected(&out));
    assert!(!out.iter().any(|o| matches!(o, Output::SetGossipPeers(_))));
    assert!(out.contains(&Output::Metric(MetricUpdate::GossipMembers(0))));
}

fn published(out: &[Output]) -> Vec<&AnnouncementView> {
    out.iter()
        .filter_map(|o| match o {
            Output::Publish { view, .. } => Some(&**view),
            _ => None,
        })
        .collect()
}

#[test]
fn the_announcement_follows_the_responders_snapshot() {
    let mut s = Script::new(None);
    // Before the first election the snapshot is kept, not published.
    let answered: Answered = [(ip("192.0.2.200"), ["eth0".to_string()].into())].into();
    assert!(s.feed(Input::Answered(Arc::new(answered))).is_empty());
    s.config();
    s.services();
    s.slices();
    s.nodes(vec![node("me", true, "192.0.2.10")]);
    let out = s.feed(Input::Wake);
    let first: Vec<&Output> = out
        .iter()
        .filter(|o| matches!(o, Output::Publish { .. }))
        .collect();
    assert_eq!(first.len(), 1);
    let Output::Publish { view, node_uid } = first[0] else {
        unreachable!()
    };
    assert_eq!(node_uid.as_deref(), Some("uid-me"));
    let shown = &view.announcements[&ip("192.0.2.200")];
    assert_eq!(shown.interface.as_deref(), Some("eth0"));
    assert_eq!(shown.services, ["default/web".to_string()].into());
    // A large takeover arrives as one snapshot, every IP in it.
    let many: Answered = (0..2000u32)
        .map(|n| {
            let ip = IpAddr::from(std::net::Ipv4Addr::from(0xc633_6400 + n));
            (ip, ["eth0".to_string()].into())
        })
        .collect();
    let out = s.feed(Input::Answered(Arc::new(many)));
    assert_eq!(published(&out)[0].announcements.len(), 2000);
    // The same content again is not published again.
    let again = s.feed(Input::Sessions(Vec::new()));
    assert!(published(&again).is_empty());
}

#[test]
fn the_responders_reports_become_events_on_the_services_holding_the_ip() {
    let mut s = Script::new(None);
    s.config();
    s.services();
    s.slices();
    s.nodes(vec![node("me", true, "192.0.2.10")]);
    s.feed(Input::Wake);
    let out = s.feed(Input::L2(L2Event::Took {
        ip: ip("192.0.2.200"),
        iface: "eth0".into(),
    }));
    assert_eq!(
        out,
        vec![Output::Event {
            service: ServiceKey {
                namespace: "default".into(),
                name: "web".into()
            },
            uid: Some("uid-web".into()),
            said: Said {
                reason: Reason::NodeAssigned,
                action: ANNOUNCE,
                note: "announcing 192.0.2.200 from node me on eth0".into(),
            },
        }]
    );
    let out = s.feed(Input::L2(L2Event::Released {
        ip: ip("192.0.2.200"),
        iface: "eth0".into(),
    }));
    assert!(out.is_empty());
}

#[test]
fn conflicts_are_shown_for_answered_ips_only() {
    let mut s = Script::new(None);
    let answered: Answered = [(ip("192.0.2.200"), ["eth0".to_string()].into())].into();
    s.feed(Input::Answered(Arc::new(answered)));
    s.config();
    s.services();
    s.slices();
    s.nodes(vec![node("me", true, "192.0.2.10")]);
    s.feed(Input::Wake);
    let seen = crate::l2::ConflictSeen {
        iface: "eth0".into(),
        mac: crate::l2::ethernet::MacAddr([2, 0, 0, 0, 0, 0x12]),
        count: 7,
    };
    let conflicts: crate::l2::Conflicts = [
        (ip("192.0.2.200"), seen.clone()),
        // Not (or no longer) answered here: not shown.
        (ip("192.0.2.201"), seen.clone()),
    ]
    .into();
    let out = s.feed(Input::Conflicts(Arc::new(conflicts)));
    let views = published(&out);
    assert_eq!(views.len(), 1);
    assert_eq!(
        views[0].conflicts,
        [(ip("192.0.2.200"), seen)].into_iter().collect()
    );
}
