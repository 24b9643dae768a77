#!/usr/bin/env bash
# Speakers at rest, IronLB beside MetalLB: CPU and memory per speaker in the same lab, with the
# same config document and the same Services.
#
#   bench/idle-vs-metallb.sh MINUTES [IRONLB_IMAGE] [SERVICES]      (as root)
#
# IRONLB_IMAGE: an OCI layout (`deploy/image/build.sh OUT`; default target/oci/ironlb).
# SERVICES: default 50. A private lab (namespaces vm-*, state /run/ironlb-vm; taken down at the
# end, also on failure) with three nodes and gossip on, installed from the IronLB image; three
# echo pods and SERVICES IPv6 layer-2 LoadBalancer Services selecting them. IronLB runs first:
# once every Service has its IP and the IPs answer NDP, 30 s to settle, then MINUTES measured.
# Then IronLB's speakers and controller are deleted, MetalLB ($METALLB_VERSION, default v0.12.1,
# the last release that reads the legacy ConfigMap; bench/metallb.sh builds it from its Go
# module) installed from its own manifests with the same config document, and measured the same
# way. Per product: CPU per speaker (utime + stime over the window, % of one core, the mean of
# the three), RSS per speaker (the mean of the three at the end), and the ratio.
#
# Status (2026-12-02): not yet working. Its first run measured IronLB, then MetalLB's pods
# (built and installed by bench/metallb.sh) ran and were ready, but nobody answered NDP for the
# first VIP within 60 s and the script stopped there. Next: keep the lab on failure and read
# MetalLB's speaker log (IPv6 layer 2 in v0.12.1, or its view of the endpoints), or use IPv4.
set -euo pipefail
export PATH="$PATH:/usr/local/go/bin:${HOME:-/root}/.cargo/bin"
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "bench/idle-vs-metallb.sh: needs root (network namespaces)" >&2; exit 1; }
minutes=${1:?usage: bench/idle-vs-metallb.sh MINUTES [IRONLB_IMAGE] [SERVICES]}
image=${2:-target/oci/ironlb}
count=${3:-50}
. bench/images.sh
. bench/metallb.sh
. bench/processes.sh
check_images "$image"
metallb_build

export IRONLB_LAB_PREFIX=vm- IRONLB_LAB_STATE=/run/ironlb-vm
trap 'target/debug/ironlb lab down >/dev/null 2>&1 || true' EXIT
eval "$(IRONLB_IMAGE_LAYOUT=$(image_layout "$image") target/debug/ironlb lab up --router none)"
kubectl() { "$IRONLB_LAB_KUBECTL" "$@"; }

config="address-pools:
- name: bench
  protocol: layer2
  addresses: [2001:db8:1::1000-2001:db8:1::1fff]
"
kubectl -n "$IRONLB_LAB_NAMESPACE" create configmap config --dry-run=client -o yaml \
  --from-literal=config="$config" | kubectl apply -f - >/dev/null
kubectl create namespace idle-bench >/dev/null
kubectl -n idle-bench create deployment echo --image="$IRONLB_LAB_ECHO_IMAGE" --replicas=3 >/dev/null
python3 - "$count" <<'EOF' | kubectl apply -f - >/dev/null
import json, sys
items = [{"apiVersion": "v1", "kind": "Service",
          "metadata": {"name": f"svc-{i}", "namespace": "idle-bench"},
          "spec": {"type": "LoadBalancer", "ipFamilies": ["IPv6"], "ipFamilyPolicy": "SingleStack",
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

# answered VIP: a MAC answers NDP for VIP from the client (60 s at most).
answered() {
  for _ in $(seq 60); do
    ip netns exec "$IRONLB_LAB_CLIENT" ndisc6 -q -1 -r 1 -w 500 "$1" eth0 2>/dev/null && return 0
    sleep 1
  done
  echo "bench/idle-vs-metallb.sh: nobody answers NDP for $1" >&2
  return 1
}

# measure PRODUCT COMM: "PRODUCT CPU_PCT RSS_MIB" for the speakers named COMM, over MINUTES.
measure() {
  local p t0 t1 s0 n
  mapfile -t p < <(lab_pids "$2")
  n=${#p[@]}
  [ "$n" -gt 0 ] || { echo "bench/idle-vs-metallb.sh: no $2 process in the nodes" >&2; return 1; }
  t0=$(cpu_ticks "${p[@]}")
  s0=$SECONDS
  sleep $((minutes * 60))
  t1=$(cpu_ticks "${p[@]}")
  awk -v prod="$1" -v t=$((t1 - t0)) -v hz="$(getconf CLK_TCK)" -v s=$((SECONDS - s0)) -v n="$n" -v r="$(rss_kib "${p[@]}")" \
    'BEGIN { printf "%s %.3f %.1f\n", prod, 100 * t / hz / s / n, r / n / 1024 }'
}

all_allocated
vip=$(first_vip)
answered "$vip"
sleep 30
echo "ironlb: $count Services, $vip answered; measuring $minutes min" >&2
ironlb=$(measure ironlb ironlb-speaker)

kubectl -n "$IRONLB_LAB_NAMESPACE" delete daemonset speaker --wait=true >/dev/null
kubectl -n "$IRONLB_LAB_NAMESPACE" delete deployment controller --wait=true >/dev/null
kubectl -n "$IRONLB_LAB_NAMESPACE" wait --for=delete pod -l app.kubernetes.io/name=ironlb --timeout=120s >/dev/null 2>&1 || true
metallb_load
metallb_install "$config"
all_allocated
answered "$(first_vip)"
sleep 30
echo "metallb: $count Services, $(first_vip) answered; measuring $minutes min" >&2
metallb=$(measure metallb speaker)

echo
printf '%-8s %20s %16s\n' product cpu_pct_per_speaker rss_mib_per_speaker
for l in "$ironlb" "$metallb"; do
  read -r prod cpu rss <<<"$l"
  printf '%-8s %20s %16s\n' "$prod" "$cpu" "$rss"
done
read -r _ icpu irss <<<"$ironlb"
read -r _ mcpu mrss <<<"$metallb"
awk -v a="$icpu" -v b="$mcpu" 'BEGIN { printf "idle CPU per speaker: ratio ironlb/metallb = %.2f\n", a / b }'
awk -v a="$irss" -v b="$mrss" 'BEGIN { printf "RSS per speaker: ratio ironlb/metallb = %.2f\n", a / b }'
