//! From a Kubernetes Service to what the allocator needs: whether IronLB handles it, what
//! it asks for (annotations, `spec.loadBalancerIP`, families, ports, traffic policy), and
//! the addresses its status already records. No I/O.
//!
//! Annotations are read under `ironlb.io/`, `metallb.io/` and `metallb.universe.tf/`
//! ([`ironlb_k8s::annotations`], one precedence for the controller and `ironlb status`); if
//! two spellings disagree the Service is told so rather than one silently winning.

use std::collections::BTreeSet;
use std::net::IpAddr;

use ironlb_config::PoolName;
use ironlb_k8s::annotations;
use k8s_openapi::api::core::v1::Service;

use crate::allocator::{Families, Family, Request, ServiceKey, Target};
use crate::sharing::{L4Protocol, PortSpec, Sharing, SharingKey, TrafficPolicy};

/// Why a Service's request cannot be understood. Shown on the Service as an Event.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    /// Both `spec.loadBalancerIP` and the `loadBalancerIPs` annotation are set.
    #[error("both spec.loadBalancerIP and the loadBalancerIPs annotation are set; use one")]
    BothIpRequests,
    /// An entry of the IP list does not parse.
    #[error("{annotation}: {value:?} is not an IP address")]
    BadIp {
        /// Where it came from.
        annotation: String,
        /// The offending entry.
        value: String,
    },
    /// The IP list is empty.
    #[error("{0} is empty")]
    EmptyIpList(String),
    /// Two spellings of one annotation disagree.
    #[error("annotations {first} and {second} disagree")]
    Disagreeing {
        /// One spelling.
        first: String,
        /// The other.
        second: String,
    },
    /// An `ipFamilies` entry is neither IPv4 nor IPv6.
    #[error("unknown IP family {0:?}")]
    BadFamily(String),
    /// A port protocol is not TCP, UDP or SCTP.
    #[error("unknown port protocol {0:?}")]
    BadProtocol(String),
    /// A port number out of range.
    #[error("port {0} out of range")]
    BadPort(i32),
}

/// What IronLB does with a Service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Handling {
    /// A LoadBalancer Service of our class: allocate per this request.
    Ours(Request),
    /// Not `type: LoadBalancer` (any more): hold nothing, clear our status.
    NotLoadBalancer,
    /// A LoadBalancer of another class: not ours to touch.
    OtherClass,
}

/// The compact view of a Service the controller keeps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceView {
    /// Namespace and name.
    pub key: ServiceKey,
    /// `metadata.uid`, for Events.
    pub uid: String,
    /// What to do with it, or why its request is malformed.
    pub handling: Result<Handling, RequestError>,
    /// Addresses in `status.loadBalancer.ingress[].ip`, in order.
    pub status_ips: Vec<IpAddr>,
}

/// Which `loadBalancerClass` values this controller serves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Classes {
    /// Our class (`--lb-class`).
    pub ours: String,
    /// Whether Services with no class are ours too (the default; off with
    /// `--only-lb-class`, e.g. to run a second, independent instance).
    pub classless: bool,
}

impl Classes {
    /// Our class, and Services without a class.
    pub fn new(ours: impl Into<String>) -> Self {
        Self {
            ours: ours.into(),
            classless: true,
        }
    }

    fn serves(&self, class: Option<&str>) -> bool {
        match class {
            None => self.classless,
            Some(c) => c == self.ours,
        }
    }
}

/// Builds the view of a Service.
pub fn view(svc: &Service, classes: &Classes) -> ServiceView {
    let key = ServiceKey::new(
        svc.metadata.namespace.clone().unwrap_or_default(),
        svc.metadata.name.clone().unwrap_or_default(),
    );
    ServiceView {
        uid: svc.metadata.uid.clone().unwrap_or_default(),
        handling: handling(svc, &key, classes),
        status_ips: ironlb_k8s::service::status_ips(svc),
        key,
    }
}

