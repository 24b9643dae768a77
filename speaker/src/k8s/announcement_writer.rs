//! Writes this node's `NodeAnnouncement` ([`ironlb_k8s::node_announcement`]) from the
//! orchestrator's announcement view.
//!
//! ```text
//!   orchestrator ──AnnouncementView (full set)──> NodeAnnouncementWriter ──next_status (pure)──> changed?
//!                                                                       yes: server-side apply
//!                                                                       no:  nothing written
//! ```
//! Invariant: the API is written only when the published content changes, never periodically;
//! `since` of an entry whose content is unchanged is kept (also across speaker restarts, since
//! the writer starts from the object already in the API).

use std::time::{SystemTime, UNIX_EPOCH};

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{OwnerReference, Time};
use k8s_openapi::jiff::Timestamp;
use kube::Client;
use kube::api::{Api, Patch, PatchParams};
use tokio::sync::watch;
use tracing::{debug, warn};

use ironlb_k8s::backoff::Backoff;
use ironlb_k8s::node_announcement::{
    Announcement, BgpSession, L2Conflict, NodeAnnouncement, NodeAnnouncementStatus,
};

use crate::view::AnnouncementView;

/// The field manager of the speaker's server-side applies.
pub const FIELD_MANAGER: &str = "ironlb-speaker";

/// The status to publish given what is `published` (`None`: no object yet) and what is
/// `desired`, or `None` when the published status already says exactly that (nothing to write).
///
/// `since` is kept for an IP announced in the same mode, and for a session in the same state;
/// otherwise it is `now`.
pub fn next_status(
    published: Option<&NodeAnnouncementStatus>,
    desired: &AnnouncementView,
    now: &Time,
) -> Option<NodeAnnouncementStatus> {
    let empty = NodeAnnouncementStatus::default();
    let current = published.unwrap_or(&empty);
    let announcements = desired
        .announcements
        .iter()
        .map(|(ip, want)| {
            let since = current
                .announcements
                .iter()
                .find(|a| a.ip == *ip && a.mode == want.mode)
                .map_or_else(|| now.clone(), |a| a.since.clone());
            Announcement {
                ip: *ip,
                services: want.services.iter().cloned().collect(),
                mode: want.mode,
                interface: want.interface.clone(),
                peers: want.peers.iter().copied().collect(),
                since,
            }
        })
        .collect();
    let bgp_sessions = desired
        .bgp_sessions
        .iter()
        .map(|(peer, state)| {
            let since = current
                .bgp_sessions
                .iter()
                .find(|s| s.peer == *peer && s.state == *state)
                .map_or_else(|| now.clone(), |s| s.since.clone());
            BgpSession {
                peer: *peer,
                state: *state,
                since,
            }
        })
        .collect();
    let conflicts = desired
        .conflicts
        .iter()
        .map(|(ip, seen)| {
            let last_seen = current
                .conflicts
                .iter()
                .find(|c| c.ip == *ip && c.count == seen.count)
                .map_or_else(|| now.clone(), |c| c.last_seen.clone());
            L2Conflict {
                ip: *ip,
                interface: seen.iface.clone(),
                last_mac: seen.mac.to_string(),
                count: seen.count,
                last_seen,
            }
        })
        .collect();
    let next = NodeAnnouncementStatus {
        announcements,
        bgp_sessions,
        conflicts,
    };
    // No object yet (`None`): write even an empty status, so the node is listed.
    (published != Some(&next)).then_some(next)
}

/// Errors of [`NodeAnnouncementWriter::publish`].
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    /// Reading this node's object failed.
    #[error("reading NodeAnnouncement {node}: {source}")]
    Read {
        /// The node.
        node: String,
        /// The API error.
        source: kube::Error,
    },
    /// Creating or updating this node's object failed.
    #[error("writing NodeAnnouncement {node}: {source}")]
    Write {
        /// The node.
        node: String,
        /// The API error.
        source: kube::Error,
    },
}

