//! `ironlb lab down` leaves nothing behind. Its own test binary, named to run after the others
//! (cargo runs test binaries in name order): it brings the shared lab down.

use ironlb_tests::{lab, ok};
use std::process::Command;

fn lab_namespaces(prefix: &str) -> Vec<String> {
    let out = ok(&Command::new("ip")
        .args(["netns", "list"])
        .output()
        .expect("ip netns list"));
    out.lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|n| n.starts_with(prefix))
        .map(str::to_owned)
        .collect()
}

/// Processes the lab started: they carry IRONLB_LAB_DAEMON=<state dir> in their environment.
fn lab_processes(state: &str) -> Vec<String> {
    let mark = format!("IRONLB_LAB_DAEMON={state}");
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").expect("/proc").flatten() {
        let Ok(env) = std::fs::read(entry.path().join("environ")) else {
            continue;
        };
        if env.split(|b| *b == 0).any(|kv| kv == mark.as_bytes()) {
            let cmd = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
            let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
            found.push(format!("{:?}: {cmd}", entry.file_name()));
        }
    }
    found
}

/// Mounts under the lab's state directory (pod volumes, sandbox shm, container root
/// filesystems).
fn lab_mounts(state: &str) -> Vec<String> {
    std::fs::read_to_string("/proc/self/mounts")
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split_whitespace().nth(1))
        .filter(|m| m.starts_with(&format!("{state}/")))
        .map(str::to_owned)
        .collect()
}

/// The kubelets' cgroup roots (`/NODE`) left in any cgroup hierarchy.
fn lab_cgroups(nodes: &[String]) -> Vec<String> {
    let mut left = Vec::new();
    for hierarchy in std::fs::read_dir("/sys/fs/cgroup")
        .expect("/sys/fs/cgroup")
        .flatten()
    {
        for node in nodes {
            let dir = hierarchy.path().join(node);
            if dir.exists() {
                left.push(dir.display().to_string());
            }
        }
    }
    left
}

/// Pod network namespaces the CNI made (`cni-...`) that no process holds.
fn orphan_pod_namespaces() -> Vec<String> {
    lab_namespaces("cni-")
        .into_iter()
        .filter(|ns| {
            let out = Command::new("ip")
                .args(["netns", "pids", ns])
                .output()
                .expect("ip netns pids");
            out.stdout.iter().all(u8::is_ascii_whitespace)
        })
        .collect()
}

#[test]
fn down_leaves_no_namespace_process_or_state_and_can_run_twice() {
    let lab = lab();
    let state = lab.env("IRONLB_LAB_STATE").to_owned();
    let prefix = lab.env("IRONLB_LAB_PREFIX").to_owned();
    assert!(
        !lab_namespaces(&prefix).is_empty(),
        "the lab has no namespaces"
    );
    assert!(
        !lab_processes(&state).is_empty(),
        "the lab has no processes"
    );
    assert!(!lab_mounts(&state).is_empty(), "the lab has no pod mounts");
    let nodes = lab.nodes();
    ok(&lab.ironlb_lab(&["down"]));
    assert_eq!(lab_mounts(&state), Vec::<String>::new(), "mounts left");
    assert_eq!(lab_cgroups(&nodes), Vec::<String>::new(), "cgroups left");
    assert_eq!(
        orphan_pod_namespaces(),
        Vec::<String>::new(),
        "pod namespaces left"
    );
    assert_eq!(
        lab_namespaces(&prefix),
        Vec::<String>::new(),
        "namespaces left"
    );
    assert_eq!(
        lab_processes(&state),
        Vec::<String>::new(),
        "processes left"
    );
    assert!(!std::path::Path::new(&state).exists(), "{state} left");
    // Down again, with the state directory gone, still succeeds.
    ok(&lab.ironlb_lab(&["down"]));
    let env = lab.ironlb_lab(&["env"]);
    assert!(!env.status.success(), "`lab env` succeeds with no lab up");
}
