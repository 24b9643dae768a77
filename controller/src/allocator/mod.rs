//! The IP allocator: which Service holds which address. Pure: no Kubernetes types, no I/O.
//!
//! Invariants:
//! - an address is held only by Services that may share it (see [`crate::sharing`]), except
//!   where [`Allocator::claim`] found existing holders in conflict: those are recorded as
//!   they are and reported, never resolved by taking an address away;
//! - a Service keeps its addresses while they still satisfy its request (stable IPs);
//! - an address is handed out only if it lies in a pool the Service's namespace may use.
//!
//! Cost: finding a free address is amortised O(log n) in the addresses in use, whatever the
//! pool's size (see [`range`]); looking up an address's pool walks the configured ranges,
//! which is the size of the config, not of the pools.

mod range;
#[cfg(test)]
mod tests;

use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ironlb_config::{Config, PoolName};

use crate::sharing::{ShareConflict, Sharing, SharingKey, can_share};
use range::RangeState;

/// A Service's identity (the one IronLB shares across its binaries).
pub use ironlb_k8s::ServiceKey;

/// An IP family.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Family {
    /// IPv4.
    V4,
    /// IPv6.
    V6,
}

impl Family {
    /// The family of an address.
    pub fn of(ip: IpAddr) -> Self {
        match ip {
            IpAddr::V4(_) => Family::V4,
            IpAddr::V6(_) => Family::V6,
        }
    }

    /// Lower-case label for metrics: `ipv4` / `ipv6`.
    pub fn label(self) -> &'static str {
        match self {
            Family::V4 => "ipv4",
            Family::V6 => "ipv6",
        }
    }
}

impl fmt::Display for Family {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Family::V4 => "IPv4",
            Family::V6 => "IPv6",
        })
    }
}

fn to_bits(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(v4) => u128::from(u32::from(v4)),
        IpAddr::V6(v6) => u128::from(v6),
    }
}

fn from_bits(family: Family, bits: u128) -> IpAddr {
    match family {
        // Ranges of family V4 only ever hold values that came from an Ipv4Addr.
        Family::V4 => IpAddr::V4(Ipv4Addr::from(bits as u32)),
        Family::V6 => IpAddr::V6(Ipv6Addr::from(bits)),
    }
}

/// Where a Service's addresses must come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// Any auto-assign pool the namespace may use.
    Auto,
    /// This pool (auto-assign or not).
    Pool(PoolName),
    /// Exactly these addresses (at most one per family).
    Ips(Vec<IpAddr>),
}

/// Which families a Service wants (`ipFamilies` / `ipFamilyPolicy`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Families {
    /// Wanted families, primary first; never empty, no repeats.
    pub order: Vec<Family>,
    /// `RequireDualStack` (or single-stack): every family in `order` is needed.
    /// `PreferDualStack`: one is enough when not all can be had.
    pub require_all: bool,
}

impl Families {
    /// One family only.
    pub fn single(family: Family) -> Self {
        Self {
            order: vec![family],
            require_all: true,
        }
    }
}

/// One Service's allocation request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// The Service.
    pub service: ServiceKey,
    /// Requested IPs, a named pool, or any.
    pub target: Target,
    /// Wanted families.
    pub families: Families,
    /// What the sharing rule needs.
    pub sharing: Sharing,
}

