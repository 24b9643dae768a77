#!/usr/bin/env bash
# Speakers at rest, IronLB beside MetalLB: CPU and memory per speaker in the same lab, with the
# same config document and the same Services.
#
#   bench/idle-vs-metallb.sh MINUTES [IRONLB_IMAGE[,IRONLB_IMAGE...]] [SERVICES]      (as root)
#
# IRONLB_IMAGE: an OCI layout (`deploy/image/build.sh OUT`; default target/oci/ironlb), as in
# bench/images.sh; several, comma-separated, are measured one after the other (the speaker
# DaemonSet rolled to each), as ironlb-1, ironlb-2, ..., then MetalLB.
# SERVICES: default 50, at most 64. A private lab (namespaces vm-*, state /run/ironlb-vm; taken
# down at the end, also on failure unless IRONLB_BENCH_KEEP=1) with three nodes and gossip on,
# installed from the IronLB image; three echo pods and SERVICES layer-2 LoadBalancer Services
# selecting them, IPv4 (IRONLB_BENCH_FAMILY=ipv6: IPv6). IronLB runs first: once every Service
# has its IP and the first IP answers ARP (NDP), 30 s to settle, then MINUTES measured.
# Then IronLB's speakers and controller are deleted, MetalLB ($METALLB_VERSION, default v0.12.1,
# the last release that reads the legacy ConfigMap; bench/metallb.sh builds it from its Go
# module) installed from its own manifests with the same config document, and measured the same
# way. Per product: CPU per speaker (utime + stime over the window, % of one core, the mean of
# the three), RSS per speaker (the mean of the three at the end), and the ratio.
#
# IPv6 is not the default: in its first run nobody answered NDP for MetalLB's first VIP within
# 60 s (IronLB's were answered); IPv4 compares the two on what both serve.
set -euo pipefail
export PATH="$PATH:/usr/local/go/bin:${HOME:-/root}/.cargo/bin"
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "bench/idle-vs-metallb.sh: needs root (network namespaces)" >&2; exit 1; }
minutes=${1:?usage: bench/idle-vs-metallb.sh MINUTES [IRONLB_IMAGE[,IRONLB_IMAGE...]] [SERVICES]}
IFS=, read -r -a images <<<"${2:-target/oci/ironlb}"
count=${3:-50}
family=${IRONLB_BENCH_FAMILY:-ipv4}
case "$family" in
  ipv4) pool=192.0.2.64/26 families=IPv4 ;;
  ipv6) pool=2001:db8:1::1000-2001:db8:1::1fff families=IPv6 ;;
  *) echo "bench/idle-vs-metallb.sh: IRONLB_BENCH_FAMILY is ipv4 or ipv6, not '$family'" >&2; exit 1 ;;
esac
[ "$count" -le 64 ] || { echo "bench/idle-vs-metallb.sh: at most 64 Services (the pool)" >&2; exit 1; }
. bench/images.sh
. bench/metallb.sh
. bench/processes.sh
check_images "${images[@]}"
metallb_build

export IRONLB_LAB_PREFIX=vm- IRONLB_LAB_STATE=/run/ironlb-vm
[ "${IRONLB_BENCH_KEEP:-}" = 1 ] || trap 'target/debug/ironlb lab down >/dev/null 2>&1 || true' EXIT
eval "$(IRONLB_IMAGE_LAYOUT=$(image_layout "${images[0]}") target/debug/ironlb lab up --router none)"
kubectl() { "$IRONLB_LAB_KUBECTL" "$@"; }

config="address-pools:
- name: bench
  protocol: layer2
  addresses: [$pool]
"
kubectl -n "$IRONLB_LAB_NAMESPACE" create configmap config --dry-run=client -o yaml \
  --from-literal=config="$config" | kubectl apply -f - >/dev/null
kubectl create namespace idle-bench >/dev/null
kubectl -n idle-bench create deployment echo --image="$IRONLB_LAB_ECHO_IMAGE" --replicas=3 >/dev/null
python3 - "$count" "$families" <<'EOF' | kubectl apply -f - >/dev/null
import json, sys
items = [{"apiVersion": "v1", "kind": "Service",
          "metadata": {"name": f"svc-{i}", "namespace": "idle-bench"},
          "spec": {"type": "LoadBalancer", "ipFamilies": [sys.argv[2]], "ipFamilyPolicy": "SingleStack",
                   "ports": [{"port": 80, "targetPort": 8080, "protocol": "TCP"}],
                   "selector": {"app": "echo"}}} for i in range(int(sys.argv[1]))]
