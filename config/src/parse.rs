//! From text to the document as written: size limit, UTF-8, YAML with resource
//! budgets, strict keys; and recognising a whole ConfigMap manifest.
//!
//! Invariant: any input, however large, deep or malformed, yields a value or an error
//! in bounded time and memory, never a panic. Input over [`MAX_INPUT_BYTES`] is
//! refused before the YAML parser sees it; nesting, node count and alias expansion
//! are capped by serde-saphyr's budget.

use crate::error::{ConfigError, ConfigErrors, ErrorKind};
use crate::raw::RawDocument;
use crate::schema::{check_shape, remove_unknown_keys};
use serde::Deserialize;
use serde_saphyr::options::DuplicateKeyPolicy;
use std::collections::BTreeMap;

/// Kubernetes' limit on a ConfigMap's data (1 MiB); larger input is refused.
pub const MAX_INPUT_BYTES: usize = 1024 * 1024;

/// Nesting deeper than any valid document needs (a valid one is at most 7 deep).
const MAX_DEPTH: usize = 32;

fn options() -> serde_saphyr::Options {
    serde_saphyr::options! {
        budget: serde_saphyr::budget! {
            max_depth: MAX_DEPTH,
            max_documents: 1,
            max_anchors: 1024,
            max_aliases: 1024,
            max_recorded_anchor_events: 100_000,
            max_nodes: 1_000_000,
            max_events: 2_000_000,
        },
        duplicate_keys: DuplicateKeyPolicy::Error,
    }
}

/// A parser error, placed at its line and column with the text of that line, e.g.
/// `line 5 column 14 "peer-port: http": invalid i64`.
fn yaml_error(text: &str, err: &serde_saphyr::Error) -> ConfigError {
    let location = err.location();
    let message = err.without_snippet().to_string();
    let mut message = message
        .lines()
        .next()
        .unwrap_or("malformed YAML")
        .replace(", set DuplicateKeyPolicy in Options if acceptable", "");
    let (line, column) = (location.map(|l| l.line()), location.map(|l| l.column()));
    let place = match (line, column) {
        (Some(l), Some(c)) if l > 0 => {
            if let Some(cut) = message.rfind(&format!(" at line {l}, column {c}")) {
                message.truncate(cut);
            }
            let source = usize::try_from(l - 1)
                .ok()
                .and_then(|i| text.lines().nth(i))
                .map(str::trim)
                .unwrap_or_default();
            let source: String = source.chars().take(60).collect();
            format!("line {l} column {c} {source:?}")
        }
        _ => String::new(),
    };
    ConfigError::new(
        place,
        ErrorKind::Yaml {
            line,
            column,
            message,
        },
    )
}

fn check_size(len: usize, max_bytes: usize) -> Result<(), ConfigErrors> {
    if len > max_bytes {
        return Err(ConfigErrors::one(ConfigError::new(
            "",
            ErrorKind::TooLarge {
                size: len,
                limit: max_bytes,
            },
        )));
    }
    Ok(())
}

/// Checks size and UTF-8 of raw bytes.
pub fn check_bytes(bytes: &[u8]) -> Result<&str, ConfigErrors> {
    check_size(bytes.len(), MAX_INPUT_BYTES)?;
    std::str::from_utf8(bytes)
        .map_err(|e| ConfigErrors::one(ConfigError::new("", ErrorKind::NotUtf8(e.valid_up_to()))))
}

/// Whether the text holds no YAML node at all (empty, blank, comments, bare `---`).
fn is_blank(text: &str) -> bool {
    text.lines().all(|l| {
        let t = l.trim();
        t.is_empty() || t.starts_with('#') || t == "---" || t == "..."
    })
}

/// Parses the config document into its raw form, refusing input over `max_bytes`.
/// An empty document (or `null`) is an empty config.
pub fn parse_document(text: &str, max_bytes: usize) -> Result<RawDocument, ConfigErrors> {
    parse_or_salvage(text, max_bytes).map_err(|(errors, _)| errors)
}

