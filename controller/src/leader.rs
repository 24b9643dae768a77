//! Leader election through a Lease (kube-lease-manager): every replica computes, only the
//! one holding the Lease writes.

use kube_lease_manager::{LeaseManager, LeaseManagerBuilder, LeaseManagerError};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// The campaign task: it ends (releasing the Lease) once every receiver is dropped.
pub type Campaign = JoinHandle<Result<LeaseManager, LeaseManagerError>>;

/// Lease duration: a follower takes over within this long after the leader dies.
pub const LEASE_SECONDS: u64 = 10;
/// How long before expiry the holder renews.
pub const GRACE_SECONDS: u64 = 3;

/// Starts campaigning for `namespace/lease_name` as `identity`. The receiver holds `true`
/// while this replica leads; the Lease is released when every receiver is dropped, which
/// the returned task finishes doing (await it on shutdown so a successor need not wait
/// for the Lease to expire).
pub async fn campaign(
    client: kube::Client,
    namespace: &str,
    lease_name: &str,
    identity: &str,
) -> Result<(watch::Receiver<bool>, Campaign), LeaseManagerError> {
    let manager = LeaseManagerBuilder::new(client, lease_name)
        .with_namespace(namespace)
        .with_identity(identity)
        .with_duration(LEASE_SECONDS)
        .with_grace(GRACE_SECONDS)
        .build()
        .await?;
    Ok(manager.watch().await)
}