/// Publishes this node's [`NodeAnnouncement`], writing only when its content changes.
///
/// Call [`NodeAnnouncementWriter::publish`] with the full desired set whenever it may have changed; a failed
/// write leaves the writer unchanged, so calling again (e.g. on a retry timer) retries it.
pub struct NodeAnnouncementWriter {
    api: Api<NodeAnnouncement>,
    node: String,
    owner: Option<OwnerReference>,
    /// What the API holds: `None` until read (first publish), `Some(None)` while there is no
    /// object. Read once: the speaker is the only writer, so later reads would only cost.
    published: Option<Option<NodeAnnouncementStatus>>,
}

impl NodeAnnouncementWriter {
    /// A writer for node `node`. With the Node's `uid`, the object is owned by the Node, so it
    /// is garbage-collected when the Node is deleted.
    pub fn new(client: Client, node: &str, node_uid: Option<&str>) -> NodeAnnouncementWriter {
        NodeAnnouncementWriter {
            api: Api::all(client),
            node: node.to_owned(),
            owner: node_uid.map(|uid| OwnerReference {
                api_version: "v1".to_owned(),
                kind: "Node".to_owned(),
                name: node.to_owned(),
                uid: uid.to_owned(),
                ..OwnerReference::default()
            }),
            published: None,
        }
    }

    /// The status of this node's object as the API holds it (`None`: no object).
    async fn read(&self) -> Result<Option<NodeAnnouncementStatus>, PublishError> {
        let object = self
            .api
            .get_opt(&self.node)
            .await
            .map_err(|source| PublishError::Read {
                node: self.node.clone(),
                source,
            })?;
        Ok(object.map(|o| o.status.unwrap_or_default()))
    }

    /// Empties the status of this node's object, if there is one (a stopping speaker announces
    /// nothing); never creates it. Returns whether anything was written.
    pub async fn clear(&mut self) -> Result<bool, PublishError> {
        let Some(status) = self.read().await? else {
            return Ok(false);
        };
        self.published = Some(Some(status));
        self.publish(&AnnouncementView::default()).await
    }

    /// Makes the API show `desired`; returns whether anything was written.
    pub async fn publish(&mut self, desired: &AnnouncementView) -> Result<bool, PublishError> {
        let published = match &self.published {
            Some(p) => p.clone(),
            None => self.read().await?,
        };
        let Some(next) = next_status(published.as_ref(), desired, &now()) else {
            self.published = Some(published);
            return Ok(false);
        };
        let write_err = |source| PublishError::Write {
            node: self.node.clone(),
            source,
        };
        let params = PatchParams::apply(FIELD_MANAGER).force();
        if published.is_none() {
            let object = serde_json::json!({
                "apiVersion": "ironlb.io/v1alpha1",
                "kind": "NodeAnnouncement",
                "metadata": {"name": self.node, "ownerReferences": self.owner.iter().collect::<Vec<_>>()},
                "spec": {"nodeName": self.node},
            });
            self.api
                .patch(&self.node, &params, &Patch::Apply(object))
                .await
                .map_err(write_err)?;
        }
        let status = serde_json::json!({
            "apiVersion": "ironlb.io/v1alpha1",
            "kind": "NodeAnnouncement",
            "status": next,
        });
        let result = self
            .api
            .patch_status(&self.node, &params, &Patch::Apply(status))
            .await;
        if let Err(kube::Error::Api(e)) = &result
            && e.code == 404
        {
            // Deleted behind our back: create it again on the next call.
            self.published = Some(None);
        }
        result.map_err(write_err)?;
        self.published = Some(Some(next));
        Ok(true)
    }
}

/// The least time between two writes of the NodeAnnouncement. A burst of changes (thousands
/// of Services created or deleted) is written as a few snapshots, not one server-side apply of
/// the whole object per change (at 3,000 IPs the object is about 450 kB).
pub const MIN_WRITE_INTERVAL: std::time::Duration = std::time::Duration::from_secs(1);