/// Why an allocation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AllocError {
    /// No free (or shareable) address of that family.
    #[error("no free {family} address in {}", match .pool { Some(p) => format!("pool {p}"), None => "any auto-assign pool".to_owned() })]
    PoolExhausted {
        /// The named pool, or `None` for auto-assign.
        pool: Option<PoolName>,
        /// The family that ran out.
        family: Family,
    },
    /// No auto-assign pool is open to the namespace.
    #[error("no auto-assign pool is available to namespace {0}")]
    NoPool(String),
    /// The named pool does not exist.
    #[error("pool {0} does not exist")]
    UnknownPool(PoolName),
    /// The pool is restricted to other namespaces.
    #[error("pool {pool} is not open to namespace {namespace}")]
    PoolNotAllowed {
        /// The pool.
        pool: PoolName,
        /// The Service's namespace.
        namespace: String,
    },
    /// A requested address lies in no pool (or is a .0/.255 of an avoid-buggy-ips pool).
    #[error("{0} is not in any pool")]
    IpOutsidePools(IpAddr),
    /// A requested (or held) address is held by a Service it may not share with.
    #[error("{ip} is in use by {holder} ({why})")]
    IpInUse {
        /// The address.
        ip: IpAddr,
        /// One Service holding it.
        holder: ServiceKey,
        /// The broken sharing rule.
        why: ShareConflict,
    },
    /// An address or pool of a family the Service does not want, or a wanted family missing.
    #[error("family mismatch: {0}")]
    FamilyMismatch(FamilyMismatch),
}

/// How a Service's address families and what it holds, asks for or can get disagree.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FamilyMismatch {
    /// It holds no address at all.
    #[error("no address held")]
    NoAddressHeld,
    /// The pool it names (or, with `None`, every auto-assign pool) has none of `family`.
    #[error("{} has no {family} addresses", .pool.as_ref().map_or("any auto-assign pool".to_owned(), |p| format!("pool {p}")))]
    PoolLacks {
        /// The named pool, if any.
        pool: Option<String>,
        /// The family missing.
        family: Family,
    },
    /// Dual-stack is required but no pool has every family.
    #[error("dual-stack required but no pool has both {} addresses", list(.families))]
    NoDualStackPool {
        /// The families required.
        families: Vec<Family>,
    },
    /// A requested address is of a family the Service does not have.
    #[error("{ip} is {family} but the Service's families are {}", list(.families))]
    WrongFamily {
        /// The address.
        ip: IpAddr,
        /// Its family.
        family: Family,
        /// The Service's families.
        families: Vec<Family>,
    },
    /// Two requested addresses of one family.
    #[error("more than one {0} address requested")]
    Repeated(Family),
    /// A required family has no requested address.
    #[error("no {missing} address requested but the Service requires {}", list(.families))]
    Missing {
        /// The family missing.
        missing: Family,
        /// The Service's families.
        families: Vec<Family>,
    },
}

/// A bounded, stable name for an outcome: the Event reason and the metric label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Reason {
    /// No free address.
    PoolExhausted,
    /// No pool open to the namespace.
    NoPoolAvailable,
    /// Named pool missing.
    UnknownPool,
    /// Pool closed to the namespace.
    PoolNotAllowed,
    /// Requested address in no pool.
    IpOutsidePools,
    /// Address held by another Service.
    IpInUse,
    /// Wrong family.
    FamilyMismatch,
}

impl Reason {
    /// The reason as a PascalCase word.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::PoolExhausted => "PoolExhausted",
            Reason::NoPoolAvailable => "NoPoolAvailable",
            Reason::UnknownPool => "UnknownPool",
            Reason::PoolNotAllowed => "PoolNotAllowed",
            Reason::IpOutsidePools => "IPOutsidePools",
            Reason::IpInUse => "IPInUse",
            Reason::FamilyMismatch => "FamilyMismatch",
        }
    }
}

impl AllocError {
    /// The bounded reason for this error.
    pub fn reason(&self) -> Reason {
        match self {
            AllocError::PoolExhausted { .. } => Reason::PoolExhausted,
            AllocError::NoPool(_) => Reason::NoPoolAvailable,
            AllocError::UnknownPool(_) => Reason::UnknownPool,
            AllocError::PoolNotAllowed { .. } => Reason::PoolNotAllowed,
            AllocError::IpOutsidePools(_) => Reason::IpOutsidePools,
            AllocError::IpInUse { .. } => Reason::IpInUse,
            AllocError::FamilyMismatch(_) => Reason::FamilyMismatch,
        }
    }
}

