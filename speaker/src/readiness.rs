//! The speaker's readiness (`/readyz`, the pod's readiness probe): ready once it has elected
//! from a complete view of the cluster (so it reads the API) and its layer-2 responder can
//! answer (so it has its packet sockets). A speaker that lacks either says which, instead
//! of looking healthy.

use crate::l2::L2Health;
use tokio::sync::watch;

/// What keeps the speaker from being ready, or `None`.
pub fn missing(elected: bool, l2: &L2Health) -> Option<String> {
    match (elected, l2) {
        (_, L2Health::NoPacketSocket { .. }) => Some(l2.to_string()),
        (false, _) => Some(
            "waiting for the first election (Services, EndpointSlices, Nodes and the config \
             read from the API server)"
                .to_owned(),
        ),
        (true, L2Health::Starting) => Some(l2.to_string()),
        (true, L2Health::Answering) => None,
    }
}

/// Keeps `out` equal to [`missing`] of the latest `elected` and `l2`, logging each change,
/// until both inputs are gone.
pub async fn follow(
    mut elected: watch::Receiver<bool>,
    mut l2: watch::Receiver<L2Health>,
    out: watch::Sender<Option<String>>,
) {
    loop {
        let now = missing(*elected.borrow_and_update(), &l2.borrow_and_update());
        if out.send_if_modified(|m| std::mem::replace(m, now.clone()) != now) {
            match &now {
                None => tracing::info!("ready"),
                Some(why) => tracing::warn!(reason = %why, "not ready"),
            }
        }
        tokio::select! {
            r = elected.changed() => if r.is_err() { return },
            r = l2.changed() => if r.is_err() { return },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ready_only_when_elected_and_answering() {
        let no_socket = L2Health::NoPacketSocket {
            iface: "eth0".into(),
            error: "Operation not permitted (os error 1)".into(),
        };
        let cases = [
            (
                false,
                L2Health::Starting,
                Some("waiting for the first election"),
            ),
            (
                false,
                L2Health::Answering,
                Some("waiting for the first election"),
            ),
            (true, L2Health::Starting, Some("not scanned yet")),
            (true, L2Health::Answering, None),
            (
                true,
                no_socket.clone(),
                Some("cannot open a packet socket on eth0"),
            ),
            (false, no_socket, Some("NET_RAW")),
        ];
        for (elected, l2, want) in cases {
            let got = missing(elected, &l2);
            match want {
                None => assert_eq!(got, None, "{elected} {l2:?}"),
                Some(part) => assert!(
                    got.as_deref().is_some_and(|g| g.contains(part)),
                    "{elected} {l2:?}: {got:?} lacks {part:?}"
                ),
            }
        }
    }
}