print(json.dumps({"apiVersion": "v1", "kind": "List", "items": items}))
EOF
kubectl -n idle-bench rollout status deployment/echo --timeout=300s >/dev/null

# first_vip: the first Service's ingress IP, once every Service has one (5 min at most).
all_allocated() {
  local n
  for _ in $(seq 300); do
    n=$(kubectl -n idle-bench get svc -o json | python3 -c 'import json, sys
print(sum(1 for s in json.load(sys.stdin)["items"] if (s.get("status", {}).get("loadBalancer") or {}).get("ingress")))')
    [ "$n" = "$count" ] && return 0
    sleep 1
  done
  echo "bench/idle-vs-metallb.sh: only $n of $count Services got an IP" >&2
  return 1
}
first_vip() { kubectl -n idle-bench get svc svc-0 -o jsonpath='{.status.loadBalancer.ingress[0].ip}'; }

# answered VIP: a MAC answers ARP (NDP) for VIP from the client (60 s at most).
answered() {
  local ask=(arping -q -c 1 -w 1 -I eth0 "$1")
  [ "$family" = ipv6 ] && ask=(ndisc6 -q -1 -r 1 -w 500 "$1" eth0)
  for _ in $(seq 60); do
    ip netns exec "$IRONLB_LAB_CLIENT" "${ask[@]}" >/dev/null 2>&1 && return 0
    sleep 1
  done
  echo "bench/idle-vs-metallb.sh: nobody answers ARP/NDP for $1" >&2
  return 1
}

# measure PRODUCT COMM: "PRODUCT CPU_PCT RSS_MIB WAKEUPS_PER_S" for the speakers named COMM,
# over MINUTES (wake-ups: voluntary context switches of all their threads).
measure() {
  local p t0 t1 w0 w1 s0 n
  mapfile -t p < <(lab_pids "$2")
  n=${#p[@]}
  [ "$n" -gt 0 ] || { echo "bench/idle-vs-metallb.sh: no $2 process in the nodes" >&2; return 1; }
  t0=$(cpu_ticks "${p[@]}"); w0=$(wakeups "${p[@]}")
  s0=$SECONDS
  sleep $((minutes * 60))
  t1=$(cpu_ticks "${p[@]}"); w1=$(wakeups "${p[@]}")
  awk -v prod="$1" -v t=$((t1 - t0)) -v w=$((w1 - w0)) -v hz="$(getconf CLK_TCK)" -v s=$((SECONDS - s0)) -v n="$n" -v r="$(rss_kib "${p[@]}")" \
    'BEGIN { printf "%s %.3f %.1f %.0f\n", prod, 100 * t / hz / s / n, r / n / 1024, w / s / n }'
}

all_allocated
vip=$(first_vip)
load_images idle "${images[@]}"
results=()
for i in "${!images[@]}"; do
  roll_speaker "idle-$((i + 1))" "${images[$i]}"
  answered "$vip"
  sleep 30
  echo "ironlb-$((i + 1)) (${images[$i]}): $count $families Services, $vip answered; measuring $minutes min" >&2
  results+=("$(measure "ironlb-$((i + 1))" ironlb-speaker)")
done

ironlb_remove
metallb_load
metallb_install "$config"
all_allocated
answered "$(first_vip)"
sleep 30
echo "metallb: $count $families Services, $(first_vip) answered; measuring $minutes min" >&2
metallb=$(measure metallb speaker)

results+=("$metallb")

echo
printf '%-10s %20s %16s %10s %10s %12s\n' product cpu_pct_per_speaker rss_mib_per_speaker cpu_ratio rss_ratio wakeups_per_s
read -r _ mcpu mrss _ <<<"$metallb"
for l in "${results[@]}"; do
  read -r prod cpu rss wakes <<<"$l"
  awk -v p="$prod" -v c="$cpu" -v r="$rss" -v w="$wakes" -v mc="$mcpu" -v mr="$mrss" \
    'BEGIN { printf "%-10s %20s %16s %10.2f %10.2f %12s\n", p, c, r, c / mc, r / mr, w }'
done
echo "(ratios: to MetalLB's)"
