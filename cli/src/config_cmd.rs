//! `ironlb config ...`: check a config before applying it.
//!
//! `validate FILE|-` reads a bare config document or a whole ConfigMap manifest and
//! reports, as text or JSON: exit 0 and a summary (pools with protocol and size,
//! peers) when valid, with warnings about values accepted (as MetalLB accepts them)
//! but probably not meant, on stderr as text or under `warnings` in JSON; exit 1 and every error when invalid; exit 2 when the input
//! cannot be read (a usage error, as clap's own).
use clap::{Subcommand, ValueEnum};
use ironlb_config::{Config, ConfigError, ConfigErrors, ConfigWarning, ErrorKind, Protocol};
use serde_json::{Value, json};
use std::io::Read as _;
use std::path::PathBuf;

/// Exit code: valid config.
const EXIT_VALID: u8 = 0;
/// Exit code: invalid config.
const EXIT_INVALID: u8 = 1;
/// Exit code: usage error (input missing or unreadable).
const EXIT_USAGE: u8 = 2;

/// Subcommands of `ironlb config`.
#[derive(Subcommand)]
pub(crate) enum ConfigCommand {
    /// Validate a config document or a ConfigMap manifest; exit 0 valid, 1 invalid, 2 usage error.
    Validate {
        /// The file to read, or `-` for standard input.
        file: PathBuf,
        /// Output format.
        #[arg(long, short, value_enum, default_value_t = Output::Text)]
        output: Output,
    },
}

/// How results are printed.
#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Output {
    /// Human-readable lines.
    Text,
    /// One JSON object.
    Json,
}

/// Runs a config subcommand; returns the process exit code.
pub(crate) fn run(cmd: ConfigCommand) -> anyhow::Result<u8> {
    match cmd {
        ConfigCommand::Validate { file, output } => Ok(validate(&file, output)),
    }
}

/// Reads at most the size limit plus one byte; returns the bytes and the input's
/// total size (counted without keeping what is over the limit).
fn read_input(file: &PathBuf) -> std::io::Result<(Vec<u8>, u64)> {
    let limit = ironlb_config::MAX_INPUT_BYTES as u64 + 1;
    let mut reader: Box<dyn std::io::Read> = if file.as_os_str() == "-" {
        Box::new(std::io::stdin())
    } else {
        Box::new(std::fs::File::open(file)?)
    };
    let mut bytes = Vec::new();
    (&mut reader).take(limit).read_to_end(&mut bytes)?;
    let rest = std::io::copy(&mut reader, &mut std::io::sink())?;
    let total = bytes.len() as u64 + rest;
    Ok((bytes, total))
}

fn check(bytes: &[u8], total: u64) -> Result<(Config, Vec<ConfigWarning>), ConfigErrors> {
    let limit = ironlb_config::MAX_INPUT_BYTES;
    if total > limit as u64 {
        let size = usize::try_from(total).unwrap_or(usize::MAX);
        let kind = ErrorKind::TooLarge { size, limit };
        return Err(ConfigErrors::one(ConfigError::new("", kind)));
    }
    let text = std::str::from_utf8(bytes).map_err(|e| {
        ConfigErrors::one(ConfigError::new("", ErrorKind::NotUtf8(e.valid_up_to())))
    })?;
    ironlb_config::parse_manifest_or_document_with_warnings(text)
}

fn validate(file: &PathBuf, output: Output) -> u8 {
    let (bytes, total) = match read_input(file) {
        Ok(b) => b,
        Err(err) => {
            let message = format!("cannot read {}: {err}", file.display());
            match output {
                Output::Text => eprintln!("ironlb: {message}"),
                Output::Json => println!("{}", json!({ "valid": null, "error": message })),
            }
            return EXIT_USAGE;
        }
    };
    let result = check(&bytes, total);
    let (code, json, text) = match result {
        Ok((config, warnings)) => {
            if output == Output::Text {
                for w in &warnings {
                    eprintln!("warning: {w}");
                }
            }
            let mut json = summary_json(&config);
            json["warnings"] = warnings
                .iter()
                .map(|w| json!({ "place": w.place, "message": w.kind.to_string() }))
                .collect();
            (EXIT_VALID, json, summary_text(&config))
        }
        Err(errors) => (
            EXIT_INVALID,
            errors_json(&errors),
            format!("invalid config:\n{errors}"),
        ),
    };
    match output {
        Output::Text => println!("{text}"),
        Output::Json => println!("{json}"),
    }
    code
}

fn protocol_name(p: Protocol) -> &'static str {
    match p {
        Protocol::Layer2 => "layer2",
        Protocol::Bgp => "bgp",
    }
}

fn summary_text(c: &Config) -> String {
    let plural =
        |n: usize, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
    let mut out = format!(
        "valid: {}, {}",
        plural(c.pools.len(), "pool", "pools"),
        plural(c.peers.len(), "peer", "peers")
    );
    for p in &c.pools {
        out += &format!(
            "\npool {} ({}): {} addresses in {} {}{}",
            p.name,
            protocol_name(p.protocol),
            p.size(),
            p.addresses.len(),
            if p.addresses.len() == 1 {
                "entry"
            } else {
                "entries"
            },
            if p.auto_assign {
                ""
            } else {
                ", auto-assign off"
            }
        );
    }
    for p in &c.peers {
        out += &format!(
            "\npeer {} port {}: AS {} -> AS {}, hold {}s",
            p.peer_address,
            p.peer_port,
            p.my_asn,
            p.peer_asn,
            p.hold_time.as_secs()
        );
    }
    out
}

fn summary_json(c: &Config) -> Value {
    json!({
        "valid": true,
        "pools": c.pools.iter().map(|p| json!({
            "name": p.name.0,
            "protocol": protocol_name(p.protocol),
            "addresses": p.addresses.iter().map(|r| r.to_entry_string()).collect::<Vec<_>>(),
            // u128 does not fit every JSON reader: give the exact value as a string too.
            "size": p.size().to_string(),
            "auto_assign": p.auto_assign,
        })).collect::<Vec<_>>(),
        "peers": c.peers.iter().map(|p| json!({
            "peer_address": p.peer_address.to_string(),
            "peer_port": p.peer_port,
            "my_asn": p.my_asn,
            "peer_asn": p.peer_asn,
            "hold_time_seconds": p.hold_time.as_secs_f64(),
        })).collect::<Vec<_>>(),
    })
}

fn errors_json(errors: &ConfigErrors) -> Value {
    json!({
        "valid": false,
        "errors": errors.iter().map(|e| {
            let (line, column) = match &e.kind {
                ErrorKind::Yaml { line, column, .. } => (*line, *column),
                _ => (None, None),
            };
            json!({
                "place": e.place,
                "message": e.kind.to_string(),
                "line": line,
                "column": column,
            })
        }).collect::<Vec<_>>(),
    })
}
