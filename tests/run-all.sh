#!/usr/bin/env bash
# The whole IronLB test suite, as CI runs it: formatting, lints, unit and property tests,
# and the end-to-end tests in the lab (real kube-apiserver, namespaces, routers). Needs root.
# Installs what it needs (apt packages, the Go-built control plane) on first run.
set -euo pipefail
# Toolchains where this machine kind installs them, in case PATH lacks them (e.g. under sudo).
export PATH="$PATH:/usr/local/go/bin:${HOME:-/root}/.cargo/bin"
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "tests/run-all.sh: needs root (network namespaces, the lab): run it as root" >&2; exit 1; }
export CARGO_TERM_COLOR=never
step() { echo; echo "=== $* ($(date -u +%T))"; }

step "format"
cargo fmt --all -- --check

step "build"
cargo build --workspace --all-targets

step "lints"
cargo clippy --workspace --all-targets -- -D warnings

step "packages: routers and network tools (installed once)"
# The BGP interop tests run BIRD, GoBGP and FRR themselves, before any test brings up the lab.
target/debug/ironlb lab install

step "control plane (built once, cached in ${IRONLB_CACHE:-/var/cache/ironlb})"
bash cli/lab/build-control-plane.sh >/dev/null

step "image (offline: static binaries, FROM scratch, umoci) and its checks"
need=()
command -v umoci >/dev/null || need+=(umoci)
command -v file >/dev/null || need+=(file)
if [ ${#need[@]} -gt 0 ]; then
  apt-get install -y -qq -o DPkg::Lock::Timeout=300 "${need[@]}" >/dev/null 2>&1 ||
    { apt-get update -qq && apt-get install -y -qq -o DPkg::Lock::Timeout=300 "${need[@]}"; }
fi
bash deploy/image/build.sh

step "Helm chart: lint, and it renders what deploy/ renders (helm built once from its Go module)"
python3 -c 'import yaml' 2>/dev/null ||
  apt-get install -y -qq -o DPkg::Lock::Timeout=300 python3-yaml >/dev/null 2>&1 ||
  { apt-get update -qq && apt-get install -y -qq -o DPkg::Lock::Timeout=300 python3-yaml; }
IRONLB_LAB_HELM=$(target/debug/ironlb lab helm) KUBECTL=${IRONLB_CACHE:-/var/cache/ironlb}/bin/kubectl bash deploy/helm/test.sh

step "tests"
# Whatever happens, leave no lab behind.
trap 'target/debug/ironlb lab down >/dev/null 2>&1 || true' EXIT
# Test binaries that bring the lab up share it; the lab-down test takes it away at the end.
cargo test --workspace --no-fail-fast -- --test-threads=2