/// A problem found while re-claiming a Service's existing addresses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClaimProblem {
    /// The address is in no pool; it was not claimed.
    OutsidePools(IpAddr),
    /// The address is also held by `other`, and the two may not share. Both keep it.
    Conflict {
        /// The address.
        ip: IpAddr,
        /// The other holder.
        other: ServiceKey,
        /// The broken rule.
        why: ShareConflict,
    },
}

/// Addresses in one pool and family, for metrics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolUsage {
    /// The pool.
    pub pool: PoolName,
    /// The family.
    pub family: Family,
    /// Usable addresses (saturating).
    pub size: u128,
    /// Addresses held by at least one Service.
    pub in_use: u128,
}

#[derive(Debug, Clone)]
struct PoolState {
    name: PoolName,
    ranges: Vec<RangeState>,
    namespaces: Vec<String>,
    auto_assign: bool,
    in_use: [u128; 2],
}

impl PoolState {
    fn allows(&self, namespace: &str) -> bool {
        self.namespaces.is_empty() || self.namespaces.iter().any(|n| n == namespace)
    }

    fn has_family(&self, family: Family) -> bool {
        self.ranges.iter().any(|r| r.family == family)
    }
}

#[derive(Debug, Clone)]
struct Holder {
    service: ServiceKey,
    sharing: Sharing,
}

#[derive(Debug, Clone)]
struct IpEntry {
    pool: usize,
    range: usize,
    holders: Vec<Holder>,
}

#[derive(Debug, Clone, Default)]
struct Assignment {
    ips: Vec<IpAddr>,
    /// Claimed on start while another Service held an address it may not share.
    conflicted: bool,
}

/// A candidate address for one family.
#[derive(Debug, Clone, Copy)]
struct Pick {
    ip: IpAddr,
    pool: usize,
    range: usize,
    /// Taken from the range's free space (to be given back if the allocation fails).
    fresh: bool,
}

/// All allocation state for one config.
#[derive(Debug, Clone, Default)]
pub struct Allocator {
    pools: Vec<PoolState>,
    ips: HashMap<IpAddr, IpEntry>,
    services: HashMap<ServiceKey, Assignment>,
    shared: HashMap<SharingKey, BTreeSet<IpAddr>>,
}

impl Allocator {
    /// An allocator with the config's pools, all addresses free.
    pub fn new(config: &Config) -> Self {
        let pools = config
            .pools
            .iter()
            .map(|p| PoolState {
                name: p.name.clone(),
                ranges: p
                    .addresses
                    .iter()
                    .filter(|r| Family::of(r.start) == Family::of(r.end))
                    .map(|r| {
                        RangeState::new(
                            Family::of(r.start),
                            to_bits(r.start),
                            to_bits(r.end),
                            p.avoid_buggy_ips,
                        )
                    })
                    .collect(),
                namespaces: p.namespaces.clone(),
                auto_assign: p.auto_assign,
                in_use: [0, 0],
            })
            .collect();
        Self {
            pools,
            ..Self::default()
        }
    }

    /// Switches to a new config, keeping every held address that still lies in a pool.
    /// Returns the (Service, address) pairs that no longer do: those addresses are
    /// released and the Services need re-allocating.
    pub fn set_config(&mut self, config: &Config) -> Vec<(ServiceKey, IpAddr)> {
        let old = std::mem::replace(self, Allocator::new(config));
        let mut orphans = Vec::new();
        let mut services: Vec<_> = old.services.into_iter().collect();
        services.sort_by(|a, b| a.0.cmp(&b.0));
        for (service, assignment) in services {
            let mut kept = Vec::new();
            for ip in assignment.ips {
                let sharing = old
                    .ips
                    .get(&ip)
                    .and_then(|e| e.holders.iter().find(|h| h.service == service))
                    .map(|h| h.sharing.clone())
                    .unwrap_or_default();
                match self.locate(ip) {
                    Some((pool, range)) => {
                        self.hold(
                            ip,
                            pool,
                            range,
                            Holder {
                                service: service.clone(),
                                sharing,
                            },
                        );
                        kept.push(ip);
                    }
                    None => orphans.push((service.clone(), ip)),
                }
            }
            if !kept.is_empty() {
                self.services.insert(
                    service,
                    Assignment {
                        ips: kept,
                        conflicted: assignment.conflicted,
                    },
                );
            }
        }
        orphans
    }

