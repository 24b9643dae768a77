//! `ironlb config validate`: exit codes 0 (valid), 1 (invalid), 2 (usage error), text and
//! JSON output, files, standard input and ConfigMap manifests.

use serde_json::Value;
use std::io::Write as _;
use std::process::{Command, Output, Stdio};

fn fixture(name: &str) -> String {
    format!("{}/../config/testdata/{name}", env!("CARGO_MANIFEST_DIR"))
}

fn ironlb(args: &[&str], stdin: Option<&[u8]>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_ironlb"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn ironlb");
    if let Some(input) = stdin {
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(input)
            .expect("write stdin");
    }
    drop(child.stdin.take());
    child.wait_with_output().expect("wait ironlb")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn json(o: &Output) -> Value {
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {}", stdout(o)))
}

#[test]
fn valid_file_exits_0_with_a_summary() {
    let o = ironlb(
        &[
            "config",
            "validate",
            &fixture("metallb-bgp-communities.yaml"),
        ],
        None,
    );
    assert_eq!(o.status.code(), Some(0), "{o:?}");
    let out = stdout(&o);
    assert!(out.starts_with("valid: 2 pools, 2 peers"), "{out}");
    assert!(
        out.contains("pool default (bgp): 256 addresses in 1 entry"),
        "{out}"
    );
    assert!(
        out.contains("peer 10.0.0.2 port 1179: AS 64500 -> AS 64502"),
        "{out}"
    );
}

#[test]
fn invalid_file_exits_1_with_every_error() {
    let o = ironlb(&["config", "validate", &fixture("invalid-many.yaml")], None);
    assert_eq!(o.status.code(), Some(1), "{o:?}");
    let out = stdout(&o);
    assert_eq!(
        out.lines().filter(|l| l.starts_with("peers[0]")).count(),
        4,
        "{out}"
    );
    assert!(out.contains(
        "address-pools[0] \"web\": addresses[1] \"192.0.2.0/33\": prefix length 33 is over 32"
    ));
    assert!(out.contains("overlaps address-pools[0] \"web\": addresses[0] \"192.0.2.0/24\""));
}

#[test]
fn missing_file_exits_2() {
    let o = ironlb(&["config", "validate", "/nonexistent/ironlb.yaml"], None);
    assert_eq!(o.status.code(), Some(2), "{o:?}");
    assert!(String::from_utf8_lossy(&o.stderr).contains("cannot read"));
    let o = ironlb(
        &[
            "config",
            "validate",
            "/nonexistent/ironlb.yaml",
            "-o",
            "json",
        ],
        None,
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(
        json(&o)["error"]
            .as_str()
            .is_some_and(|e| e.contains("cannot read"))
    );
    // Missing argument: clap's usage error, also 2.
    assert_eq!(ironlb(&["config", "validate"], None).status.code(), Some(2));
}

#[test]
fn stdin_manifest_as_json() {
    let manifest = std::fs::read(fixture("configmap.yaml")).expect("fixture");
    let o = ironlb(
        &["config", "validate", "-", "--output", "json"],
        Some(&manifest),
    );
    assert_eq!(o.status.code(), Some(0), "{o:?}");
    let v = json(&o);
    assert_eq!(v["valid"], Value::Bool(true));
    assert_eq!(v["pools"][0]["name"], "default");
    assert_eq!(v["pools"][0]["protocol"], "layer2");
    assert_eq!(v["pools"][0]["size"], "11");
    assert_eq!(v["peers"].as_array().map(Vec::len), Some(0));
}

#[test]
fn errors_as_json() {
    let o = ironlb(
        &[
            "config",
            "validate",
            &fixture("invalid-many.yaml"),
            "-o",
            "json",
        ],
        None,
    );
    assert_eq!(o.status.code(), Some(1));
    let v = json(&o);
    assert_eq!(v["valid"], Value::Bool(false));
    let errors = v["errors"].as_array().expect("errors array");
    assert_eq!(errors.len(), 8);
    assert_eq!(
        errors[4]["place"],
        "address-pools[0] \"web\": addresses[1] \"192.0.2.0/33\""
    );
    assert_eq!(errors[4]["message"], "prefix length 33 is over 32");

    let o = ironlb(
        &["config", "validate", "-", "-o", "json"],
        Some(b"address-pools:\n- nmae: x\n"),
    );
    assert_eq!(o.status.code(), Some(1));
    let v = json(&o);
    assert_eq!(v["errors"][0]["place"], "address-pools[0]");
    assert!(
        v["errors"][0]["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("unknown key \"nmae\""))
    );

    // A YAML syntax error carries its line and column.
    let o = ironlb(
        &["config", "validate", "-", "-o", "json"],
        Some(b"peers:\n- [\n"),
    );
    assert_eq!(o.status.code(), Some(1));
    let v = json(&o);
    assert!(v["errors"][0]["line"].as_u64().is_some(), "{v}");
}

#[test]
fn binary_and_oversized_input_exit_1() {
    let o = ironlb(
        &["config", "validate", "-"],
        Some(&[0xff, 0xfe, 0x00, 0x41]),
    );
    assert_eq!(o.status.code(), Some(1), "{o:?}");
    assert!(stdout(&o).contains("not valid UTF-8"));
    let big = vec![b'#'; 2 * 1024 * 1024];
    let o = ironlb(&["config", "validate", "-"], Some(&big));
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stdout(&o).contains(&format!("input is {} bytes", big.len())),
        "{}",
        stdout(&o)
    );
}

#[test]
fn warnings_go_to_stderr_and_under_warnings_in_json() {
    let doc = b"peers:\n- {peer-address: 10.0.0.1, my-asn: 1, peer-asn: 2, hold-time: 500ms}\n";
    let o = ironlb(&["config", "validate", "-"], Some(doc));
    assert_eq!(o.status.code(), Some(0), "{o:?}");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains(
            "warning: peers[0] \"10.0.0.1\": hold-time: \"500ms\" is cut to whole seconds"
        ),
        "{err}"
    );
    let o = ironlb(&["config", "validate", "-o", "json", "-"], Some(doc));
    assert_eq!(o.status.code(), Some(0), "{o:?}");
    let v = json(&o);
    assert_eq!(
        v["warnings"][0]["place"],
        "peers[0] \"10.0.0.1\": hold-time"
    );
}
