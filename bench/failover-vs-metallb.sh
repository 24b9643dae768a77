#!/usr/bin/env bash
# Layer-2 failover, IronLB beside MetalLB: the same lab, the same config document, the same
# Service, the same faults, the same client.
#
#   bench/failover-vs-metallb.sh TRIALS [IRONLB_IMAGE]      (as root)
#
# IRONLB_IMAGE: an OCI layout (`deploy/image/build.sh OUT`; default target/oci/ironlb). A private
# lab (namespaces fm-*, state /run/ironlb-fm; taken down at the end, also on failure) with three
# nodes, an echo pod on each and one layer-2 LoadBalancer Service (IPv4, Local policy: the node
# that takes a request in answers it, so a request never waits on a pod behind a dead node). IronLB
# runs first, then each MetalLB of METALLB_VARIANTS in turn (default v0.12.1; e.g. "v0.12.1
# v0.16.2 v0.16.2:local", VERSION[:PRESET] as bench/metallb.sh's metallb_use takes it: built from
# its Go module, installed from its own manifests, given the same config document, or from
# v0.13 the same pool as its CRD objects). Per product, TRIALS times each:
#   crash  the announcing node's speaker killed with SIGKILL (its kubelet frozen meanwhile, so
#          that nothing restarts it: the others must notice the silence);
#   link   the announcing node's LAN link set down (`ironlb lab link NODE down`).
# Each prints the time from the fault until the client's HTTP request (curl every ~20 ms, each
# giving up after 100 ms) reaches another node, whose echo pod answers it. After each fault the
# node is put back (the kubelet thawed and the crashed speaker's pod replaced, or the link set
# up) and the lab left to settle: three speakers running, SETTLE seconds (default 10), then one
# MAC answering ARP.
# For IronLB also the time until a peer's gossip declared the node gone, by the speakers' log
# timestamps (d-crash, d-link: the failure detection inside the failover). Prints n, failures,
# p50, p90, p99 and max per product and fault, and the p50s' ratio per fault.
# Needs `cargo build --workspace` first.
set -euo pipefail
export PATH="$PATH:/usr/local/go/bin:${HOME:-/root}/.cargo/bin"
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "bench/failover-vs-metallb.sh: needs root (network namespaces)" >&2; exit 1; }
trials=${1:?usage: bench/failover-vs-metallb.sh TRIALS [IRONLB_IMAGE]}
image=${2:-target/oci/ironlb}
settle=${SETTLE:-10}
. bench/images.sh
. bench/metallb.sh
. bench/processes.sh
. bench/services.sh
check_images "$image"
variants=(${METALLB_VARIANTS:-v0.12.1})
for v in "${variants[@]}"; do metallb_use "$v"; metallb_build; done

