//! A Service's identity and the addresses its status records: the one reading of
//! `status.loadBalancer.ingress` that the controller (its allocation record), the speaker
//! (what to announce) and `ironlb status` share.

use std::fmt;
use std::net::IpAddr;

use k8s_openapi::api::core::v1::Service;

/// A Service's identity: namespace and name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ServiceKey {
    /// `metadata.namespace`.
    pub namespace: String,
    /// `metadata.name`.
    pub name: String,
}

impl ServiceKey {
    /// A key from namespace and name.
    pub fn new(namespace: impl Into<String>, name: impl Into<String>) -> Self {
        Self {
            namespace: namespace.into(),
            name: name.into(),
        }
    }

    /// The key of `svc` (empty strings for a missing namespace or name, which the API
    /// never sends).
    pub fn of(svc: &Service) -> Self {
        Self::new(
            svc.metadata.namespace.clone().unwrap_or_default(),
            svc.metadata.name.clone().unwrap_or_default(),
        )
    }
}

impl fmt::Display for ServiceKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.namespace, self.name)
    }
}

/// The addresses in a Service's `status.loadBalancer.ingress[].ip`, in order. Entries that
/// are not IP addresses (hostname-only ones) are skipped: they are not ours to announce.
pub fn status_ips(svc: &Service) -> Vec<IpAddr> {
    svc.status
        .as_ref()
        .and_then(|s| s.load_balancer.as_ref())
        .and_then(|lb| lb.ingress.as_ref())
        .into_iter()
        .flatten()
        .filter_map(|i| i.ip.as_deref()?.parse().ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{LoadBalancerIngress, LoadBalancerStatus, ServiceStatus};

    fn with_ingress(entries: &[(Option<&str>, Option<&str>)]) -> Service {
        Service {
            status: Some(ServiceStatus {
                load_balancer: Some(LoadBalancerStatus {
                    ingress: Some(
                        entries
                            .iter()
                            .map(|(ip, host)| LoadBalancerIngress {
                                ip: ip.map(String::from),
                                hostname: host.map(String::from),
                                ..LoadBalancerIngress::default()
                            })
                            .collect(),
                    ),
                }),
                ..ServiceStatus::default()
            }),
            ..Service::default()
        }
    }

    #[test]
    fn status_ips_keep_order_and_skip_hostnames_and_garbage() {
        let svc = with_ingress(&[
            (Some("2001:db8::1"), None),
            (None, Some("lb.example.com")),
            (Some("not-an-ip"), None),
            (Some("192.0.2.1"), None),
        ]);
        let want: Vec<IpAddr> = vec!["2001:db8::1".parse().unwrap(), "192.0.2.1".parse().unwrap()];
        assert_eq!(status_ips(&svc), want);
        assert!(status_ips(&Service::default()).is_empty());
    }

    #[test]
    fn key_displays_as_namespace_slash_name() {
        assert_eq!(ServiceKey::new("web", "front").to_string(), "web/front");
        assert_eq!(ServiceKey::of(&Service::default()), ServiceKey::new("", ""));
    }
}