/// Like [`parse_document`]; when the only problems are unknown keys, the error also
/// carries the document without them, so its other errors can be found too.
pub(crate) fn parse_or_salvage(
    text: &str,
    max_bytes: usize,
) -> Result<RawDocument, (ConfigErrors, Option<Box<RawDocument>>)> {
    check_size(text.len(), max_bytes).map_err(|e| (e, None))?;
    if is_blank(text) {
        return Ok(RawDocument::default());
    }
    let first = match serde_saphyr::from_str_with_options::<Option<RawDocument>>(text, options()) {
        Ok(doc) => return Ok(doc.unwrap_or_default()),
        Err(e) => ConfigErrors::one(yaml_error(text, &e)),
    };
    // Serde stops at the first unknown key. Walk the document's shape to find every
    // one (and every misplaced list or map); if the walk finds nothing, the first
    // error (bad syntax, a value of the wrong type) stands alone.
    let Ok(mut tree) = serde_saphyr::from_str_with_options::<serde_json::Value>(text, options())
    else {
        return Err((first, None));
    };
    let Some(errors) = ConfigErrors::from_vec(check_shape(&tree)) else {
        return Err((first, None));
    };
    if !errors
        .iter()
        .all(|e| matches!(e.kind, ErrorKind::UnknownKey { .. }))
    {
        return Err((errors, None));
    }
    // Without the unknown keys, the tree is read again as typed YAML (JSON is YAML).
    // Numbers stay numbers and strings strings, which the typed reading judges as it
    // did the original text (tests/rules.rs checks this value by value).
    remove_unknown_keys(&mut tree);
    let salvaged = serde_json::to_string(&tree)
        .ok()
        .and_then(|json| {
            serde_saphyr::from_str_with_options::<Option<RawDocument>>(&json, options()).ok()
        })
        .map(|doc| Box::new(doc.unwrap_or_default()));
    match salvaged {
        Some(doc) => Err((errors, Some(doc))),
        // The rest cannot be read either: a value of the wrong type. If that is what
        // the first reading stopped on, say so too (it has the line and column).
        None if !first.errors()[0].to_string().contains("unknown field") => {
            Err((errors.extended(Some(first)), None))
        }
        None => Err((errors, None)),
    }
}

/// Just enough of a Kubernetes object to tell a manifest from a bare document.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Manifest {
    api_version: Option<String>,
    kind: Option<String>,
    data: Option<BTreeMap<String, String>>,
}

/// What a file handed to `ironlb config validate` holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source<'a> {
    /// A bare config document.
    Document(&'a str),
    /// The `data.config` of a ConfigMap manifest.
    ConfigMap(String),
}

/// Tells a ConfigMap manifest (with `apiVersion`/`kind`) from a bare document.
pub fn classify(text: &str) -> Result<Source<'_>, ConfigErrors> {
    check_size(text.len(), MAX_INPUT_BYTES)?;
    if is_blank(text) {
        return Ok(Source::Document(text));
    }
    // Every field is optional and unknown keys are skipped, so any well-formed
    // mapping reads as a `Manifest`: a failure here (syntax, a budget breach while
    // skipping) is what a strict parse would report too, or worse.
    let m = match serde_saphyr::from_str_with_options::<Option<Manifest>>(text, options()) {
        Ok(Some(m)) => m,
        Ok(None) => return Ok(Source::Document(text)),
        Err(e) => return Err(ConfigErrors::one(yaml_error(text, &e))),
    };
    if m.kind.is_none() && m.api_version.is_none() {
        return Ok(Source::Document(text));
    }
    match m.kind.as_deref() {
        Some("ConfigMap") => {}
        other => {
            return Err(ConfigErrors::one(ConfigError::new(
                "",
                ErrorKind::NotConfigMap(other.unwrap_or_default().to_string()),
            )));
        }
    }
    m.data
        .and_then(|mut d| d.remove("config"))
        .map(Source::ConfigMap)
        .ok_or_else(|| ConfigErrors::one(ConfigError::new("", ErrorKind::NoConfigKey)))
}
