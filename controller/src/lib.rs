//! IronLB controller: watches the config and LoadBalancer Services and gives each its IPs.
#![forbid(unsafe_code)]
