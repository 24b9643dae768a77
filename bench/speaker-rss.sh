#!/usr/bin/env bash
# Memory and idle CPU of one release speaker announcing COUNT layer-2 IPs (default 1000).
#
#   sudo bench/speaker-rss.sh [COUNT]
#
# Builds `ironlb-speaker` in release, brings up a private one-node lab (namespaces rss-*,
# state /run/ironlb-rss; taken down at the end, also on failure) whose speaker is that
# release binary, gives it a layer-2 pool inside the lab's LAN (2001:db8:1::1000-1fff) and
# COUNT IPv6 LoadBalancer Services, each with a ready endpoint on the node, waits until the
# node's NodeAnnouncement lists all COUNT IPs, then reads the speaker's VmRSS and its CPU
# time over 30 idle seconds. Needs `cargo build --workspace` first (lab CLI, controller).
set -euo pipefail
export PATH="$PATH:/usr/local/go/bin:${HOME:-/root}/.cargo/bin"
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "bench/speaker-rss.sh: needs root (network namespaces)" >&2; exit 1; }
count=${1:-1000}
[[ $count =~ ^[0-9]+$ ]] && [ "$count" -ge 1 ] && [ "$count" -le 4096 ] ||
  { echo "bench/speaker-rss.sh: COUNT must be 1..4096" >&2; exit 2; }

cargo build -q --release -p ironlb-speaker --bin ironlb-speaker
export IRONLB_LAB_PREFIX=rss- IRONLB_LAB_STATE=/run/ironlb-rss
bins=$(mktemp -d /tmp/ironlb-rss.XXXXXX)
trap 'target/debug/ironlb lab down >/dev/null 2>&1 || true; rm -rf "$bins"' EXIT
cp target/debug/ironlb-controller target/release/ironlb-speaker "$bins/"
export IRONLB_BIN_DIR=$bins
eval "$(target/debug/ironlb lab up --nodes 1 --router none)"
node=$IRONLB_LAB_NODES
k() { "$IRONLB_LAB_KUBECTL" "$@"; }

k -n "$IRONLB_LAB_NAMESPACE" create configmap config --dry-run=client -o yaml \
  --from-literal=config="address-pools:
- name: bench
  protocol: layer2
  addresses: [2001:db8:1::1000-2001:db8:1::1fff]
" | k apply -f - >/dev/null
k create namespace rss-bench >/dev/null

pid=$(cat "$IRONLB_LAB_STATE/pids/speaker-$node.pid")
rss_kb() { awk "/^$1/ { print \$2 }" "/proc/$pid/status"; }
sleep 10
base=$(rss_kb VmRSS)
echo "release speaker, nothing announced yet: VmRSS $((base / 1024)) MiB ($base kB)"

# COUNT Services and their EndpointSlices, as one List per 500 objects.
python3 - "$count" "$node" "$bins/objects" <<'EOF'
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
for f in "$bins"/objects.*.json; do k apply -f "$f" >/dev/null; done

t0=$SECONDS
until [ "$(k get nodeannouncement "$node" -o jsonpath='{.status.announcements[*].ip}' 2>/dev/null | wc -w)" -ge "$count" ]; do
  [ $((SECONDS - t0)) -lt 300 ] || { echo "bench/speaker-rss.sh: $node does not list $count IPs after 300 s" >&2; exit 1; }
  sleep 2
done
echo "all $count IPs announced $((SECONDS - t0)) s after the last apply"

sleep 10 # let the burst of gratuitous ARP/NA and the status writes settle
ticks() { awk '{ print $14 + $15 }' "/proc/$pid/stat"; }
hz=$(getconf CLK_TCK)
before=$(ticks)
sleep 30
after=$(ticks)
rss=$(rss_kb VmRSS)
hwm=$(rss_kb VmHWM)
echo "release speaker, $count IPs announced: VmRSS $((rss / 1024)) MiB ($rss kB), peak $((hwm / 1024)) MiB;" \
  "CPU over 30 s idle: $((after - before)) ticks of 1/$hz s"
