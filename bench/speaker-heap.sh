#!/usr/bin/env bash
# Where a speaker's heap goes at rest with COUNT layer-2 IPs (default 1000), for one or more
# speaker builds compared in one run: heaptrack around each, on the lab's real cluster.
#
#   bench/speaker-heap.sh [COUNT [SPEAKER...]]   (as root; SPEAKER: a dynamically linked
#                                                 ironlb-speaker, e.g. target/release/ironlb-speaker;
#                                                 heaptrack preloads itself, so not the image's
#                                                 static binary)
#
# Brings up a private one-node lab (namespaces hp-*, state /run/ironlb-hp; taken down at the
# end, also on failure) with the same Services as bench/speaker-rss.sh. The node's speaker pod
# is kept off it (`lab stop speaker`); each SPEAKER in turn runs in the node's namespace as that
# pod would (its ServiceAccount, host network), under heaptrack, until it announces all COUNT
# IPs and then 30 s more, and is killed with SIGKILL: heaptrack's "leaked" is then the heap
# live at rest. Prints heaptrack's summary; the allocation sites still live, largest first, go
# to IRONLB_HEAP_REPORTS/speaker-N.txt (default /tmp/ironlb-heap). Needs
# `cargo build --workspace` first (lab CLI) and Debian's heaptrack.
set -euo pipefail
export PATH="$PATH:/usr/local/go/bin:${HOME:-/root}/.cargo/bin"
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "bench/speaker-heap.sh: needs root (network namespaces)" >&2; exit 1; }
command -v heaptrack >/dev/null || { echo "bench/speaker-heap.sh: needs heaptrack (apt-get install heaptrack)" >&2; exit 1; }
count=${1:-1000}
[[ $count =~ ^[0-9]+$ ]] && [ "$count" -ge 1 ] && [ "$count" -le 4096 ] ||
  { echo "bench/speaker-heap.sh: COUNT must be 1..4096" >&2; exit 2; }
shift || true
[ $# -gt 0 ] || set -- target/release/ironlb-speaker
for b in "$@"; do [ -x "$b" ] || { echo "bench/speaker-heap.sh: $b is not an executable" >&2; exit 2; }; done
. bench/services.sh

export IRONLB_LAB_PREFIX=hp- IRONLB_LAB_STATE=/run/ironlb-hp
work=$(mktemp -d /tmp/ironlb-heap.XXXXXX)
trap 'target/debug/ironlb lab down >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
eval "$(target/debug/ironlb lab up --nodes 1 --router none)"
node=$IRONLB_LAB_NODES
apply_services "$count" "$node" "$work"
target/debug/ironlb lab stop speaker "$node" >/dev/null
# The speaker's ServiceAccount, at the API server's address on the LAN (the lab's kubeconfig
# names the machine's relay, which a node's namespace does not reach).
sed "s|^\( *server:\).*|\1 $IRONLB_LAB_APISERVER|" "$IRONLB_LAB_STATE/speaker.kubeconfig" >"$work/speaker.kubeconfig"

announced() {
  ip netns exec "$node" curl -s -m 2 http://127.0.0.1:7472/metrics |
    awk '/^ironlb_announced_ips\{.*protocol="layer2"/ { s += $2 } END { print s + 0 }'
}
idx=0
for bin in "$@"; do
  idx=$((idx + 1))
  out=$work/heap-$idx
  ip netns exec "$node" env NODE_NAME="$node" POD_NAMESPACE="$IRONLB_LAB_NAMESPACE" \
    KUBECONFIG="$work/speaker.kubeconfig" RUST_LOG=warn \
    heaptrack -o "$out" "$(realpath "$bin")" --namespace="$IRONLB_LAB_NAMESPACE" \
    --metrics-addr=127.0.0.1:7472 >"$work/speaker-$idx.log" 2>&1 &
  t0=$SECONDS
  until [ "$(announced)" -ge "$count" ]; do
    [ $((SECONDS - t0)) -lt 180 ] || { echo "bench/speaker-heap.sh: $bin does not announce $count IPs after 180 s (log: $(tail -n3 "$work/speaker-$idx.log"))" >&2; exit 1; }
    sleep 1
  done
  sleep 30
  pid=$(ip netns pids "$node" | while read -r p; do [ "$(cat /proc/"$p"/comm 2>/dev/null)" = ironlb-speaker ] && echo "$p"; done | head -n1)
  rss=$(awk '/^VmRSS:/ { print $2 }' "/proc/$pid/status")
  kill -9 "$pid"
  wait || true
  echo "=== $bin: $count IPs, VmRSS $rss kB at rest (under heaptrack)"
  report=${IRONLB_HEAP_REPORTS:-/tmp/ironlb-heap}/speaker-$idx.txt
  mkdir -p "$(dirname "$report")"
  heaptrack_print -f "$out".* --print-leaks 1 --print-peaks 0 --print-allocators 0 \
    --print-temporary 0 >"$report" 2>/dev/null || true
  grep -E '^(total memory leaked|peak heap memory consumption|calls to allocation functions)' "$report" || true
  echo "(the live allocation sites, largest first: $report)"
  sleep 5 # the node's gossip forgets the killed speaker
done
