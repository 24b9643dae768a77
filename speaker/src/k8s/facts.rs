//! Facts from Kubernetes objects: the election's plain inputs (which Services count, what
//! "ready" means, where a node's speaker gossips). Pure: no client, no sockets, so every
//! rule here is tested with plain objects.
#![forbid(unsafe_code)]

use crate::election::{NodeView, ServiceView, TrafficPolicy};
use ironlb_k8s::ServiceKey;
use k8s_openapi::api::core::v1::{Node, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

/// The label linking an EndpointSlice to its Service.
pub(crate) const SERVICE_NAME_LABEL: &str = "kubernetes.io/service-name";

/// The election's view of a Node. Liveness is the node's readiness until gossip says
/// otherwise (`live` is refined by the caller when membership is known). A cordoned node
/// (`spec.unschedulable`, as `kubectl drain` leaves it) counts as not ready: it is about to
/// stop serving, so its IPs move before its pods go.
pub(crate) fn node_view(node: &Node) -> Option<NodeView> {
    let name = node.metadata.name.clone()?;
    let cordoned = node
        .spec
        .as_ref()
        .and_then(|s| s.unschedulable)
        .unwrap_or(false);
    let ready = !cordoned
        && node
            .status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"));
    Some(NodeView {
        name,
        labels: node.metadata.labels.clone().unwrap_or_default(),
        ready,
        live: ready,
    })
}

/// Where the node's speaker gossips: its first `InternalIP` (IPv4 preferred) at `port`.
pub(crate) fn node_gossip_addr(node: &Node, port: u16) -> Option<std::net::SocketAddr> {
    let ips: Vec<IpAddr> = node
        .status
        .as_ref()?
        .addresses
        .as_ref()?
        .iter()
        .filter(|a| a.type_ == "InternalIP")
        .filter_map(|a| a.address.parse().ok())
        .collect();
    let ip = ips.iter().find(|ip| ip.is_ipv4()).or_else(|| ips.first())?;
    Some(std::net::SocketAddr::new(*ip, port))
}

/// What the speaker keeps of a Node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct NodeFacts {
    /// The election's view of it (`live` is its readiness; gossip refines it).
    pub view: NodeView,
    /// Its first `InternalIP`, IPv4 preferred: where its speaker gossips, and this node's
    /// default BGP router id when IPv4.
    pub internal_ip: Option<IpAddr>,
    /// `metadata.uid` (this node's NodeAnnouncement is owned by its Node).
    pub uid: Option<String>,
}

/// The facts of a Node; `None` for a Node without a name (the API never sends one).
pub(crate) fn node_facts(node: &Node) -> Option<NodeFacts> {
    Some(NodeFacts {
        view: node_view(node)?,
        internal_ip: node_gossip_addr(node, 0).map(|a| a.ip()),
        uid: node.metadata.uid.clone(),
    })
}

/// What the speaker keeps of a LoadBalancer Service it serves (see [`super::index`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ServiceFacts {
    /// `metadata.uid` (Events name the Service by it).
    pub uid: Option<String>,
    /// The IPs in its `status.loadBalancer.ingress`.
    pub ips: Vec<IpAddr>,
    /// `externalTrafficPolicy: Local`.
    pub local: bool,
}

/// The facts of a Service the speaker serves: only `type: LoadBalancer` Services with no
/// class or with `lb_class`, holding at least one IP; `None` otherwise.
pub(crate) fn service_facts(svc: &Service, lb_class: &str) -> Option<ServiceFacts> {
    let spec = svc.spec.as_ref()?;
    if spec.type_.as_deref() != Some("LoadBalancer") {
        return None;
    }
    if spec
        .load_balancer_class
        .as_deref()
        .is_some_and(|c| c != lb_class)
    {
        return None;
    }
    let mut ips = ironlb_k8s::service::status_ips(svc);
    if ips.is_empty() {
        return None;
    }
    ips.shrink_to_fit();
    Some(ServiceFacts {
        uid: svc.metadata.uid.clone(),
        ips,
        local: spec.external_traffic_policy.as_deref() == Some("Local"),
    })
}

/// What the speaker keeps of an EndpointSlice: its Service and the nodes with a ready
/// endpoint in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SliceFacts {
    /// The Service (label `kubernetes.io/service-name`).
    pub service: ServiceKey,
    /// Nodes with at least one ready endpoint in the slice.
    pub ready_nodes: BTreeSet<String>,
}

