#!/usr/bin/env bash
# False failovers under load and loss, IronLB beside MetalLB: the same lab, the same config
# document, the same Services, the same conditions, the same client.
#
#   bench/false-failover-vs-metallb.sh MINUTES [IRONLB_IMAGE]      (as root)
#
# IRONLB_IMAGE: an OCI layout (`deploy/image/build.sh OUT`; default target/oci/ironlb). A private
# lab (namespaces fv-*, state /run/ironlb-fv; taken down at the end, also on failure) with three
# nodes, an echo pod on each and 30 layer-2 LoadBalancer Services (IPv4, Cluster policy) in front
# of them, which the election spreads over the nodes. IronLB runs first, then MetalLB
# ($METALLB_VERSION, default v0.12.1; bench/metallb.sh builds it from its Go module and installs
# it from its own manifests) with the same config document (from v0.13, METALLB_VERSION=v0.15.2:
# the same pool as its CRD objects). Per product and condition (cpu,
# loss1, loss5 by default; IRONLB_BENCH_CONDITIONS picks; bench/faults.sh says what each is):
# three speakers running and 20 s to settle, then the condition held for MINUTES while the
# client asks ARP for every VIP once a second (bench/arp-owners.py).
# Prints per product and condition: members declared down by a live peer (IronLB: "gossip
# membership changed" with someone left; MetalLB: memberlist's NodeLeave events), VIP moves
# (a VIP answered by another MAC than its owner's, alone or beside it), the ARP rounds answered
# and not, and the speakers' CPU (utime + stime over the window, averaged over the three, in %
# of one core). No speaker dies, so every down and every move is false. The speakers' logs of
# each window and every move are kept in IRONLB_BENCH_LOGS (default: a directory under /tmp,
# printed at the end). Needs `cargo build --workspace` first.
set -euo pipefail
export LC_ALL=C
export PATH="$PATH:/usr/local/go/bin:${HOME:-/root}/.cargo/bin"
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "bench/false-failover-vs-metallb.sh: needs root (network namespaces)" >&2; exit 1; }
minutes=${1:?usage: bench/false-failover-vs-metallb.sh MINUTES [IRONLB_IMAGE]}
image=${2:-target/oci/ironlb}
. bench/images.sh
. bench/metallb.sh
. bench/processes.sh
. bench/faults.sh
. bench/services.sh
check_images "$image"
metallb_build