    /// The addresses a Service holds, in the order they were chosen.
    pub fn assigned(&self, service: &ServiceKey) -> Option<&[IpAddr]> {
        self.services.get(service).map(|a| a.ips.as_slice())
    }

    /// The Services holding an address.
    pub fn holders(&self, ip: IpAddr) -> Vec<&ServiceKey> {
        self.ips
            .get(&ip)
            .map(|e| e.holders.iter().map(|h| &h.service).collect())
            .unwrap_or_default()
    }

    /// Size and use per pool and family (families a pool has no range of are left out).
    pub fn usage(&self) -> Vec<PoolUsage> {
        let mut out = Vec::new();
        for pool in &self.pools {
            for (i, family) in [Family::V4, Family::V6].into_iter().enumerate() {
                if !pool.has_family(family) {
                    continue;
                }
                let size = pool
                    .ranges
                    .iter()
                    .filter(|r| r.family == family)
                    .fold(0u128, |acc, r| acc.saturating_add(r.size()));
                out.push(PoolUsage {
                    pool: pool.name.clone(),
                    family,
                    size,
                    in_use: pool.in_use[i],
                });
            }
        }
        out
    }

    /// Re-claims addresses a Service already holds (from its status, on start or when a
    /// leader's write is seen). Replaces what the allocator had for it. Addresses outside
    /// every pool are not claimed; addresses held by a Service it may not share with are
    /// claimed anyway (by both) and reported, so nothing is taken away silently.
    pub fn claim(&mut self, req: &Request, ips: &[IpAddr]) -> Vec<ClaimProblem> {
        self.release(&req.service);
        let mut problems = Vec::new();
        let mut held = Vec::new();
        for &ip in ips {
            if held.contains(&ip) {
                continue;
            }
            let Some((pool, range)) = self.locate(ip) else {
                problems.push(ClaimProblem::OutsidePools(ip));
                continue;
            };
            let mut others = Vec::new();
            if let Some(entry) = self.ips.get(&ip) {
                for h in &entry.holders {
                    if let Err(why) = can_share(&req.sharing, &h.sharing) {
                        others.push(h.service.clone());
                        problems.push(ClaimProblem::Conflict {
                            ip,
                            other: h.service.clone(),
                            why,
                        });
                    }
                }
            }
            for other in others {
                if let Some(a) = self.services.get_mut(&other) {
                    a.conflicted = true;
                }
            }
            self.hold(
                ip,
                pool,
                range,
                Holder {
                    service: req.service.clone(),
                    sharing: req.sharing.clone(),
                },
            );
            held.push(ip);
        }
        let conflicted = problems
            .iter()
            .any(|p| matches!(p, ClaimProblem::Conflict { .. }));
        if !held.is_empty() {
            self.services.insert(
                req.service.clone(),
                Assignment {
                    ips: held,
                    conflicted,
                },
            );
        }
        problems
    }

    /// Gives the Service addresses that satisfy its request: the ones it holds if they
    /// still do, new ones otherwise (the old ones are released only once the new ones are
    /// found). A Service in a start-up conflict is never moved: it gets the error until the
    /// conflict is gone.
    pub fn assign(&mut self, req: &Request) -> Result<Vec<IpAddr>, AllocError> {
        if let Some(current) = self.services.get(&req.service) {
            let ips = current.ips.clone();
            match self.check_current(req, &ips) {
                Ok(()) => {
                    self.update_sharing(req, &ips);
                    if let Some(a) = self.services.get_mut(&req.service) {
                        a.conflicted = false;
                    }
                    return Ok(ips);
                }
                Err(e) if current.conflicted => return Err(e),
                Err(_) => {}
            }
        }
        let picks = self.choose(req)?;
        self.release(&req.service);
        let ips: Vec<IpAddr> = picks.iter().map(|p| p.ip).collect();
        for p in picks {
            self.hold(
                p.ip,
                p.pool,
                p.range,
                Holder {
                    service: req.service.clone(),
                    sharing: req.sharing.clone(),
                },
            );
        }
        self.services.insert(
            req.service.clone(),
            Assignment {
                ips: ips.clone(),
                conflicted: false,
            },
        );
        Ok(ips)
    }

