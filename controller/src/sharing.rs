//! When two Services may hold the same IP.
//!
//! The rule (design notes, "Sharing"): both carry the same non-empty sharing key, none of
//! their (protocol, port) pairs overlap, and their traffic policies agree (both `Cluster`,
//! or both `Local` with the same pod selector). The check is symmetric; an IP's holders
//! are always pairwise compatible unless the controller found them so on start (a
//! conflict it reports and never resolves silently).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

/// The value of the `allow-shared-ip` annotation. Never empty.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SharingKey(String);

impl SharingKey {
    /// A key from an annotation value; `None` for an empty (or blank) value, which means
    /// "does not share".
    pub fn new(value: &str) -> Option<Self> {
        let value = value.trim();
        (!value.is_empty()).then(|| Self(value.to_owned()))
    }

    /// The key as written.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for SharingKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A layer-4 protocol of a Service port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum L4Protocol {
    /// TCP (the Kubernetes default).
    Tcp,
    /// UDP.
    Udp,
    /// SCTP.
    Sctp,
}

impl fmt::Display for L4Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            L4Protocol::Tcp => "TCP",
            L4Protocol::Udp => "UDP",
            L4Protocol::Sctp => "SCTP",
        })
    }
}

/// One (protocol, port) a Service exposes on its IP.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PortSpec {
    /// The protocol.
    pub protocol: L4Protocol,
    /// The port number.
    pub port: u16,
}

impl fmt::Display for PortSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.port, self.protocol)
    }
}

/// `externalTrafficPolicy`, with the pod selector that matters for `Local`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum TrafficPolicy {
    /// Any node may forward.
    #[default]
    Cluster,
    /// Only nodes with a local endpoint; sharers must select the same pods.
    Local {
        /// The Service's `spec.selector`.
        selector: BTreeMap<String, String>,
    },
}

/// What the sharing rule needs to know about one Service.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Sharing {
    /// The sharing key, if the Service asks to share.
    pub key: Option<SharingKey>,
    /// Every (protocol, port) the Service exposes.
    pub ports: BTreeSet<PortSpec>,
    /// Its traffic policy.
    pub policy: TrafficPolicy,
}

/// Why two Services may not share an IP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ShareConflict {
    /// At least one of them has no sharing key.
    NoSharingKey,
    /// Their sharing keys differ.
    KeyMismatch,
    /// Both expose this (protocol, port).
    PortOverlap(PortSpec),
    /// Their traffic policies (or `Local` selectors) differ.
    PolicyMismatch,
}

impl fmt::Display for ShareConflict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ShareConflict::NoSharingKey => f.write_str("a sharing key is missing"),
            ShareConflict::KeyMismatch => f.write_str("sharing keys differ"),
            ShareConflict::PortOverlap(p) => write!(f, "both use port {p}"),
            ShareConflict::PolicyMismatch => f.write_str("traffic policies differ"),
        }
    }
}

/// Whether `a` and `b` may hold the same IP; the first broken rule otherwise.
pub fn can_share(a: &Sharing, b: &Sharing) -> Result<(), ShareConflict> {
    match (&a.key, &b.key) {
        (Some(x), Some(y)) if x == y => {}
        (Some(_), Some(_)) => return Err(ShareConflict::KeyMismatch),
        _ => return Err(ShareConflict::NoSharingKey),
    }
    if let Some(port) = a.ports.intersection(&b.ports).next() {
        return Err(ShareConflict::PortOverlap(*port));
    }
    if a.policy != b.policy {
        return Err(ShareConflict::PolicyMismatch);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn svc(key: Option<&str>, ports: &[(L4Protocol, u16)], policy: TrafficPolicy) -> Sharing {
        Sharing {
            key: key.and_then(SharingKey::new),
            ports: ports
                .iter()
                .map(|&(protocol, port)| PortSpec { protocol, port })
                .collect(),
            policy,
        }
    }

    fn local(app: &str) -> TrafficPolicy {
        TrafficPolicy::Local {
            selector: [("app".to_owned(), app.to_owned())].into(),
        }
    }

    #[test]
    fn sharing_rules_table() {
        use L4Protocol::*;
        use TrafficPolicy::Cluster;
        let cases: Vec<(&str, Sharing, Sharing, Result<(), ShareConflict>)> = vec![
            (
                "same key, distinct ports",
                svc(Some("k"), &[(Tcp, 80)], Cluster),
                svc(Some("k"), &[(Tcp, 443)], Cluster),
                Ok(()),
            ),
            (
                "same port number, other protocol",
                svc(Some("k"), &[(Tcp, 53)], Cluster),
                svc(Some("k"), &[(Udp, 53)], Cluster),
                Ok(()),
            ),
            (
                "no key on one side",
                svc(None, &[(Tcp, 80)], Cluster),
                svc(Some("k"), &[(Tcp, 443)], Cluster),
                Err(ShareConflict::NoSharingKey),
            ),
            (
                "blank key means no key",
                svc(Some("  "), &[(Tcp, 80)], Cluster),
                svc(Some("  "), &[(Tcp, 443)], Cluster),
                Err(ShareConflict::NoSharingKey),
            ),
            (
                "different keys",
                svc(Some("a"), &[(Tcp, 80)], Cluster),
                svc(Some("b"), &[(Tcp, 443)], Cluster),
                Err(ShareConflict::KeyMismatch),
            ),
            (
                "overlapping port",
                svc(Some("k"), &[(Tcp, 80), (Tcp, 8080)], Cluster),
                svc(Some("k"), &[(Tcp, 8080)], Cluster),
                Err(ShareConflict::PortOverlap(PortSpec {
                    protocol: Tcp,
                    port: 8080,
                })),
            ),
            (
                "cluster vs local",
                svc(Some("k"), &[(Tcp, 80)], Cluster),
                svc(Some("k"), &[(Tcp, 443)], local("x")),
                Err(ShareConflict::PolicyMismatch),
            ),
            (
                "local, same selector",
                svc(Some("k"), &[(Tcp, 80)], local("x")),
                svc(Some("k"), &[(Tcp, 443)], local("x")),
                Ok(()),
            ),
            (
                "local, other selector",
                svc(Some("k"), &[(Tcp, 80)], local("x")),
                svc(Some("k"), &[(Tcp, 443)], local("y")),
                Err(ShareConflict::PolicyMismatch),
            ),
        ];
        for (name, a, b, want) in cases {
            assert_eq!(can_share(&a, &b), want, "{name}");
            assert_eq!(can_share(&b, &a), want, "{name} (swapped)");
        }
    }
}
