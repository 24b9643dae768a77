//! Errors of parsing and validation.
//!
//! Every [`ConfigError`] carries the place it is about, rendered the way a user reads
//! the document (`address-pools[1] "web": addresses[0] "192.0.2.0/33"`), and a typed
//! [`ErrorKind`] saying what is wrong. [`ConfigErrors`] is never empty: `parse` returns
//! it only when at least one error was found, and it holds all of them.

use std::fmt;

/// One problem found in a config document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// Where the problem is, e.g. `peers[0] "10.0.0.1": hold-time "2s"`; empty for the
    /// document as a whole.
    pub place: String,
    /// What the problem is.
    pub kind: ErrorKind,
}

impl ConfigError {
    /// An error at `place`.
    pub fn new(place: impl Into<String>, kind: ErrorKind) -> Self {
        ConfigError {
            place: place.into(),
            kind,
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.place.is_empty() {
            write!(f, "{}", self.kind)
        } else {
            write!(f, "{}: {}", self.place, self.kind)
        }
    }
}

impl std::error::Error for ConfigError {}

/// What is wrong, independent of where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ErrorKind {
    /// The input is larger than a ConfigMap may be.
    #[error("input is {size} bytes, over the ConfigMap limit of {limit} bytes (1 MiB)")]
    TooLarge {
        /// Input size in bytes.
        size: usize,
        /// The limit in bytes.
        limit: usize,
    },
    /// The input is not valid UTF-8.
    #[error("input is not valid UTF-8 (at byte {0})")]
    NotUtf8(usize),
    /// YAML syntax error, unknown key, wrong type, or a parsing budget exceeded.
    #[error("{message}")]
    Yaml {
        /// 1-based line, when known.
        line: Option<u64>,
        /// 1-based column, when known.
        column: Option<u64>,
        /// The parser's message, with the position when known.
        message: String,
    },
    /// A key the format does not have (a typo is never ignored).
    #[error("unknown key {key:?}; expected one of {expected}")]
    UnknownKey {
        /// The key as written.
        key: String,
        /// The keys allowed here, comma-separated.
        expected: String,
    },
    /// A list where a single value belongs, a single value where a list belongs, etc.
    #[error("expected {expected}, found {found}")]
    WrongShape {
        /// What belongs here.
        expected: &'static str,
        /// What was found.
        found: &'static str,
    },
    /// A Kubernetes manifest that is not a ConfigMap.
    #[error("manifest kind is {0:?}, expected \"ConfigMap\"")]
    NotConfigMap(String),
    /// A ConfigMap manifest without `data.config`.
    #[error("ConfigMap has no data.config key")]
    NoConfigKey,
    /// A required field is absent.
    #[error("{0} is missing")]
    Missing(&'static str),
    /// A field that must not be empty is empty.
    #[error("is empty")]
    Empty,
    /// A name that IronLB's ConfigMap and MetalLB's objects both define.
    #[error("{what} {name:?} is defined both here and by {kind} {name:?}")]
    DefinedTwice {
        /// What is named: `address pool`, `BFD profile`, `community alias`.
        what: &'static str,
        /// The name.
        name: String,
        /// The MetalLB kind that defines it too.
        kind: &'static str,
    },
    /// `protocol` is neither `layer2` nor `bgp`.
    #[error("unknown protocol {0:?}; expected \"layer2\" or \"bgp\"")]
    UnknownProtocol(String),
    /// Not a CIDR nor a `start-end` range.
    #[error("not a CIDR (a.b.c.d/n, x::/n) nor a start-end range")]
    BadAddress,
    /// Not an IP address.
    #[error("{0:?} is not an IP address")]
    BadIp(String),
    /// A CIDR's prefix length is longer than the family allows.
    #[error("prefix length {len} is over {max}")]
    PrefixTooLong {
        /// The prefix length as written.
        len: String,
        /// 32 or 128.
        max: u8,
    },
    /// A prefix length that is not a number.
    #[error("prefix length {0:?} is not a number")]
    BadPrefix(String),
    /// A range whose ends are of different families.
    #[error("range mixes IPv4 and IPv6")]
    MixedFamilies,
    /// A range whose start is after its end.
    #[error("start {start} is after end {end}")]
    StartAfterEnd {
        /// Range start.
        start: String,
        /// Range end.
        end: String,
    },
    /// Two pools with one name.
    #[error("duplicate pool name, first used by address-pools[{first}]")]
    DuplicatePool {
        /// Index of the first pool with this name.
        first: usize,
    },
    /// Two address entries that share addresses.
    #[error("overlaps {other}")]
    Overlap {
        /// The other entry, rendered like a place.
        other: String,
    },
    /// `bgp-advertisements` given on a layer2 pool.
    #[error("only allowed on a bgp pool")]
    BgpOnly,
    /// `interfaces` given on a bgp pool.
    #[error("only allowed on a layer2 pool")]
    Layer2Only,
    /// An aggregation length over the family's maximum.
    #[error("{len} is over {max}")]
    AggregationTooLong {
        /// The length given.
        len: i64,
        /// 32 or 128.
        max: u8,
    },
    /// An aggregation length shorter than the prefix of an address entry.
    #[error("{len} is shorter than prefix length {prefix} of addresses[{entry}] {address:?}")]
    AggregationTooShort {
        /// The length given.
        len: u8,
        /// The longest prefix of the entry's CIDR cover.
        prefix: u8,
        /// Index of the entry.
        entry: usize,
        /// The entry as written.
        address: String,
    },
    /// Two equal advertisements in one pool.
    #[error("duplicate of bgp-advertisements[{0}]")]
    DuplicateAdvertisement(usize),
    /// A community listed twice in one advertisement.
    #[error("duplicate community {0}")]
    DuplicateCommunity(String),
    /// Neither `NN:NN`, `N:N:N` nor a defined alias.
    #[error(
        "not a community (NN:NN with 16-bit halves, or large N:N:N with 32-bit parts) nor a name defined in bgp-communities"
    )]
    BadCommunity,
    /// A number outside what the field allows.
    #[error("{value} is out of range {min}..={max}")]
    OutOfRange {
        /// The value given.
        value: i64,
        /// Smallest allowed.
        min: i64,
        /// Largest allowed.
        max: i64,
    },
    /// An ASN of 0.
    #[error("0 is not a valid ASN")]
    ZeroAsn,
    /// `router-id` that is not an IPv4 address.
    #[error("{0:?} is not an IPv4 address")]
    BadRouterId(String),
    /// A duration that Go's `time.ParseDuration` would refuse, or negative.
    #[error("{0}")]
    BadDuration(String),
    /// Hold time under 3 s and not 0.
    #[error("hold time must be 0 or at least 3s")]
    HoldTooShort,
    /// Keepalive time above hold time.
    #[error("keepalive-time {keepalive:?} is above hold-time {hold:?}")]
    KeepaliveAboveHold {
        /// The keepalive time.
        keepalive: std::time::Duration,
        /// The hold time.
        hold: std::time::Duration,
    },
    /// A `graceful-restart-time` outside what the capability's 12-bit field holds.
    #[error("graceful restart time must be between 1s and 4095s (RFC 4724: 12 bits of seconds)")]
    GracefulRestartTimeOutOfRange,
    /// `ebgp-multihop` on an iBGP session.
    #[error("ebgp-multihop is set but my-asn equals peer-asn ({0}): the session is iBGP")]
    MultihopIbgp(u32),
    /// A malformed node selector.
    #[error("{0}")]
    BadSelector(String),
    /// A `bfd-profile` that names no profile.
    #[error("no bfd-profiles entry is named {0:?}")]
    UnknownBfdProfile(String),
    /// Two BFD profiles with one name.
    #[error("duplicate profile name, first used by bfd-profiles[{0}]")]
    DuplicateBfdProfile(usize),
    /// A peer equal in every field to an earlier one.
    #[error("exact duplicate of peers[{0}]")]
    DuplicatePeer(usize),
    /// A bad namespace name.
    #[error("{0:?} is not a namespace name (lowercase letters, digits and '-', at most 63)")]
    BadNamespace(String),
    /// A bad interface name.
    #[error("{0:?} is not an interface name (1 to 15 characters, no '/', ':' or whitespace)")]
    BadInterface(String),
    /// A list item given twice.
    #[error("{0:?} is listed twice")]
    Repeated(String),
}

