//! IronLB configuration: MetalLB's legacy ConfigMap document, parsed and validated into
//! typed values, with no I/O. An invalid document yields every error found, each naming
//! the pool or peer, the field and the offending value.
//!
//! ```text
//! text ──parse──> RawDocument (serde, strict keys) ──validate──> Config (+ address index)
//!   ^                                                               │
//!   └──────────────────────── to_document ──────────────────────────┘
//! ```
#![forbid(unsafe_code)]

pub mod community;
pub mod duration;
pub mod error;
pub mod index;
pub mod metallb;
pub mod model;
pub mod overlap;
pub mod parse;
pub mod pool;
pub mod range;
pub mod raw;
pub mod schema;
pub mod selector;
pub mod serialize;
pub mod validate;
pub mod warning;

pub use error::{ConfigError, ConfigErrors, ErrorKind};
pub use model::*;
pub use parse::{MAX_INPUT_BYTES, Source};
pub use warning::{ConfigWarning, WarningKind};

/// Parses and validates a config document (the ConfigMap's `config` value).
///
/// Input over [`MAX_INPUT_BYTES`] is refused. An empty document is a valid config
/// with no pools and no peers.
pub fn parse(text: &str) -> Result<Config, ConfigErrors> {
    parse_with_warnings(text).map(|(config, _)| config)
}

/// Like [`parse()`], also returning the warnings about an accepted config (values
/// MetalLB accepts that IronLB reads as probably not meant).
pub fn parse_with_warnings(text: &str) -> Result<(Config, Vec<ConfigWarning>), ConfigErrors> {
    match parse::parse_or_salvage(text, MAX_INPUT_BYTES) {
        Ok(raw) => validate::validate_with_warnings(&raw),
        // Unknown keys, plus whatever else is wrong in the rest of the document.
        Err((errors, salvaged)) => {
            let more = salvaged.and_then(|raw| validate::validate(&raw).err());
            Err(errors.extended(more))
        }
    }
}

/// Like [`parse()`], from bytes that may not be UTF-8.
pub fn parse_bytes(bytes: &[u8]) -> Result<Config, ConfigErrors> {
    parse(parse::check_bytes(bytes)?)
}

/// Parses either a bare config document or a whole ConfigMap manifest (YAML with
/// `data.config`). Errors inside an embedded document are placed under `data.config`.
pub fn parse_manifest_or_document(text: &str) -> Result<Config, ConfigErrors> {
    parse_manifest_or_document_with_warnings(text).map(|(config, _)| config)
}

/// Like [`parse_manifest_or_document`], also returning the warnings.
pub fn parse_manifest_or_document_with_warnings(
    text: &str,
) -> Result<(Config, Vec<ConfigWarning>), ConfigErrors> {
    match parse::classify(text)? {
        Source::Document(doc) => parse_with_warnings(doc),
        Source::ConfigMap(doc) => parse_with_warnings(&doc)
            .map(|(c, w)| {
                let w = w
                    .into_iter()
                    .map(|mut w| {
                        w.place = if w.place.is_empty() {
                            "data.config".to_string()
                        } else {
                            format!("data.config: {}", w.place)
                        };
                        w
                    })
                    .collect();
                (c, w)
            })
            .map_err(|e| e.prefixed("data.config")),
    }
}
