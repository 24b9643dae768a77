//! `ironlb migrate FILE|-`: a MetalLB dump — its legacy ConfigMap, or `kubectl get
//! ipaddresspools,l2advertisements,bgpadvertisements,bgppeers,communities,bfdprofiles
//! -o yaml` — turned into IronLB's ConfigMap (or, with `--document`, the bare config
//! document) on stdout. What could not be carried over, and warnings about the
//! result, go to stderr. The output is validated before it is printed: exit 0 when it
//! is valid, 1 when the dump says something invalid (its errors on stderr, nothing on
//! stdout), 2 when the input cannot be read.
use clap::Args;
use ironlb_config::metallb::migrate;
use std::io::Read as _;
use std::path::PathBuf;

/// Arguments of `ironlb migrate`.
#[derive(Args)]
pub(crate) struct MigrateArgs {
    /// The dump to read, or `-` for standard input.
    file: PathBuf,
    /// Print only the config document, not a ConfigMap manifest.
    #[arg(long)]
    document: bool,
    /// Namespace of the ConfigMap printed.
    #[arg(long, default_value = "ironlb-system")]
    namespace: String,
    /// Name of the ConfigMap printed.
    #[arg(long, default_value = "config")]
    name: String,
}

/// Runs `ironlb migrate`; returns the process exit code.
pub(crate) fn run(args: MigrateArgs) -> anyhow::Result<u8> {
    let mut text = String::new();
    let read = if args.file.as_os_str() == "-" {
        std::io::stdin().read_to_string(&mut text)
    } else {
        std::fs::File::open(&args.file).and_then(|mut f| f.read_to_string(&mut text))
    };
    if let Err(err) = read {
        eprintln!("ironlb: cannot read {}: {err}", args.file.display());
        return Ok(2);
    }
    let migration = match migrate(&text) {
        Ok(m) => m,
        Err(errors) => {
            eprintln!("cannot read the dump:\n{errors}");
            return Ok(1);
        }
    };
    for lost in &migration.not_carried {
        eprintln!("not carried: {lost}");
    }
    match ironlb_config::parse_with_warnings(&migration.document) {
        Ok((_, warnings)) => {
            for w in &warnings {
                eprintln!("warning: {w}");
            }
        }
        Err(errors) => {
            eprintln!("the migrated config is invalid (so is the dump, to MetalLB):\n{errors}");
            return Ok(1);
        }
    }
    if args.document {
        print!("{}", with_newline(&migration.document));
    } else {
        print!(
            "{}",
            configmap(&args.namespace, &args.name, &migration.document)
        );
    }
    Ok(0)
}

fn with_newline(s: &str) -> String {
    if s.ends_with('\n') {
        s.to_string()
    } else {
        format!("{s}\n")
    }
}

/// A ConfigMap manifest holding `document` under `data.config`: as a literal block
/// when that reads back exactly, otherwise as a quoted string.
fn configmap(namespace: &str, name: &str, document: &str) -> String {
    let head = format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {}\n  namespace: {}\ndata:\n",
        quote(name),
        quote(namespace)
    );
    let document = with_newline(document);
    let block: String = document
        .lines()
        .map(|l| {
            if l.is_empty() {
                "\n".to_string()
            } else {
                format!("    {l}\n")
            }
        })
        .collect();
    let literal = format!("{head}  config: |\n{block}");
    match ironlb_config::parse::classify(&literal) {
        Ok(ironlb_config::Source::ConfigMap(back)) if back == document => literal,
        _ => format!("{head}  config: {}\n", quote(&document)),
    }
}

/// A YAML scalar for any string (JSON strings are YAML).
fn quote(s: &str) -> String {
    serde_json::Value::String(s.to_string()).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configmap_reads_back_to_the_document() {
        for doc in [
            "address-pools: []\n",
            "# comment\n\naddress-pools:\n- name: a\n",
            "  leading: indent\n",
            "no-newline: 1",
            "trailing:\n\n\n",
        ] {
            let cm = configmap("ironlb-system", "config", doc);
            match ironlb_config::parse::classify(&cm) {
                Ok(ironlb_config::Source::ConfigMap(back)) => assert_eq!(back, with_newline(doc)),
                other => panic!("{cm}\n{other:?}"),
            }
        }
    }
}