/// All errors found in a document; never empty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigErrors(Vec<ConfigError>);

impl ConfigErrors {
    /// Wraps `errors`; `None` when there are none.
    pub fn from_vec(errors: Vec<ConfigError>) -> Option<Self> {
        if errors.is_empty() {
            None
        } else {
            Some(ConfigErrors(errors))
        }
    }

    /// A single error.
    pub fn one(error: ConfigError) -> Self {
        ConfigErrors(vec![error])
    }

    /// The errors, in the order found.
    pub fn errors(&self) -> &[ConfigError] {
        &self.0
    }

    /// Iterates the errors.
    pub fn iter(&self) -> std::slice::Iter<'_, ConfigError> {
        self.0.iter()
    }

    /// Number of errors (at least 1).
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Always false; present for symmetry with `len`.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// These errors followed by `more`, if any.
    pub(crate) fn extended(mut self, more: Option<ConfigErrors>) -> Self {
        if let Some(more) = more {
            self.0.extend(more.0);
        }
        self
    }

    /// Prefixes every error's place with `prefix` (e.g. `data.config`).
    pub(crate) fn prefixed(self, prefix: &str) -> Self {
        ConfigErrors(
            self.0
                .into_iter()
                .map(|e| {
                    let place = if e.place.is_empty() {
                        prefix.to_string()
                    } else {
                        format!("{prefix}: {}", e.place)
                    };
                    ConfigError::new(place, e.kind)
                })
                .collect(),
        )
    }
}

impl IntoIterator for ConfigErrors {
    type Item = ConfigError;
    type IntoIter = std::vec::IntoIter<ConfigError>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

impl<'a> IntoIterator for &'a ConfigErrors {
    type Item = &'a ConfigError;
    type IntoIter = std::slice::Iter<'a, ConfigError>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}
