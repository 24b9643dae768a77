//! Warnings: what a config says that IronLB accepts, as MetalLB v0.12 does, but reads
//! as probably not meant. A warning never rejects a config; it names the place as an
//! error does and says what IronLB does with the value.

use crate::duration::format_duration;
use std::fmt;
use std::time::Duration;

/// One warning about an accepted config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigWarning {
    /// Where, in the same form as [`crate::ConfigError::place`].
    pub place: String,
    /// What.
    pub kind: WarningKind,
}

impl ConfigWarning {
    /// A warning at `place`.
    pub fn new(place: impl Into<String>, kind: WarningKind) -> Self {
        ConfigWarning {
            place: place.into(),
            kind,
        }
    }
}

impl fmt::Display for ConfigWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.place.is_empty() {
            write!(f, "{}", self.kind)
        } else {
            write!(f, "{}: {}", self.place, self.kind)
        }
    }
}

/// What is odd, independent of where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WarningKind {
    /// A BGP timer with a fraction of a second, cut to whole seconds as MetalLB does.
    #[error("{written:?} is cut to whole seconds: {}{}", format_duration(*used), if used.is_zero() { " (disabled)" } else { "" })]
    CutToSeconds {
        /// The value as written.
        written: String,
        /// The value used.
        used: Duration,
    },
    /// A negative keepalive time (MetalLB accepts it); the default is used instead.
    #[error("{written:?} is negative; the default (hold-time / 3 = {}) is used", format_duration(*used))]
    NegativeKeepalive {
        /// The value as written.
        written: String,
        /// The value used.
        used: Duration,
    },
    /// A router id that is not IPv4; as MetalLB's native speaker does, the node's
    /// own address is used instead.
    #[error(
        "{0:?} is not an IPv4 address, so it cannot be a BGP router id; the node's address is used"
    )]
    RouterIdNotIpv4(String),
    /// An aggregation length out of range for a family the pool has no address of.
    #[error("{len} is out of range, but the pool has no {family} address, so it is unused")]
    UnusedAggregation {
        /// The value as written.
        len: i64,
        /// `IPv4` or `IPv6`.
        family: &'static str,
    },
    /// A range from an IPv4 to a higher IPv6 address: MetalLB finds no CIDR in it and
    /// accepts it as no address; so does IronLB.
    #[error("the range mixes IPv4 and IPv6: it holds no address (as in MetalLB) and is ignored")]
    MixedFamilyRange,
    /// An advertisement that announces exactly what an earlier one does.
    #[error("announces the same as bgp-advertisements[{0}]; announced once")]
    SameAdvertisement(usize),
    /// A community given twice in one advertisement (e.g. as a value and as an alias).
    #[error("community {0} is already in this advertisement; sent once")]
    RepeatedCommunity(String),
    /// `graceful-restart-time` on a peer without `enable-graceful-restart: true`.
    #[error("graceful-restart-time has no effect without enable-graceful-restart: true")]
    GracefulRestartTimeUnused,
    /// An alias whose name is itself a community value: the alias wins, as in MetalLB.
    #[error("alias {name:?} shadows the community value {name}; {used} is used")]
    AliasShadowsValue {
        /// The alias.
        name: String,
        /// The alias' value.
        used: String,
    },
}