    /// Releases everything a Service holds; returns the addresses.
    pub fn release(&mut self, service: &ServiceKey) -> Vec<IpAddr> {
        let Some(assignment) = self.services.remove(service) else {
            return Vec::new();
        };
        for &ip in &assignment.ips {
            self.unhold(ip, service);
        }
        assignment.ips
    }

    fn locate(&self, ip: IpAddr) -> Option<(usize, usize)> {
        let family = Family::of(ip);
        let bits = to_bits(ip);
        self.pools.iter().enumerate().find_map(|(p, pool)| {
            pool.ranges
                .iter()
                .position(|r| r.family == family && r.usable(bits))
                .map(|r| (p, r))
        })
    }

    fn hold(&mut self, ip: IpAddr, pool: usize, range: usize, holder: Holder) {
        if let Some(key) = &holder.sharing.key {
            self.shared.entry(key.clone()).or_default().insert(ip);
        }
        let entry = self.ips.entry(ip).or_insert_with(|| {
            let p = &mut self.pools[pool];
            p.ranges[range].mark_used(to_bits(ip));
            p.in_use[Family::of(ip) as usize] += 1;
            IpEntry {
                pool,
                range,
                holders: Vec::new(),
            }
        });
        entry.holders.retain(|h| h.service != holder.service);
        entry.holders.push(holder);
    }

    fn unhold(&mut self, ip: IpAddr, service: &ServiceKey) {
        let Some(entry) = self.ips.get_mut(&ip) else {
            return;
        };
        let Some(pos) = entry.holders.iter().position(|h| &h.service == service) else {
            return;
        };
        let gone = entry.holders.remove(pos);
        if let Some(key) = gone.sharing.key
            && !entry
                .holders
                .iter()
                .any(|h| h.sharing.key.as_ref() == Some(&key))
            && let Some(set) = self.shared.get_mut(&key)
        {
            set.remove(&ip);
            if set.is_empty() {
                self.shared.remove(&key);
            }
        }
        if entry.holders.is_empty() {
            let (pool, range) = (entry.pool, entry.range);
            self.ips.remove(&ip);
            let p = &mut self.pools[pool];
            p.ranges[range].mark_free(to_bits(ip));
            p.in_use[Family::of(ip) as usize] -= 1;
        }
    }

    /// Keeps the holder records in step with the Service's current ports and key.
    fn update_sharing(&mut self, req: &Request, ips: &[IpAddr]) {
        for &ip in ips {
            let Some(entry) = self.ips.get(&ip) else {
                continue;
            };
            if let Some(pos) = entry.holders.iter().position(|h| h.service == req.service)
                && entry.holders[pos].sharing != req.sharing
            {
                let (pool, range) = (entry.pool, entry.range);
                self.unhold(ip, &req.service);
                self.hold(
                    ip,
                    pool,
                    range,
                    Holder {
                        service: req.service.clone(),
                        sharing: req.sharing.clone(),
                    },
                );
            }
        }
    }

