#!/usr/bin/env bash
# A burst of Services, IronLB beside MetalLB: allocation latency, and what the controller and
# the speakers cost with that many Services, in the same lab with the same config document.
#
#   bench/burst-vs-metallb.sh [SERVICES] [IRONLB_IMAGE]      (as root)
#
# SERVICES: default 1000. IRONLB_IMAGE: an OCI layout (`deploy/image/build.sh OUT`; default
# target/oci/ironlb). A private lab (namespaces bv-*, state /run/ironlb-bv; taken down at the
# end, also on failure) with three nodes, installed from the IronLB image. Per product (IronLB,
# then MetalLB $METALLB_VERSION, default v0.12.1, built from its Go module and installed from its
# own manifests by bench/metallb.sh): SERVICES IPv6 layer-2 LoadBalancer Services, each with a
# ready endpoint of its own EndpointSlice (bench/services.sh: the lab's IPv4 Service range is too
# small, and the documentation ranges hold 768 IPv4 addresses), created by `kubectl apply` of
# Lists of 500 while `kubectl get -w` watches them. A Service's latency is from its first
# appearance in the watch to its IP appearing in it; the total is from the first apply to the
# last IP (bounded by kubectl creating objects one by one). Then, after 30 s to settle, 60 s at
# rest: the controller's and the speakers' CPU (utime + stime, % of one core) and RSS. The
# controller's figures are its Deployment's, summed over its replicas (IronLB ships two, a
# leader and a standby; MetalLB one); the speakers' are the mean of the three. Prints one line per measure with both figures and the ratio
# ironlb/metallb. Needs `cargo build --workspace` first.
set -euo pipefail
export LC_ALL=C
export PATH="$PATH:/usr/local/go/bin:${HOME:-/root}/.cargo/bin"
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "bench/burst-vs-metallb.sh: needs root (network namespaces)" >&2; exit 1; }
count=${1:-1000}
image=${2:-target/oci/ironlb}
[ "$count" -le 4096 ] || { echo "bench/burst-vs-metallb.sh: at most 4096 Services (the pool)" >&2; exit 2; }
. bench/images.sh
. bench/metallb.sh
. bench/processes.sh
. bench/services.sh
check_images "$image"
metallb_build

