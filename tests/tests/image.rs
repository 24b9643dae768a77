//! The OCI image built by `deploy/image/build.sh`: its config (entrypoint, non-root user, OCI
//! labels, platform) and content (exactly the three binaries, root-owned, which run with nothing
//! else in the filesystem). Ignored by default since it needs the image, i.e. a release build:
//! `deploy/image/build.sh` runs it at its end (`cargo test -p ironlb-tests --test image --
//! --ignored`, with `IRONLB_IMAGE_LAYOUT` naming the layout; default `target/oci/ironlb`).

use std::path::{Path, PathBuf};
use std::process::Command;

use ironlb_tests::ok;

const VERSION: &str = env!("CARGO_PKG_VERSION");
const BINARIES: [&str; 3] = ["ironlb-controller", "ironlb-speaker", "ironlb"];

fn layout() -> PathBuf {
    std::env::var_os("IRONLB_IMAGE_LAYOUT").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/oci/ironlb"),
        PathBuf::from,
    )
}

fn json(path: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (build the image first: deploy/image/build.sh)",
            path.display()
        )
    });
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The path of blob `digest` (`sha256:...`) in the layout.
fn blob(digest: &serde_json::Value) -> PathBuf {
    let digest = digest.as_str().expect("digest");
    let (alg, hex) = digest.split_once(':').expect("alg:hex digest");
    layout().join("blobs").join(alg).join(hex)
}

/// The manifest tagged with the crate version.
fn manifest() -> serde_json::Value {
    let index = json(&layout().join("index.json"));
    let entry = index["manifests"]
        .as_array()
        .expect("manifests")
        .iter()
        .find(|m| m["annotations"]["org.opencontainers.image.ref.name"] == VERSION)
        .unwrap_or_else(|| panic!("no image tagged {VERSION} in {index}"))
        .clone();
    json(&blob(&entry["digest"]))
}

#[test]
#[ignore = "needs the image: deploy/image/build.sh (a release build) runs this test"]
fn image_config_is_non_root_with_controller_entrypoint_and_labels() {
    let config = json(&blob(&manifest()["config"]["digest"]));
    assert_eq!(config["os"], "linux");
    assert_eq!(config["architecture"], "amd64");
    let c = &config["config"];
    assert_eq!(c["User"], "65534:65534");
    assert_eq!(c["Entrypoint"], serde_json::json!(["/ironlb-controller"]));
    assert!(c["Cmd"].is_null(), "no default arguments: {}", c["Cmd"]);
    let labels = &c["Labels"];
    assert_eq!(labels["org.opencontainers.image.title"], "IronLB");
    assert_eq!(labels["org.opencontainers.image.licenses"], "Apache-2.0");
    assert_eq!(labels["org.opencontainers.image.version"], VERSION);
    assert!(labels["org.opencontainers.image.revision"].is_string());
}

#[test]
#[ignore = "needs the image: deploy/image/build.sh (a release build) runs this test"]
fn image_holds_only_the_static_binaries_which_run_alone() {
    let m = manifest();
    let layers = m["layers"].as_array().expect("layers");
    assert_eq!(layers.len(), 1, "one layer on scratch: {layers:?}");
    let layer = blob(&layers[0]["digest"]);
    let listing = ok(&Command::new("tar")
        .args(["--numeric-owner", "-tvzf"])
        .arg(&layer)
        .output()
        .expect("tar"));
    let mut files: Vec<&str> = listing
        .lines()
        .filter(|l| l.starts_with('-'))
        .map(|l| {
            assert!(
                l.starts_with("-rwxr-xr-x 0/0 "),
                "root-owned, mode 755: {l}"
            );
            l.rsplit(' ')
                .next()
                .unwrap_or_default()
                .trim_start_matches("./")
        })
        .collect();
    files.sort_unstable();
    let mut want = BINARIES.to_vec();
    want.sort_unstable();
    assert_eq!(files, want, "layer content:\n{listing}");

    // Unpacked alone, with no libc and no loader, each binary starts (root is needed for chroot).
    ironlb_tests::require_root();
    let dir = std::env::temp_dir().join(format!("ironlb-image-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    ok(&Command::new("tar")
        .arg("-xzf")
        .arg(&layer)
        .arg("-C")
        .arg(&dir)
        .output()
        .expect("tar -x"));
    for b in BINARIES {
        let out = ok(&Command::new("chroot")
            .arg("--userspec=65534:65534")
            .arg(&dir)
            .arg(format!("/{b}"))
            .arg("--version")
            .output()
            .expect("chroot"));
        assert!(out.contains(VERSION), "/{b} --version: {out}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