    /// Whether addresses a Service holds still satisfy its request.
    fn check_current(&self, req: &Request, ips: &[IpAddr]) -> Result<(), AllocError> {
        let Some(&first) = ips.first() else {
            return Err(AllocError::FamilyMismatch(FamilyMismatch::NoAddressHeld));
        };
        if let Target::Ips(wanted) = &req.target {
            let a: BTreeSet<_> = wanted.iter().collect();
            let b: BTreeSet<_> = ips.iter().collect();
            if a != b {
                return Err(AllocError::IpOutsidePools(first));
            }
        }
        check_families(&req.families, ips)?;
        for &ip in ips {
            let entry = self.ips.get(&ip).ok_or(AllocError::IpOutsidePools(ip))?;
            let pool = &self.pools[entry.pool];
            if let Target::Pool(name) = &req.target
                && &pool.name != name
            {
                return Err(AllocError::UnknownPool(name.clone()));
            }
            if !pool.allows(&req.service.namespace) {
                return Err(AllocError::PoolNotAllowed {
                    pool: pool.name.clone(),
                    namespace: req.service.namespace.clone(),
                });
            }
            self.shareable(ip, req)?;
        }
        Ok(())
    }

    /// Whether the Service may hold `ip` alongside its other holders.
    fn shareable(&self, ip: IpAddr, req: &Request) -> Result<(), AllocError> {
        let Some(entry) = self.ips.get(&ip) else {
            return Ok(());
        };
        for h in entry.holders.iter().filter(|h| h.service != req.service) {
            can_share(&req.sharing, &h.sharing).map_err(|why| AllocError::IpInUse {
                ip,
                holder: h.service.clone(),
                why,
            })?;
        }
        Ok(())
    }

    fn choose(&mut self, req: &Request) -> Result<Vec<Pick>, AllocError> {
        let namespace = &req.service.namespace;
        match &req.target {
            Target::Ips(wanted) => {
                check_families(&req.families, wanted)?;
                let mut picks = Vec::new();
                for &ip in wanted {
                    let (pool, range) = self.locate(ip).ok_or(AllocError::IpOutsidePools(ip))?;
                    if !self.pools[pool].allows(namespace) {
                        return Err(AllocError::PoolNotAllowed {
                            pool: self.pools[pool].name.clone(),
                            namespace: namespace.clone(),
                        });
                    }
                    self.shareable(ip, req)?;
                    picks.push(Pick {
                        ip,
                        pool,
                        range,
                        fresh: false,
                    });
                }
                Ok(picks)
            }
            Target::Pool(name) => {
                let pool = self
                    .pools
                    .iter()
                    .position(|p| &p.name == name)
                    .ok_or_else(|| AllocError::UnknownPool(name.clone()))?;
                if !self.pools[pool].allows(namespace) {
                    return Err(AllocError::PoolNotAllowed {
                        pool: name.clone(),
                        namespace: namespace.clone(),
                    });
                }
                self.pick_from_pools(req, &[pool], Some(name))
            }
            Target::Auto => {
                let pools: Vec<usize> = (0..self.pools.len())
                    .filter(|&i| self.pools[i].auto_assign && self.pools[i].allows(namespace))
                    .collect();
                if pools.is_empty() {
                    return Err(AllocError::NoPool(namespace.clone()));
                }
                self.pick_from_pools(req, &pools, None)
            }
        }
    }

    fn pick_from_pools(
        &mut self,
        req: &Request,
        pools: &[usize],
        named: Option<&PoolName>,
    ) -> Result<Vec<Pick>, AllocError> {
        let order = &req.families.order;
        // Every wanted family from one pool, so a dual-stack Service's addresses share a pool.
        for &pool in pools {
            if order.iter().all(|f| self.pools[pool].has_family(*f))
                && let Some(picks) = self.pick_all(req, pool, order)
            {
                return Ok(picks);
            }
        }
        if !req.families.require_all {
            for &family in order {
                for &pool in pools {
                    if let Some(pick) = self.pick_one(req, pool, family) {
                        return Ok(vec![pick]);
                    }
                }
            }
        }
        // Say which family is missing or ran out.
        let needed: &[Family] = if req.families.require_all {
            order
        } else {
            &order[..order.len().min(1)]
        };
        for &family in needed {
            if !pools.iter().any(|&p| self.pools[p].has_family(family)) {
                return Err(AllocError::FamilyMismatch(FamilyMismatch::PoolLacks {
                    pool: named.map(|n| n.to_string()),
                    family,
                }));
            }
        }
        if req.families.require_all
            && order.len() > 1
            && !pools
                .iter()
                .any(|&p| order.iter().all(|f| self.pools[p].has_family(*f)))
        {
            return Err(AllocError::FamilyMismatch(
                FamilyMismatch::NoDualStackPool {
                    families: order.to_vec(),
                },
            ));
        }
        let family = needed.first().copied().unwrap_or(Family::V4);
        let family = needed
            .iter()
            .copied()
            .find(|f| pools.iter().all(|&p| self.pools[p].has_family(*f)))
            .unwrap_or(family);
        Err(AllocError::PoolExhausted {
            pool: named.cloned(),
            family,
        })
    }