fn handling(svc: &Service, key: &ServiceKey, classes: &Classes) -> Result<Handling, RequestError> {
    let Some(spec) = svc.spec.as_ref() else {
        return Ok(Handling::NotLoadBalancer);
    };
    if spec.type_.as_deref() != Some("LoadBalancer") {
        return Ok(Handling::NotLoadBalancer);
    }
    if !classes.serves(spec.load_balancer_class.as_deref()) {
        return Ok(Handling::OtherClass);
    }
    let set = svc.metadata.annotations.as_ref();
    let annotation = |name: &str| -> Result<Option<(String, String)>, RequestError> {
        annotations::lookup(set, name)
            .map(|found| found.map(|f| (f.key, f.value)))
            .map_err(|d| RequestError::Disagreeing {
                first: d.first.key,
                second: d.second,
            })
    };

    let spec_ip = spec
        .load_balancer_ip
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty());
    let target = match (spec_ip, annotation(annotations::LOAD_BALANCER_IPS)?) {
        (Some(_), Some(_)) => return Err(RequestError::BothIpRequests),
        (Some(ip), None) => Target::Ips(vec![parse_ip("spec.loadBalancerIP", ip)?]),
        (None, Some((name, list))) => {
            let ips = list
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|s| parse_ip(&name, s))
                .collect::<Result<Vec<_>, _>>()?;
            if ips.is_empty() {
                return Err(RequestError::EmptyIpList(name));
            }
            Target::Ips(ips)
        }
        (None, None) => match annotation(annotations::ADDRESS_POOL)? {
            Some((_, pool)) if !pool.is_empty() => Target::Pool(PoolName(pool)),
            _ => Target::Auto,
        },
    };

    let mut order = Vec::new();
    for f in spec.ip_families.iter().flatten() {
        let family = match f.as_str() {
            "IPv4" => Family::V4,
            "IPv6" => Family::V6,
            other => return Err(RequestError::BadFamily(other.to_owned())),
        };
        if !order.contains(&family) {
            order.push(family);
        }
    }
    if order.is_empty() {
        // Not yet defaulted (never the case for objects read from the API server): infer
        // from requested addresses, else IPv4.
        order.push(match &target {
            Target::Ips(ips) => ips.first().map_or(Family::V4, |ip| Family::of(*ip)),
            _ => Family::V4,
        });
    }
    let families = match spec.ip_family_policy.as_deref() {
        Some("PreferDualStack") | Some("RequireDualStack") => {
            // A single-stack cluster lists one family even for PreferDualStack; the
            // other family is still wanted if a pool can give it.
            for f in [Family::V4, Family::V6] {
                if !order.contains(&f) {
                    order.push(f);
                }
            }
            Families {
                order,
                require_all: spec.ip_family_policy.as_deref() == Some("RequireDualStack"),
            }
        }
        _ => Families::single(order[0]),
    };

    let mut ports = BTreeSet::new();
    for p in spec.ports.iter().flatten() {
        let protocol = match p.protocol.as_deref().unwrap_or("TCP") {
            "TCP" => L4Protocol::Tcp,
            "UDP" => L4Protocol::Udp,
            "SCTP" => L4Protocol::Sctp,
            other => return Err(RequestError::BadProtocol(other.to_owned())),
        };
        let port = u16::try_from(p.port).map_err(|_| RequestError::BadPort(p.port))?;
        ports.insert(PortSpec { protocol, port });
    }
    let policy = if spec.external_traffic_policy.as_deref() == Some("Local") {
        TrafficPolicy::Local {
            selector: spec.selector.clone().unwrap_or_default(),
        }
    } else {
        TrafficPolicy::Cluster
    };
    let key_value = annotation(annotations::ALLOW_SHARED_IP)?;
    Ok(Handling::Ours(Request {
        service: key.clone(),
        target,
        families,
        sharing: Sharing {
            key: key_value.and_then(|(_, v)| SharingKey::new(&v)),
            ports,
            policy,
        },
    }))
}