/// The facts of an EndpointSlice; `None` if it names no Service.
///
/// An endpoint whose `ready` condition is unset counts as ready, as the API
/// documents; one without `nodeName` counts for no node.
pub(crate) fn slice_facts(slice: &EndpointSlice) -> Option<SliceFacts> {
    let service = ServiceKey {
        namespace: slice.metadata.namespace.clone()?,
        name: slice
            .metadata
            .labels
            .as_ref()
            .and_then(|l| l.get(SERVICE_NAME_LABEL))?
            .clone(),
    };
    let ready_nodes = slice
        .endpoints
        .iter()
        .filter(|ep| ep.conditions.as_ref().and_then(|c| c.ready).unwrap_or(true))
        .filter_map(|ep| ep.node_name.clone())
        .collect();
    Some(SliceFacts {
        service,
        ready_nodes,
    })
}

/// Nodes with at least one ready endpoint, per Service, from all its slices.
pub(crate) fn ready_nodes_by_service<'a>(
    slices: impl IntoIterator<Item = &'a SliceFacts>,
) -> BTreeMap<ServiceKey, BTreeSet<String>> {
    let mut out: BTreeMap<ServiceKey, BTreeSet<String>> = BTreeMap::new();
    for slice in slices {
        out.entry(slice.service.clone())
            .or_default()
            .extend(slice.ready_nodes.iter().cloned());
    }
    out
}

