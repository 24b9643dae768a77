#!/usr/bin/env bash
# Memory and idle CPU of a speaker announcing COUNT layer-2 IPs (default 1000), for one or
# more speaker binaries compared in one run (default: the release build of this checkout).
#
#   sudo bench/speaker-rss.sh [COUNT [SPEAKER...]]
#
# For each binary in turn: brings up a private one-node lab (namespaces rss-*, state
# /run/ironlb-rss; taken down after each binary, also on failure) whose speaker is that
# binary, gives it a layer-2 pool inside the lab's LAN (2001:db8:1::1000-1fff) and COUNT
# IPv6 LoadBalancer Services, each with a ready endpoint on the node, waits until the node's
# NodeAnnouncement lists all COUNT IPs, then reads the speaker's VmRSS (with its anonymous
# and file-backed parts) and its CPU time over 30 idle seconds. Prints the RSS ratio of each
# binary to the first. Needs `cargo build --workspace` first (lab CLI, controller).
set -euo pipefail
export PATH="$PATH:/usr/local/go/bin:${HOME:-/root}/.cargo/bin"
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "bench/speaker-rss.sh: needs root (network namespaces)" >&2; exit 1; }
count=${1:-1000}
[[ $count =~ ^[0-9]+$ ]] && [ "$count" -ge 1 ] && [ "$count" -le 4096 ] ||
  { echo "bench/speaker-rss.sh: COUNT must be 1..4096" >&2; exit 2; }
shift || true
if [ $# -eq 0 ]; then
  cargo build -q --release -p ironlb-speaker --bin ironlb-speaker
  set -- target/release/ironlb-speaker
fi
for b in "$@"; do [ -x "$b" ] || { echo "bench/speaker-rss.sh: $b is not an executable" >&2; exit 2; }; done

export IRONLB_LAB_PREFIX=rss- IRONLB_LAB_STATE=/run/ironlb-rss
bins=$(mktemp -d /tmp/ironlb-rss.XXXXXX)
trap 'target/debug/ironlb lab down >/dev/null 2>&1 || true; rm -rf "$bins"' EXIT
cp target/debug/ironlb-controller "$bins/"
export IRONLB_BIN_DIR=$bins

# COUNT Services and their EndpointSlices on node NODE, as one List per 500 objects.
write_objects() { # write_objects NODE
  python3 - "$count" "$1" "$bins/objects" <<'EOF'
import json, sys
count, node, prefix = int(sys.argv[1]), sys.argv[2], sys.argv[3]
items = []
for i in range(count):
    name = f"svc-{i}"
    items.append({"apiVersion": "v1", "kind": "Service",
                  "metadata": {"name": name, "namespace": "rss-bench"},
                  "spec": {"type": "LoadBalancer", "ipFamilies": ["IPv6"],
                           "ipFamilyPolicy": "SingleStack", "allocateLoadBalancerNodePorts": False,
                           "ports": [{"port": 80, "protocol": "TCP"}], "selector": {"app": name}}})
    items.append({"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
                  "metadata": {"name": name, "namespace": "rss-bench",
                               "labels": {"kubernetes.io/service-name": name}},
                  "addressType": "IPv6",
                  "endpoints": [{"addresses": ["2001:db8:99::1"], "nodeName": node,
                                 "conditions": {"ready": True}}],
                  "ports": [{"port": 80, "protocol": "TCP"}]})
for n, start in enumerate(range(0, len(items), 500)):
    with open(f"{prefix}.{n}.json", "w") as f:
        json.dump({"apiVersion": "v1", "kind": "List", "items": items[start:start + 500]}, f)
EOF
}

first_rss=
measure() { # measure SPEAKER: one lab, one binary; prints one result line
  cp "$1" "$bins/ironlb-speaker"
  eval "$(target/debug/ironlb lab up --nodes 1 --router none)"
  local node=$IRONLB_LAB_NODES
  k() { "$IRONLB_LAB_KUBECTL" "$@"; }
  k -n "$IRONLB_LAB_NAMESPACE" create configmap config --dry-run=client -o yaml \
    --from-literal=config="address-pools:
- name: bench
  protocol: layer2
  addresses: [2001:db8:1::1000-2001:db8:1::1fff]
" | k apply -f - >/dev/null
  k create namespace rss-bench >/dev/null

  local pid; pid=$(cat "$IRONLB_LAB_STATE/pids/speaker-$node.pid")
  kb() { awk "/^$1:/ { print \$2 }" "/proc/$pid/status"; }
  sleep 10
  local base; base=$(kb VmRSS)

  write_objects "$node"
  local f; for f in "$bins"/objects.*.json; do k apply -f "$f" >/dev/null; done
  local t0=$SECONDS
  until [ "$(k get nodeannouncement "$node" -o jsonpath='{.status.announcements[*].ip}' 2>/dev/null | wc -w)" -ge "$count" ]; do
    [ $((SECONDS - t0)) -lt 300 ] || { echo "bench/speaker-rss.sh: $node does not list $count IPs after 300 s" >&2; exit 1; }
    sleep 2
  done
  local took=$((SECONDS - t0))

  sleep 10 # let the burst of gratuitous ARP/NA and the status writes settle
  ticks() { awk '{ print $14 + $15 }' "/proc/$pid/stat"; }
  local before after; before=$(ticks); sleep 30; after=$(ticks)
  local rss anon file hwm; rss=$(kb VmRSS); anon=$(kb RssAnon); file=$(kb RssFile); hwm=$(kb VmHWM)
  [ -n "$first_rss" ] || first_rss=$rss
  printf '%s: before %d kB; %d IPs (listed %d s after the last apply): VmRSS %d kB (%.1f MiB: anon %d, file %d), peak %d kB, %.2fx the first; CPU over 30 s idle %d ticks of 1/%d s\n' \
    "$1" "$base" "$count" "$took" "$rss" "$(awk "BEGIN { print $rss / 1024 }")" "$anon" "$file" "$hwm" \
    "$(awk "BEGIN { print $rss / $first_rss }")" "$((after - before))" "$(getconf CLK_TCK)"
  target/debug/ironlb lab down >/dev/null
}

for b in "$@"; do measure "$b"; done
