//! Writing a Service's `status.loadBalancer.ingress`: the allocation record.

use std::net::IpAddr;

use k8s_openapi::api::core::v1::Service;
use kube::Api;
use kube::api::{Patch, PatchParams};
use serde_json::{Value, json};

use crate::allocator::ServiceKey;

/// The merge patch that sets the ingress list to exactly `ips` (`ipMode: VIP`).
pub fn patch(ips: &[IpAddr]) -> Value {
    let ingress: Vec<Value> = ips
        .iter()
        .map(|ip| json!({"ip": ip.to_string(), "ipMode": "VIP"}))
        .collect();
    json!({"status": {"loadBalancer": {"ingress": ingress}}})
}

/// Writes the status. A Service deleted meanwhile is not an error.
pub async fn write(
    client: &kube::Client,
    key: &ServiceKey,
    ips: &[IpAddr],
) -> Result<(), kube::Error> {
    let api: Api<Service> = Api::namespaced(client.clone(), &key.namespace);
    match api
        .patch_status(
            &key.name,
            &PatchParams::default(),
            &Patch::Merge(patch(ips)),
        )
        .await
    {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(e)) if e.code == 404 => Ok(()),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patch_lists_each_ip_as_vip_and_empty_clears() {
        let ips: Vec<IpAddr> = vec!["10.0.0.1".parse().unwrap(), "fd00::1".parse().unwrap()];
        assert_eq!(
            patch(&ips),
            json!({"status": {"loadBalancer": {"ingress": [
                {"ip": "10.0.0.1", "ipMode": "VIP"},
                {"ip": "fd00::1", "ipMode": "VIP"}
            ]}}})
        );
        assert_eq!(
            patch(&[]),
            json!({"status": {"loadBalancer": {"ingress": []}}})
        );
    }
}
