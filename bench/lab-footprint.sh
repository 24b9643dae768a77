#!/usr/bin/env bash
# The lab's cost: `ironlb lab up` wall time (warm: control plane and images cached) until every
# IronLB pod is ready, and memory at rest (RSS by component, 30 s after up).
#
#   bench/lab-footprint.sh [NODES]      (as root; needs the image: deploy/image/build.sh)
#
# Brings up a private lab (namespaces fp-*, state /run/ironlb-fp), measures, takes it down
# (also on failure).
set -euo pipefail
export PATH="$PATH:/usr/local/go/bin:${HOME:-/root}/.cargo/bin"
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "bench/lab-footprint.sh: needs root" >&2; exit 1; }
nodes=${1:-3}
export IRONLB_LAB_PREFIX=fp- IRONLB_LAB_STATE=/run/ironlb-fp
trap 'target/debug/ironlb lab down >/dev/null 2>&1 || true' EXIT
start=$(date +%s.%N)
eval "$(target/debug/ironlb lab up --nodes "$nodes")"
up=$(echo "$(date +%s.%N) - $start" | bc)
printf 'lab up (%s nodes, IronLB ready): %.1f s\n' "$nodes" "$up"
sleep 30

# Every process of this lab: marked ones (control plane, kubelets, containerd, shims, relays)
# and those in its nodes' cgroup trees (containers).
pids() {
  local f p
  for f in /proc/[0-9]*/environ; do
    p=${f#/proc/}; p=${p%/environ}
    grep -qzxF "IRONLB_LAB_DAEMON=$IRONLB_LAB_STATE" "$f" 2>/dev/null && echo "$p"
  done
  for n in $IRONLB_LAB_NODES; do
    find "/sys/fs/cgroup/pids/$n" -name cgroup.procs -exec cat {} + 2>/dev/null
  done
}
printf '%-26s %5s %9s\n' component procs rss_mib
pids | sort -u | while read -r p; do
  comm=$(cat "/proc/$p/comm" 2>/dev/null) || continue
  rss=$(awk '/^VmRSS/ {print $2}' "/proc/$p/status" 2>/dev/null)
  echo "$comm ${rss:-0}"
done | awk '
  { c = $1
    if (c ~ /^containerd-shim/) c = "containerd-shim"
    if (c ~ /^(sh|sleep|httpd)$/) c = "pods (sandbox, echo)"
    n[c]++; kb[c] += $2; total += $2; count++ }
  END { for (c in n) printf "%-26s %5d %9.1f\n", c, n[c], kb[c] / 1024
        printf "%-26s %5d %9.1f\n", "TOTAL", count, total / 1024 }' | sort -k3 -n -r