/// The election's view of the Service `key` with `facts`, given where endpoints are ready.
pub(crate) fn service_view(
    key: ServiceKey,
    facts: &ServiceFacts,
    ready_nodes: &BTreeMap<ServiceKey, BTreeSet<String>>,
) -> ServiceView {
    let ready = ready_nodes.get(&key);
    let policy = if facts.local {
        TrafficPolicy::Local {
            ready_nodes: ready.cloned().unwrap_or_default(),
        }
    } else {
        TrafficPolicy::Cluster
    };
    ServiceView {
        has_ready_endpoint: ready.is_some_and(|n| !n.is_empty()),
        key,
        ips: facts.ips.clone(),
        policy,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{
        LoadBalancerIngress, LoadBalancerStatus, NodeCondition, NodeStatus, ServiceSpec,
        ServiceStatus,
    };
    use k8s_openapi::api::discovery::v1::{Endpoint, EndpointConditions};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

    fn node(name: &str, ready: &str) -> Node {
        Node {
            metadata: ObjectMeta {
                name: Some(name.into()),
                ..ObjectMeta::default()
            },
            status: Some(NodeStatus {
                conditions: Some(vec![NodeCondition {
                    type_: "Ready".into(),
                    status: ready.into(),
                    ..NodeCondition::default()
                }]),
                ..NodeStatus::default()
            }),
            ..Node::default()
        }
    }

    fn lb(name: &str, class: Option<&str>, policy: &str, ips: &[&str]) -> Service {
        Service {
            metadata: ObjectMeta {
                namespace: Some("default".into()),
                name: Some(name.into()),
                ..ObjectMeta::default()
            },
            spec: Some(ServiceSpec {
                type_: Some("LoadBalancer".into()),
                load_balancer_class: class.map(String::from),
                external_traffic_policy: Some(policy.into()),
                ..ServiceSpec::default()
            }),
            status: Some(ServiceStatus {
                load_balancer: Some(LoadBalancerStatus {
                    ingress: Some(
                        ips.iter()
                            .map(|ip| LoadBalancerIngress {
                                ip: Some((*ip).into()),
                                ..LoadBalancerIngress::default()
                            })
                            .collect(),
                    ),
                }),
                ..ServiceStatus::default()
            }),
        }
    }

    fn slice(svc: &str, eps: &[(&str, Option<bool>)]) -> EndpointSlice {
        EndpointSlice {
            metadata: ObjectMeta {
                namespace: Some("default".into()),
                name: Some(format!("{svc}-abc")),
                labels: Some(BTreeMap::from([(SERVICE_NAME_LABEL.into(), svc.into())])),
                ..ObjectMeta::default()
            },
            address_type: "IPv4".into(),
            endpoints: eps
                .iter()
                .map(|(n, ready)| Endpoint {
                    addresses: vec!["198.51.100.250".into()],
                    node_name: Some((*n).into()),
                    conditions: Some(EndpointConditions {
                        ready: *ready,
                        ..EndpointConditions::default()
                    }),
                    ..Endpoint::default()
                })
                .collect(),
            ports: None,
        }
    }

    #[test]
    fn node_readiness() {
        assert!(node_view(&node("a", "True")).unwrap().ready);
        assert!(!node_view(&node("a", "False")).unwrap().ready);
        assert!(!node_view(&node("a", "Unknown")).unwrap().live);
        assert!(node_view(&Node::default()).is_none());
    }

    #[test]
    fn node_facts_keep_view_address_and_uid() {
        let mut n = node("a", "True");
        n.metadata.uid = Some("u-a".into());
        if let Some(st) = n.status.as_mut() {
            st.addresses = Some(vec![
                k8s_openapi::api::core::v1::NodeAddress {
                    type_: "InternalIP".into(),
                    address: "2001:db8::a".into(),
                },
                k8s_openapi::api::core::v1::NodeAddress {
                    type_: "InternalIP".into(),
                    address: "192.0.2.10".into(),
                },
            ]);
        }
        let f = node_facts(&n).unwrap();
        assert_eq!(f.view, node_view(&n).unwrap());
        assert_eq!(f.internal_ip, Some("192.0.2.10".parse().unwrap()));
        assert_eq!(f.uid.as_deref(), Some("u-a"));
        assert!(node_facts(&Node::default()).is_none());
    }

    #[test]
    fn a_cordoned_node_is_not_ready_to_announce() {
        let mut n = node("a", "True");
        n.spec = Some(k8s_openapi::api::core::v1::NodeSpec {
            unschedulable: Some(true),
            ..Default::default()
        });
        let view = node_view(&n).unwrap();
        assert!(!view.ready && !view.live);
        n.spec = Some(k8s_openapi::api::core::v1::NodeSpec {
            unschedulable: Some(false),
            ..Default::default()
        });
        assert!(node_view(&n).unwrap().ready);
    }

    #[test]
    fn gossip_address_prefers_ipv4_internal_ip() {
        use k8s_openapi::api::core::v1::NodeAddress;
        let mut n = node("a", "True");
        let addr = |t: &str, a: &str| NodeAddress {
            type_: t.into(),
            address: a.into(),
        };
        if let Some(s) = n.status.as_mut() {
            s.addresses = Some(vec![
                addr("Hostname", "a"),
                addr("InternalIP", "2001:db8:1::11"),
                addr("InternalIP", "192.0.2.11"),
            ]);
        }
        assert_eq!(
            node_gossip_addr(&n, 7946),
            Some("192.0.2.11:7946".parse().unwrap())
        );
        assert_eq!(node_gossip_addr(&node("b", "True"), 7946), None);
    }

    #[test]
    fn endpoints_ready_unset_counts_as_ready() {
        let f = slice_facts(&slice(
            "web",
            &[("a", Some(true)), ("b", Some(false)), ("c", None)],
        ))
        .unwrap();
        let key = ServiceKey {
            namespace: "default".into(),
            name: "web".into(),
        };
        assert_eq!(f.service, key);
        let ab = slice_facts(&slice("web", &[("b", Some(true))])).unwrap();
        let by = ready_nodes_by_service([&f, &ab]);
        assert_eq!(
            by[&key],
            BTreeSet::from(["a".to_string(), "b".to_string(), "c".to_string()])
        );
        let mut unlabelled = slice("web", &[("a", Some(true))]);
        unlabelled.metadata.labels = None;
        assert_eq!(slice_facts(&unlabelled), None);
    }

    #[test]
    fn which_services_count() {
        let class = "ironlb.io/ironlb";
        let f = service_facts(&lb("a", None, "Cluster", &["192.0.2.200"]), class).unwrap();
        assert_eq!(f.ips, vec!["192.0.2.200".parse::<IpAddr>().unwrap()]);
        assert!(!f.local);
        assert!(
            service_facts(
                &lb("a", Some("other.io/lb"), "Cluster", &["192.0.2.200"]),
                class
            )
            .is_none()
        );
        assert!(service_facts(&lb("a", Some(class), "Cluster", &["192.0.2.200"]), class).is_some());
        assert!(service_facts(&lb("a", None, "Cluster", &[]), class).is_none());
        assert!(service_facts(&lb("a", None, "Cluster", &["not-an-ip"]), class).is_none());
        let mut cluster_ip = lb("a", None, "Cluster", &["192.0.2.200"]);
        if let Some(s) = cluster_ip.spec.as_mut() {
            s.type_ = Some("ClusterIP".into());
        }
        assert!(service_facts(&cluster_ip, class).is_none());
        let key = ServiceKey {
            namespace: "default".into(),
            name: "a".into(),
        };
        let v = service_view(key, &f, &BTreeMap::new());
        assert_eq!(v.policy, TrafficPolicy::Cluster);
        assert!(!v.has_ready_endpoint);
    }

    #[test]
    fn local_policy_takes_ready_nodes() {
        let by =
            ready_nodes_by_service([&slice_facts(&slice("a", &[("n2", Some(true))])).unwrap()]);
        let f = service_facts(
            &lb("a", None, "Local", &["192.0.2.200", "2001:db8:1::200"]),
            "x",
        )
        .unwrap();
        assert!(f.local);
        let key = ServiceKey {
            namespace: "default".into(),
            name: "a".into(),
        };
        let v = service_view(key, &f, &by);
        assert_eq!(v.ips.len(), 2);
        assert!(v.has_ready_endpoint);
        assert_eq!(
            v.policy,
            TrafficPolicy::Local {
                ready_nodes: BTreeSet::from(["n2".to_string()])
            }
        );
    }
}