export IRONLB_LAB_PREFIX=bv- IRONLB_LAB_STATE=/run/ironlb-bv
work=$(mktemp -d /tmp/ironlb-bv.XXXXXX)
watcher=
cleanup() {
  [ -n "$watcher" ] && kill "$watcher" 2>/dev/null || true
  target/debug/ironlb lab down >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
eval "$(IRONLB_IMAGE_LAYOUT=$(image_layout "$image") target/debug/ironlb lab up --router none)"
kubectl() { "$IRONLB_LAB_KUBECTL" "$@"; }

config="address-pools:
- name: bench
  protocol: layer2
  addresses: [2001:db8:1::1000-2001:db8:1::1fff]
"
set_config "$config"
first_node=${IRONLB_LAB_NODES%% *}
write_services "$count" "$first_node" burst "$work/objects"
hz=$(getconf CLK_TCK)
results=$work/results

# allocated WATCH: how many Services have shown an IP in the watch's output so far.
allocated() { awk 'NF >= 3 { ip[$2] = 1 } END { print length(ip) }' "$1"; }

# latencies WATCH T0: "p50 p99 max total" in ms: per Service, first appearance to first IP; the
# total from T0 (epoch seconds) to the last first IP.
latencies() {
  awk -v t0="$2" '
    !($2 in seen) { seen[$2] = $1 }
    NF >= 3 && !($2 in got) { got[$2] = $1; if ($1 > last) last = $1 }
    END { for (s in got) print (got[s] - seen[s]) * 1000; print "total", (last - t0) * 1000 }' "$1" |
    sort -n | awk '$1 == "total" { total = $2; next } { v[++n] = $1 }
      END { printf "%.1f %.1f %.1f %.0f\n", v[int((n + 1) / 2)], v[int(n * 0.99 + 0.999)], v[n], total }'
}

# at_rest COMM sum|mean: "CPU_PCT RSS_MIB" of the processes named COMM over 60 s, summed over
# them or their mean.
at_rest() {
  local p t0 s0 n
  mapfile -t p < <(lab_container_pids "$1")
  [ ${#p[@]} -gt 0 ] || { echo "bench/burst-vs-metallb.sh: no $1 process" >&2; return 1; }
  t0=$(cpu_ticks "${p[@]}")
  s0=$SECONDS
  sleep 60
  n=1
  [ "$2" = mean ] && n=${#p[@]}
  awk -v t=$(( $(cpu_ticks "${p[@]}") - t0 )) -v hz="$hz" -v s=$((SECONDS - s0)) -v n="$n" \
    -v r="$(rss_kib "${p[@]}")" 'BEGIN { printf "%.3f %.1f\n", 100 * t / hz / s / n, r / n / 1024 }'
}

# burst PRODUCT CONTROLLER SPEAKER: the burst and the rest, as the header says; one result line.
burst() {
  local t0 c0 pids n cpu
  kubectl create namespace burst >/dev/null
  mapfile -t pids < <(lab_container_pids "$2")
  [ ${#pids[@]} -gt 0 ] || { echo "bench/burst-vs-metallb.sh: no $2 process" >&2; exit 1; }
  c0=$(cpu_ticks "${pids[@]}")
  kubectl -n burst get services -w \
    -o jsonpath='{.metadata.name} {.status.loadBalancer.ingress[0].ip}{"\n"}' 2>/dev/null |
    while IFS= read -r line; do echo "$EPOCHREALTIME $line"; done >"$work/watch-$1" &
  watcher=$!
  sleep 2
  t0=$EPOCHREALTIME
  for f in "$work"/objects.*.json; do kubectl apply -f "$f" >/dev/null; done
  for _ in $(seq 900); do
    n=$(allocated "$work/watch-$1")
    [ "$n" -ge "$count" ] && break
    sleep 1
  done
  [ "$n" -ge "$count" ] || { echo "bench/burst-vs-metallb.sh: $1: only $n of $count Services got an IP" >&2; exit 1; }
  cpu=$(awk -v t=$(( $(cpu_ticks "${pids[@]}") - c0 )) -v hz="$hz" 'BEGIN { printf "%.2f", t / hz }')
  kill "$watcher" 2>/dev/null || true
  watcher=
  echo "$1: $count Services allocated; settling 30 s, then 60 s at rest" >&2
  sleep 30
  echo "$1 $(latencies "$work/watch-$1" "$t0") $cpu $(at_rest "$2" sum) $(at_rest "$3" mean)" >>"$results"
}

burst ironlb ironlb-controller ironlb-speaker
kubectl delete namespace burst --wait=true --timeout=600s >/dev/null
ironlb_remove
metallb_load
metallb_install "$config"
burst metallb controller speaker

echo
read -r _ ip50 ip99 imax itotal icpu iccpu icrss iscpu isrss < <(grep '^ironlb ' "$results")
read -r _ mp50 mp99 mmax mtotal mcpu mccpu mcrss mscpu msrss < <(grep '^metallb ' "$results")
line() { awk -v w="$1" -v a="$2" -v b="$3" -v u="$4" \
  'BEGIN { printf "%-60s ironlb %10s %-4s metallb %10s %-4s ratio ironlb/metallb = %s\n", w, a, u, b, u,
           (b > 0 ? sprintf("%.3g", a / b) : "-") }'; }
line "$count Services: create to IP, p50" "$ip50" "$mp50" ms
line "$count Services: create to IP, p99" "$ip99" "$mp99" ms
line "$count Services: create to IP, max" "$imax" "$mmax" ms
line "$count Services: first apply to last IP" "$itotal" "$mtotal" ms
line "controller CPU during the burst (all replicas)" "$icpu" "$mcpu" s
line "controller CPU at rest, $count Services (all replicas)" "$iccpu" "$mccpu" %
line "controller RSS at rest, $count Services (all replicas)" "$icrss" "$mcrss" MiB
line "speaker CPU at rest (mean of 3)" "$iscpu" "$mscpu" %
line "speaker RSS at rest (mean of 3)" "$isrss" "$msrss" MiB