export IRONLB_LAB_PREFIX=fv- IRONLB_LAB_STATE=/run/ironlb-fv
work=$(mktemp -d /tmp/ironlb-fv.XXXXXX)
logs=${IRONLB_BENCH_LOGS:-$(mktemp -d /tmp/ironlb-fv-logs.XXXXXX)}
mkdir -p "$logs"
observer=
cleanup() {
  clear_faults
  [ -n "$observer" ] && kill "$observer" 2>/dev/null || true
  target/debug/ironlb lab down >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
eval "$(IRONLB_IMAGE_LAYOUT=$(image_layout "$image") target/debug/ironlb lab up --router none)"
kubectl() { "$IRONLB_LAB_KUBECTL" "$@"; }

services=30
config="address-pools:
- name: bench
  protocol: layer2
  addresses: [192.0.2.64/26]
"
set_config "$config"
kubectl create namespace fv-bench >/dev/null
{
  echo_daemonset fv-bench
  for i in $(seq 1 "$services"); do
    cat <<EOF
---
apiVersion: v1
kind: Service
metadata: {name: web-$i, namespace: fv-bench}
spec:
  type: LoadBalancer
  selector: {app: echo}
  ports: [{port: 80, targetPort: 8080}]
EOF
  done
} | kubectl apply -f - >/dev/null
kubectl -n fv-bench rollout status daemonset/echo --timeout=300s >/dev/null

# vips: the Services' external IPs, one per line (fewer while any is pending).
vips() {
  kubectl -n fv-bench get svc -o jsonpath='{range .items[*]}{.status.loadBalancer.ingress[0].ip}{"\n"}{end}' | grep . || true
}

# wait_vips: every Service has its IP (120 s at most).
wait_vips() {
  for _ in $(seq 120); do
    [ "$(vips | wc -l)" = "$services" ] && return 0
    sleep 1
  done
  echo "bench/false-failover-vs-metallb.sh: not every Service got an IP" >&2
  exit 1
}

client_ip=$(ip -n "$IRONLB_LAB_CLIENT" -4 -br addr show "$IRONLB_LAB_CLIENT_IF" | awk '{ split($3, a, "/"); print a[1] }')
nodes=$(wc -w <<<"$IRONLB_LAB_NODES")
hz=$(getconf CLK_TCK)
results=$work/results

# downs PRODUCT LOG: the members a live peer declared down in that speaker log.
downs() {
  if [ "$1" = ironlb ]; then
    grep 'gossip membership changed' "$2" | grep -c 'left=\["' || true
  else
    grep -c '"node event":"NodeLeave"' "$2" || true
  fi
}

# run_conditions PRODUCT COMM NAMESPACE SELECTOR: every condition once, as the header says.
run_conditions() {
  local product=$1 comm=$2 ns=$3 selector=$4 condition since ticks began cpu summary d pod log
  for condition in ${IRONLB_BENCH_CONDITIONS:-cpu loss1 loss5}; do
    for _ in $(seq 120); do [ "$(lab_pids "$comm" | wc -l)" -ge "$nodes" ] && break; sleep 1; done
    sleep 20
    since=$(date -u +%Y-%m-%dT%H:%M:%SZ)
    ip netns exec "$IRONLB_LAB_CLIENT" python3 bench/arp-owners.py "$IRONLB_LAB_CLIENT_IF" "$client_ip" \
      "$logs/moves-$product-$condition" $(vips) >"$work/observer" &
    observer=$!
    apply_fault "$condition"
    ticks=$(cpu_ticks $(lab_pids "$comm"))
    began=$SECONDS
    sleep $((minutes * 60))
    cpu=$(awk -v t=$(( $(cpu_ticks $(lab_pids "$comm")) - ticks )) -v hz="$hz" -v s=$((SECONDS - began)) \
      -v n="$nodes" 'BEGIN { printf "%.2f", 100 * t / hz / s / n }')
    clear_faults
    kill -TERM "$observer"
    wait "$observer" || true
    observer=
    summary=$(cat "$work/observer")
    d=0
    for pod in $(kubectl -n "$ns" get pods -l "$selector" -o name); do
      log=$logs/$product-$condition-${pod#pod/}.log
      # The speaker's log may be coloured: the escapes go before the match.
      kubectl -n "$ns" logs "$pod" --since-time="$since" | sed 's/\x1b\[[0-9;]*m//g' >"$log"
      d=$((d + $(downs "$product" "$log")))
    done
    echo "$product $condition $d $(awk '{ print $8, $4, $6 }' <<<"$summary") $cpu" >>"$results"
    echo "$product, $condition for $minutes min: $d declared down; ARP: $summary; speaker CPU $cpu %" >&2
  done
}

wait_vips
run_conditions ironlb ironlb-speaker "$IRONLB_LAB_NAMESPACE" app.kubernetes.io/component=speaker

ironlb_remove
metallb_load
metallb_install "$config"
wait_vips
run_conditions metallb speaker metallb-system component=speaker

echo
echo "speaker logs and moves: $logs"
printf '%-8s %-9s %7s %13s %9s %13s %15s %15s\n' product condition minutes declared_down vip_moves arp_answered arp_unanswered speaker_cpu_pct
while read -r product condition d moves answered unanswered cpu; do
  printf '%-8s %-9s %7s %13s %9s %13s %15s %15s\n' "$product" "$condition" "$minutes" "$d" "$moves" "$answered" "$unanswered" "$cpu"
done <"$results"
