//! `ironlb migrate`: a MetalLB dump in, a ConfigMap that `ironlb config validate`
//! accepts out, and what was not carried on stderr. Also the kubectl plugin name.

use std::io::Write as _;
use std::process::{Command, Output, Stdio};

fn fixture(name: &str) -> String {
    format!("{}/../config/testdata/{name}", env!("CARGO_MANIFEST_DIR"))
}

fn run(program: &std::path::Path, args: &[&str], stdin: &[u8]) -> Output {
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn ironlb");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin)
        .expect("write stdin");
    child.wait_with_output().expect("wait ironlb")
}

fn ironlb(args: &[&str], stdin: &[u8]) -> Output {
    run(env!("CARGO_BIN_EXE_ironlb").as_ref(), args, stdin)
}

#[test]
fn crd_dump_migrates_to_a_configmap_that_validates() {
    let o = ironlb(
        &["migrate", &fixture("metallb-crds/kubectl-get-list.yaml")],
        b"",
    );
    assert_eq!(o.status.code(), Some(0), "{o:?}");
    let out = String::from_utf8(o.stdout).unwrap();
    assert!(
        out.starts_with("apiVersion: v1\nkind: ConfigMap\n"),
        "{out}"
    );
    assert!(out.contains("  namespace: \"ironlb-system\"\n"), "{out}");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("not carried: BGPPeer/upstream spec.passwordSecret"),
        "{err}"
    );
    // The output is what `ironlb config validate` accepts.
    let v = ironlb(&["config", "validate", "-"], out.as_bytes());
    assert_eq!(v.status.code(), Some(0), "{v:?}");
    let summary = String::from_utf8_lossy(&v.stdout);
    assert!(summary.starts_with("valid: 3 pools, 2 peers"), "{summary}");
}

#[test]
fn legacy_configmap_from_stdin_and_bare_document() {
    let text = std::fs::read(fixture("metallb-v0.12/example-layer2-config.yaml")).unwrap();
    let o = ironlb(&["migrate", "--document", "-"], &text);
    assert_eq!(o.status.code(), Some(0), "{o:?}");
    assert_eq!(
        String::from_utf8_lossy(&o.stdout),
        "address-pools:\n- name: my-ip-space\n  protocol: layer2\n  addresses:\n  - 192.168.1.240/28\n"
    );
    assert!(o.stderr.is_empty(), "{o:?}");
}

#[test]
fn an_invalid_dump_exits_1_with_nothing_on_stdout() {
    let dump = b"apiVersion: metallb.io/v1beta1\nkind: IPAddressPool\nmetadata: {name: a}\nspec: {addresses: [10.0.0.0/33]}\n";
    let o = ironlb(&["migrate", "-"], dump);
    assert_eq!(o.status.code(), Some(1), "{o:?}");
    assert!(o.stdout.is_empty());
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("10.0.0.0/33"),
        "{o:?}"
    );
    let o = ironlb(&["migrate", "/nonexistent/dump.yaml"], b"");
    assert_eq!(o.status.code(), Some(2), "{o:?}");
}

#[test]
fn as_a_kubectl_plugin_help_says_kubectl_ironlb() {
    let dir = std::env::temp_dir().join(format!("ironlb-plugin-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let plugin = dir.join("kubectl-ironlb");
    std::fs::copy(env!("CARGO_BIN_EXE_ironlb"), &plugin).unwrap();
    let o = run(&plugin, &["--help"], b"");
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(o.status.code(), Some(0), "{o:?}");
    let help = String::from_utf8_lossy(&o.stdout);
    assert!(help.contains("Usage: kubectl ironlb <COMMAND>"), "{help}");
    let o = ironlb(&["--help"], b"");
    assert!(String::from_utf8_lossy(&o.stdout).contains("Usage: ironlb <COMMAND>"));
}