fn parse_ip(origin: &str, value: &str) -> Result<IpAddr, RequestError> {
    value.parse().map_err(|_| RequestError::BadIp {
        annotation: origin.to_owned(),
        value: value.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn svc(spec: serde_json::Value, annotations: serde_json::Value) -> Service {
        let v = json!({
            "metadata": {"name": "web", "namespace": "ns", "uid": "u1", "annotations": annotations},
            "spec": spec,
            "status": {"loadBalancer": {"ingress": [{"ip": "10.0.0.5"}, {"hostname": "x"}]}}
        });
        match serde_json::from_value(v) {
            Ok(s) => s,
            Err(e) => panic!("fixture: {e}"),
        }
    }

    fn lb(extra: serde_json::Value) -> serde_json::Value {
        let mut base = json!({
            "type": "LoadBalancer",
            "ipFamilies": ["IPv4"],
            "ports": [{"port": 80}, {"port": 53, "protocol": "UDP"}]
        });
        if let (Some(b), Some(e)) = (base.as_object_mut(), extra.as_object()) {
            b.extend(e.clone());
        }
        base
    }

    fn ours(v: &ServiceView) -> &Request {
        match &v.handling {
            Ok(Handling::Ours(r)) => r,
            other => panic!("not ours: {other:?}"),
        }
    }

    #[test]
    fn reads_class_type_and_status() {
        let cls = &Classes::new("ironlb.io/ironlb");
        let v = view(&svc(json!({"type": "ClusterIP"}), json!({})), cls);
        assert_eq!(v.handling, Ok(Handling::NotLoadBalancer));
        assert_eq!(v.status_ips, vec!["10.0.0.5".parse::<IpAddr>().unwrap()]);
        let v = view(
            &svc(lb(json!({"loadBalancerClass": "other"})), json!({})),
            cls,
        );
        assert_eq!(v.handling, Ok(Handling::OtherClass));
        let v = view(
            &svc(lb(json!({"loadBalancerClass": cls.ours})), json!({})),
            cls,
        );
        assert_eq!(ours(&v).target, Target::Auto);
        let only = Classes {
            classless: false,
            ..cls.clone()
        };
        let v = view(&svc(lb(json!({})), json!({})), &only);
        assert_eq!(v.handling, Ok(Handling::OtherClass));
        let v = view(
            &svc(lb(json!({"loadBalancerClass": cls.ours})), json!({})),
            &only,
        );
        assert!(matches!(v.handling, Ok(Handling::Ours(_))));
        assert_eq!(v.key, ServiceKey::new("ns", "web"));
        assert_eq!(v.uid, "u1");
    }

    #[test]
    fn request_table() {
        let cls = &Classes::new("ironlb.io/ironlb");
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        type Case = (
            &'static str,
            serde_json::Value,
            serde_json::Value,
            Result<Target, &'static str>,
        );
        let cases: Vec<Case> = vec![
            ("auto", lb(json!({})), json!({}), Ok(Target::Auto)),
            (
                "spec ip",
                lb(json!({"loadBalancerIP": "10.0.0.9"})),
                json!({}),
                Ok(Target::Ips(vec![ip("10.0.0.9")])),
            ),
            (
                "metallb annotation list",
                lb(json!({})),
                json!({"metallb.universe.tf/loadBalancerIPs": "10.0.0.9, fd00::1"}),
                Ok(Target::Ips(vec![ip("10.0.0.9"), ip("fd00::1")])),
            ),
            (
                "pool by ironlb annotation",
                lb(json!({})),
                json!({"ironlb.io/address-pool": "gold"}),
                Ok(Target::Pool(PoolName("gold".into()))),
            ),
            (
                "ips win over pool",
                lb(json!({})),
                json!({"metallb.io/address-pool": "gold", "ironlb.io/loadBalancerIPs": "10.0.0.1"}),
                Ok(Target::Ips(vec![ip("10.0.0.1")])),
            ),
            (
                "both spec and annotation",
                lb(json!({"loadBalancerIP": "10.0.0.9"})),
                json!({"ironlb.io/loadBalancerIPs": "10.0.0.9"}),
                Err("both spec.loadBalancerIP"),
            ),
            (
                "malformed ip",
                lb(json!({})),
                json!({"ironlb.io/loadBalancerIPs": "10.0.0.300"}),
                Err("is not an IP address"),
            ),
            (
                "empty list",
                lb(json!({})),
                json!({"ironlb.io/loadBalancerIPs": " , "}),
                Err("is empty"),
            ),
            (
                "spellings disagree",
                lb(json!({})),
                json!({"ironlb.io/address-pool": "a", "metallb.io/address-pool": "b"}),
                Err("disagree"),
            ),
        ];
        for (name, spec, ann, want) in cases {
            let v = view(&svc(spec, ann), cls);
            match (&v.handling, want) {
                (Ok(Handling::Ours(r)), Ok(t)) => assert_eq!(r.target, t, "{name}"),
                (Err(e), Err(text)) => assert!(e.to_string().contains(text), "{name}: {e}"),
                (got, want) => panic!("{name}: got {got:?}, want {want:?}"),
            }
        }
    }

    #[test]
    fn families_ports_policy_and_sharing() {
        let cls = &Classes::new("ironlb.io/ironlb");
        let v = view(
            &svc(
                lb(json!({
                    "ipFamilies": ["IPv6"],
                    "ipFamilyPolicy": "PreferDualStack",
                    "externalTrafficPolicy": "Local",
                    "selector": {"app": "web"}
                })),
                json!({"metallb.universe.tf/allow-shared-ip": "k1"}),
            ),
            cls,
        );
        let r = ours(&v);
        assert_eq!(r.families.order, vec![Family::V6, Family::V4]);
        assert!(!r.families.require_all);
        assert_eq!(r.sharing.key, SharingKey::new("k1"));
        assert_eq!(r.sharing.ports.len(), 2);
        assert!(
            matches!(&r.sharing.policy, TrafficPolicy::Local { selector } if selector["app"] == "web")
        );

        let v = view(
            &svc(
                lb(json!({"ipFamilyPolicy": "RequireDualStack", "ipFamilies": ["IPv4", "IPv6"]})),
                json!({}),
            ),
            cls,
        );
        assert!(ours(&v).families.require_all);
        let v = view(
            &svc(
                lb(json!({"ports": [{"port": 1, "protocol": "ICMP"}]})),
                json!({}),
            ),
            cls,
        );
        assert!(matches!(v.handling, Err(RequestError::BadProtocol(_))));
    }
}