    fn pick_all(&mut self, req: &Request, pool: usize, order: &[Family]) -> Option<Vec<Pick>> {
        let mut picks: Vec<Pick> = Vec::new();
        for &family in order {
            match self.pick_one(req, pool, family) {
                Some(p) => picks.push(p),
                None => {
                    self.give_back(&picks);
                    return None;
                }
            }
        }
        Some(picks)
    }

    fn give_back(&mut self, picks: &[Pick]) {
        for p in picks.iter().filter(|p| p.fresh) {
            self.pools[p.pool].ranges[p.range].mark_free(to_bits(p.ip));
        }
    }

    /// One address of `family` from `pool`: the one the Service holds there, else one it
    /// may share, else a free one.
    fn pick_one(&mut self, req: &Request, pool: usize, family: Family) -> Option<Pick> {
        let existing = |ip: IpAddr, entry: &IpEntry| Pick {
            ip,
            pool: entry.pool,
            range: entry.range,
            fresh: false,
        };
        if let Some(a) = self.services.get(&req.service) {
            for &ip in &a.ips {
                if let Some(entry) = self.ips.get(&ip)
                    && entry.pool == pool
                    && Family::of(ip) == family
                    && self.shareable(ip, req).is_ok()
                {
                    return Some(existing(ip, entry));
                }
            }
        }
        if let Some(key) = &req.sharing.key
            && let Some(ips) = self.shared.get(key)
        {
            for &ip in ips {
                if let Some(entry) = self.ips.get(&ip)
                    && entry.pool == pool
                    && Family::of(ip) == family
                    && self.shareable(ip, req).is_ok()
                {
                    return Some(existing(ip, entry));
                }
            }
        }
        let p = &mut self.pools[pool];
        for (i, r) in p.ranges.iter_mut().enumerate() {
            if r.family != family {
                continue;
            }
            if let Some(bits) = r.take() {
                return Some(Pick {
                    ip: from_bits(family, bits),
                    pool,
                    range: i,
                    fresh: true,
                });
            }
        }
        None
    }
}

/// Addresses fit the wanted families: each of a wanted family, at most one per family,
/// and every family present when all are required.
fn check_families(families: &Families, ips: &[IpAddr]) -> Result<(), AllocError> {
    let mut seen = BTreeSet::new();
    for &ip in ips {
        let family = Family::of(ip);
        if !families.order.contains(&family) {
            return Err(AllocError::FamilyMismatch(FamilyMismatch::WrongFamily {
                ip,
                family,
                families: families.order.clone(),
            }));
        }
        if !seen.insert(family) {
            return Err(AllocError::FamilyMismatch(FamilyMismatch::Repeated(family)));
        }
    }
    if families.require_all
        && let Some(missing) = families.order.iter().find(|f| !seen.contains(f))
    {
        return Err(AllocError::FamilyMismatch(FamilyMismatch::Missing {
            missing: *missing,
            families: families.order.clone(),
        }));
    }
    Ok(())
}

fn list(families: &[Family]) -> String {
    families
        .iter()
        .map(Family::to_string)
        .collect::<Vec<_>>()
        .join(",")
}