/// Publishes each set sent on `desired` with `writer` until the sender is dropped, at most
/// once per [`MIN_WRITE_INTERVAL`] (the first change after a quiet spell at once; changes
/// meanwhile are folded into the next write). A failed write is retried with backoff (0.5 s
/// doubling to 30 s) until it succeeds or a newer set replaces it, so an API outage delays
/// the object but loses nothing.
pub async fn publish_changes(
    mut writer: NodeAnnouncementWriter,
    mut desired: watch::Receiver<std::sync::Arc<AnnouncementView>>,
) {
    let mut backoff = Backoff::new(
        std::time::Duration::from_millis(500),
        std::time::Duration::from_secs(30),
    );
    loop {
        let want = std::sync::Arc::clone(&desired.borrow_and_update());
        match writer.publish(&want).await {
            Ok(written) => {
                backoff.reset();
                if written {
                    debug!(ips = want.announcements.len(), "NodeAnnouncement written");
                    tokio::time::sleep(MIN_WRITE_INTERVAL).await;
                }
                if desired.changed().await.is_err() {
                    return;
                }
            }
            Err(e) => {
                let delay = backoff.next_delay();
                warn!(error = %e, retry_in = ?delay, "NodeAnnouncement not published");
                tokio::select! {
                    changed = desired.changed() => if changed.is_err() { return },
                    () = tokio::time::sleep(delay) => {}
                }
            }
        }
    }
}