export IRONLB_LAB_PREFIX=fm- IRONLB_LAB_STATE=/run/ironlb-fm
work=$(mktemp -d /tmp/ironlb-fm.XXXXXX)
out=$work/times
cleanup() {
  for f in "$IRONLB_LAB_STATE"/pids/kubelet-*.pid; do [ -f "$f" ] && kill -CONT "$(cat "$f")" 2>/dev/null; done
  target/debug/ironlb lab down >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
eval "$(IRONLB_IMAGE_LAYOUT=$(image_layout "$image") target/debug/ironlb lab up --router none)"
kubectl() { "$IRONLB_LAB_KUBECTL" "$@"; }
lab() { target/debug/ironlb lab "$@"; }

config="address-pools:
- name: bench
  protocol: layer2
  addresses: [192.0.2.64/26]
"
set_config "$config"
kubectl create namespace fm-bench >/dev/null
{
  echo_daemonset fm-bench
  echo ---
  cat <<EOF
apiVersion: v1
kind: Service
metadata: {name: web, namespace: fm-bench}
spec:
  type: LoadBalancer
  externalTrafficPolicy: Local
  selector: {app: echo}
  ports: [{port: 80, targetPort: 8080}]
EOF
} | kubectl apply -f - >/dev/null
kubectl -n fm-bench rollout status daemonset/echo --timeout=300s >/dev/null

vip() { kubectl -n fm-bench get svc web -o jsonpath='{.status.loadBalancer.ingress[0].ip}'; }

# reached VIP TIMEOUT: the node the client's HTTP request to VIP reached (Local policy: the echo
# pod of the node that took it in answers "pod node peer"), empty if none accepted within TIMEOUT s.
reached() {
  local body
  body=$(ip netns exec "$IRONLB_LAB_CLIENT" curl -s --connect-timeout "$2" -m "$(awk -v t="$2" 'BEGIN { print t + 2 }')" \
    "http://$1/cgi-bin/who" 2>/dev/null) || return 0
  set -- $body
  [ $# -ge 1 ] && [ -n "${pod_node[$1]:-}" ] && echo "${pod_node[$1]}" || true
}
declare -A pod_node
while read -r pod node; do pod_node[$pod]=$node; done < <(kubectl -n fm-bench get pods -l app=echo \
  -o jsonpath='{range .items[*]}{.metadata.name} {.spec.nodeName}{"\n"}{end}')
[ "${#pod_node[@]}" = 3 ] || { echo "bench/failover-vs-metallb.sh: not one echo pod per node" >&2; exit 1; }

# arp_macs VIP: how many MACs answer ARP for VIP from the client within 2 s.
arp_macs() {
  ip netns exec "$IRONLB_LAB_CLIENT" arping -c 2 -w 2 -I "$IRONLB_LAB_CLIENT_IF" "$1" 2>/dev/null |
    awk '/ bytes from / { print $4 }' | sort -u | wc -l
}

# settled COMM VIP: three COMM processes run, SETTLE seconds pass, then one MAC answers ARP for
# VIP and a request reaches a node (120 s at most); prints that node.
settled() {
  local n node
  for _ in $(seq 120); do
    n=$(lab_pids "$1" | wc -l)
    [ "$n" -ge 3 ] && break
    sleep 1
  done
  sleep "$settle"
  for _ in $(seq 60); do
    node=$(reached "$2" 1)
    [ -n "$node" ] && [ "$(arp_macs "$2")" = 1 ] && { echo "$node"; return 0; }
    sleep 1
  done
  echo "bench/failover-vs-metallb.sh: $2 not answered by one node" >&2
  return 1
}

# moved VIP FROM: polls until a request reaches another node than FROM (30 s at most); prints
# the milliseconds since the caller's t0 (date +%s%N in $t0), or "failed".
moved() {
  local node now
  while :; do
    node=$(reached "$1" 0.1)
    now=$(date +%s%N)
    if [ -n "$node" ] && [ "$node" != "$2" ]; then
      echo $(( (now - t0) / 1000000 ))
      return 0
    fi
    [ $(( now - t0 )) -lt 30000000000 ] || { echo failed; return 0; }
    sleep 0.02
  done
}

# run_trials PRODUCT COMM NAMESPACE: TRIALS crashes and link losses of the announcing node.
run_trials() {
  local product=$1 comm=$2 ns=$3 vip first ms kubelet pid
  vip=$(vip)
  for i in $(seq 1 "$trials"); do
    first=$(settled "$comm" "$vip")
    kubelet=$(cat "$IRONLB_LAB_STATE/pids/kubelet-$first.pid")
    pid=$(IRONLB_LAB_NODES=$first lab_pids "$comm" | head -n1)
    [ -n "$pid" ] || { echo "bench/failover-vs-metallb.sh: no $comm process on $first" >&2; exit 1; }
    kill -STOP "$kubelet"
    t0=$(date +%s%N)
    kill -KILL "$pid"
    ms=$(moved "$vip" "$first")
    kill -CONT "$kubelet"
    kubectl -n "$ns" delete pod --field-selector "spec.nodeName=$first" -l "$(speaker_selector "$ns")" --wait=false >/dev/null
    echo "$product crash $ms" >>"$out"
    echo "$product trial $i: crash of the speaker on $first: $ms ms" >&2

    if [ "$product" = ironlb ]; then detection crash "$first" "$ns"; fi

    first=$(settled "$comm" "$vip")
    # Timed from the carrier loss, as the node sees it (the lab command takes a moment).
    lab link "$first" down >/dev/null &
    until ! ip -n "$first" -br link show eth0 | grep -q " UP "; do :; done
    t0=$(date +%s%N)
    wait
    ms=$(moved "$vip" "$first")
    lab link "$first" up >/dev/null
    echo "$product link $ms" >>"$out"
    echo "$product trial $i: link loss on $first: $ms ms" >&2
    if [ "$product" = ironlb ]; then detection link "$first" "$ns"; fi
  done
}

# detection FAULT GONE NAMESPACE: IronLB only: records "ironlb d-FAULT MS", the time from t0
# until the first other speaker logged that the gossip lost GONE (by the speakers' own
# timestamps; the failure detection inside the failover). MetalLB logs no such line.
detection() {
  local n pod ms=
  for _ in 1 2 3 4 5; do
    ms=$(for n in $IRONLB_LAB_NODES; do
      [ "$n" = "$2" ] && continue
      pod=$(kubectl -n "$3" get pods -l app.kubernetes.io/component=speaker \
        --field-selector "spec.nodeName=$n" -o name | head -n1)
      [ -n "$pod" ] || continue
      kubectl -n "$3" logs "$pod" --since=2m | sed 's/\x1b\[[0-9;]*m//g' |
        grep 'gossip membership changed' | grep "left=\[[^]]*\"$2\"" | awk '{ print $1 }'
    done | while read -r ts; do
      t=$(date -d "$ts" +%s%N)
      if [ "$t" -ge "$t0" ]; then echo $(( (t - t0) / 1000000 )); fi
    done | sort -n | head -n1) || true
    [ -n "$ms" ] && break
    sleep 1
  done
  echo "ironlb d-$1 ${ms:-failed}" >>"$out"
}

# speaker_selector NAMESPACE: the label selector of the speaker pods there.
speaker_selector() {
  if [ "$1" = metallb-system ]; then echo component=speaker; else echo app.kubernetes.io/component=speaker; fi
}

for _ in $(seq 120); do [ -n "$(vip)" ] && break; sleep 1; done
run_trials ironlb ironlb-speaker "$IRONLB_LAB_NAMESPACE"

ironlb_remove
products=(ironlb)
for v in "${variants[@]}"; do
  metallb_use "$v"
  metallb_load
  metallb_install "$config"
  for _ in $(seq 120); do [ -n "$(vip)" ] && break; sleep 1; done
  run_trials "$(metallb_label)" speaker metallb-system
  products+=("$(metallb_label)")
  metallb_remove
done

echo
printf '%-22s %-7s %3s %6s %8s %8s %8s %8s\n' product fault n failed p50_ms p90_ms p99_ms max_ms
for product in "${products[@]}"; do
  faults="crash link"
  [ "$product" = ironlb ] && faults="$faults d-crash d-link"
  for fault in $faults; do
    failed=$(awk -v p="$product" -v f="$fault" '$1 == p && $2 == f && $3 == "failed"' "$out" | wc -l)
    awk -v p="$product" -v f="$fault" '$1 == p && $2 == f && $3 != "failed" { print $3 }' "$out" | sort -n |
      awk -v p="$product" -v f="$fault" -v x="$failed" '
      { v[NR] = $1 }
      END { if (NR == 0) { printf "%-22s %-7s %3d %6d %8s %8s %8s %8s\n", p, f, 0, x, "-", "-", "-", "-"; exit }
            p50 = v[int((NR + 1) / 2)]; p90 = v[int(NR * 0.9 + 0.999)]; p99 = v[int(NR * 0.99 + 0.999)]
            printf "%-22s %-7s %3d %6d %8.0f %8.0f %8.0f %8.0f\n", p, f, NR, x, p50, p90, p99, v[NR] }'
  done
done

# p50 PRODUCT FAULT: the median of its times (empty without any).
p50() {
  awk -v p="$1" -v f="$2" '$1 == p && $2 == f && $3 != "failed" { print $3 }' "$out" | sort -n |
    awk '{ v[NR] = $1 } END { if (NR) print v[int((NR + 1) / 2)] }'
}
echo
for product in "${products[@]:1}"; do
  for fault in crash link; do
    a=$(p50 ironlb "$fault")
    b=$(p50 "$product" "$fault")
    if [ -n "$a" ] && [ -n "$b" ]; then
      awk -v f="$fault" -v a="$a" -v b="$b" -v m="$product" \
        'BEGIN { printf "failover after a %s, p50: ironlb %d ms, %s %d ms, ratio ironlb/metallb = %.3f\n", f, a, m, b, a / b }'
    fi
  done
done