/// The current time, to the second (what `Time` serializes).
fn now() -> Time {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    Time(Timestamp::from_second(i64::try_from(secs).unwrap_or(0)).unwrap_or(Timestamp::UNIX_EPOCH))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::view::Announced;
    use ironlb_k8s::node_announcement::{AnnounceMode, BgpSessionState};
    use std::collections::BTreeSet;
    use std::net::IpAddr;

    fn t(secs: i64) -> Time {
        Time(Timestamp::from_second(secs).unwrap())
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn l2(services: &[&str], iface: &str) -> Announced {
        Announced {
            services: services.iter().map(|s| s.to_string()).collect(),
            mode: AnnounceMode::Layer2,
            interface: Some(iface.to_owned()),
            peers: BTreeSet::new(),
        }
    }

    fn desired(
        anns: &[(&str, Announced)],
        sessions: &[(&str, BgpSessionState)],
    ) -> AnnouncementView {
        AnnouncementView {
            announcements: anns.iter().map(|(i, a)| (ip(i), a.clone())).collect(),
            bgp_sessions: sessions.iter().map(|(p, s)| (ip(p), *s)).collect(),
            conflicts: crate::l2::Conflicts::new(),
        }
    }

    #[test]
    fn conflicts_are_listed_with_last_seen_moving_only_with_the_count() {
        let mut d = desired(&[("192.0.2.10", l2(&["default/web"], "eth0"))], &[]);
        let seen = |count| crate::l2::ConflictSeen {
            iface: "eth0".into(),
            mac: crate::l2::ethernet::MacAddr([2, 0, 0, 0, 0, 0x12]),
            count,
        };
        d.conflicts.insert(ip("192.0.2.10"), seen(3));
        let first = next_status(None, &d, &t(1)).unwrap();
        assert_eq!(
            first.conflicts,
            vec![L2Conflict {
                ip: ip("192.0.2.10"),
                interface: "eth0".into(),
                last_mac: "02:00:00:00:00:12".into(),
                count: 3,
                last_seen: t(1),
            }]
        );
        assert_eq!(
            next_status(Some(&first), &d, &t(2)),
            None,
            "same count: no write"
        );
        d.conflicts.insert(ip("192.0.2.10"), seen(9));
        let second = next_status(Some(&first), &d, &t(3)).unwrap();
        assert_eq!(
            (second.conflicts[0].count, &second.conflicts[0].last_seen),
            (9, &t(3))
        );
        d.conflicts.clear();
        assert!(
            next_status(Some(&second), &d, &t(4))
                .unwrap()
                .conflicts
                .is_empty()
        );
    }

    #[test]
    fn nothing_published_and_nothing_desired_writes_an_empty_status() {
        // The object must exist so that `kubectl get` shows the node announces nothing.
        let next = next_status(None, &AnnouncementView::default(), &t(1));
        assert_eq!(next, Some(NodeAnnouncementStatus::default()));
    }

    #[test]
    fn same_content_is_not_written_again() {
        let d = desired(&[("192.0.2.10", l2(&["default/web"], "eth0"))], &[]);
        let first = next_status(None, &d, &t(1)).unwrap();
        assert_eq!(next_status(Some(&first), &d, &t(2)), None);
    }

    #[test]
    fn new_ip_gets_now_and_existing_ip_keeps_its_since() {
        let d1 = desired(&[("192.0.2.10", l2(&["default/web"], "eth0"))], &[]);
        let first = next_status(None, &d1, &t(1)).unwrap();
        let d2 = desired(
            &[
                ("192.0.2.10", l2(&["default/web"], "eth0")),
                ("2001:db8::10", l2(&["default/web6"], "eth0")),
            ],
            &[],
        );
        let second = next_status(Some(&first), &d2, &t(5)).unwrap();
        assert_eq!(second.announcements.len(), 2);
        assert_eq!(second.announcements[0].ip, ip("192.0.2.10"));
        assert_eq!(second.announcements[0].since, t(1));
        assert_eq!(second.announcements[1].since, t(5));
    }

    #[test]
    fn a_new_service_on_the_same_ip_is_written_but_keeps_since() {
        let first = next_status(
            None,
            &desired(&[("192.0.2.10", l2(&["a/x"], "eth0"))], &[]),
            &t(1),
        )
        .unwrap();
        let d = desired(&[("192.0.2.10", l2(&["a/x", "b/y"], "eth0"))], &[]);
        let next = next_status(Some(&first), &d, &t(9)).unwrap();
        assert_eq!(next.announcements[0].services, ["a/x", "b/y"]);
        assert_eq!(next.announcements[0].since, t(1));
    }

    #[test]
    fn mode_change_resets_since() {
        let first = next_status(
            None,
            &desired(&[("192.0.2.10", l2(&["a/x"], "eth0"))], &[]),
            &t(1),
        )
        .unwrap();
        let bgp = Announced {
            services: ["a/x".to_owned()].into(),
            mode: AnnounceMode::Bgp,
            interface: None,
            peers: [ip("192.0.2.1")].into(),
        };
        let next = next_status(Some(&first), &desired(&[("192.0.2.10", bgp)], &[]), &t(3)).unwrap();
        assert_eq!(next.announcements[0].mode, AnnounceMode::Bgp);
        assert_eq!(next.announcements[0].peers, [ip("192.0.2.1")]);
        assert_eq!(next.announcements[0].since, t(3));
    }

    #[test]
    fn withdrawn_ip_is_removed() {
        let first = next_status(
            None,
            &desired(&[("192.0.2.10", l2(&["a/x"], "eth0"))], &[]),
            &t(1),
        )
        .unwrap();
        let next = next_status(Some(&first), &AnnouncementView::default(), &t(2)).unwrap();
        assert!(next.announcements.is_empty());
    }

    #[test]
    fn bgp_session_since_follows_state_changes() {
        use BgpSessionState::*;
        let first = next_status(None, &desired(&[], &[("192.0.2.1", Connect)]), &t(1)).unwrap();
        assert_eq!(
            next_status(
                Some(&first),
                &desired(&[], &[("192.0.2.1", Connect)]),
                &t(2)
            ),
            None
        );
        let up = next_status(
            Some(&first),
            &desired(&[], &[("192.0.2.1", Established)]),
            &t(4),
        )
        .unwrap();
        assert_eq!(up.bgp_sessions[0].state, Established);
        assert_eq!(up.bgp_sessions[0].since, t(4));
    }

    #[test]
    fn status_serializes_as_documented() {
        let d = desired(
            &[("192.0.2.10", l2(&["default/web"], "eth0"))],
            &[("192.0.2.1", BgpSessionState::OpenSent)],
        );
        let s = next_status(None, &d, &t(0)).unwrap();
        assert_eq!(
            serde_json::to_value(&s).unwrap(),
            serde_json::json!({
                "announcements": [{"ip": "192.0.2.10", "services": ["default/web"], "mode": "layer2",
                                   "interface": "eth0", "since": "1970-01-01T00:00:00Z"}],
                "bgpSessions": [{"peer": "192.0.2.1", "state": "OpenSent", "since": "1970-01-01T00:00:00Z"}],
            })
        );
        let back: NodeAnnouncementStatus =
            serde_json::from_value(serde_json::to_value(&s).unwrap()).unwrap();
        assert_eq!(back, s);
    }
}
