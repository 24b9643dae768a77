#!/usr/bin/env bash
# False failovers under load and loss, on the lab's real cluster, for one or two IronLB images.
#
#   bench/false-failover.sh MINUTES IMAGE_A [IMAGE_B]      (as root)
#
# IMAGE_*: OCI layouts made by `deploy/image/build.sh OUT` (bench/images.sh). A private lab
# (namespaces ff-*, state /run/ironlb-ff; taken down at the end, also on failure) with three
# nodes, gossip on, and 30 layer-2 Services spread over the nodes by the election. For each
# condition, for each image in turn: the speakers rolled to the image, 20 s to settle, then
# the condition held for MINUTES while the VIPs' announcing nodes are read every second
# (idle, cpu, loss1, loss5: bench/faults.sh; IRONLB_BENCH_CONDITIONS="cpu loss5" runs only
# those). The speakers' logs of each window and every move (time, VIP, from, to) are kept in
# IRONLB_BENCH_LOGS (default: a directory under /tmp, printed at the end). The speakers' CPU is
# utime + stime of each speaker process over the window, averaged over the three, in % of one
# core.
# Prints per image and condition: speakers declared down by a live peer (the speakers' "gossip
# membership changed" lines with someone left), VIP moves (a VIP announced by another node
# than one second before), and the speakers' CPU. No speaker dies, so every down and every
# move is false. Needs `cargo build --workspace` first.
set -euo pipefail
export LC_ALL=C
export PATH="$PATH:/usr/local/go/bin:${HOME:-/root}/.cargo/bin"
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "bench/false-failover.sh: needs root (network namespaces)" >&2; exit 1; }
minutes=${1:?usage: bench/false-failover.sh MINUTES IMAGE_A [IMAGE_B]}
shift
[ $# -ge 1 ] || { echo "usage: bench/false-failover.sh MINUTES IMAGE_A [IMAGE_B]" >&2; exit 2; }
. bench/images.sh
. bench/services.sh
. bench/processes.sh
. bench/faults.sh
check_images "$@"

export IRONLB_LAB_PREFIX=ff- IRONLB_LAB_STATE=/run/ironlb-ff
work=$(mktemp -d /tmp/ironlb-false-failover.XXXXXX)
logs=${IRONLB_BENCH_LOGS:-$(mktemp -d /tmp/ironlb-false-failover-logs.XXXXXX)}
mkdir -p "$logs"
trap 'clear_faults; target/debug/ironlb lab down >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
eval "$(IRONLB_IMAGE_LAYOUT=$(image_layout "$1") target/debug/ironlb lab up --router none)"
load_images ff "$@"
images=("$@")
kubectl() { "$IRONLB_LAB_KUBECTL" "$@"; }
first_node=${IRONLB_LAB_NODES%% *}
apply_services 30 "$first_node" "$work"

# owners: "VIP node" lines, sorted, from every NodeAnnouncement.
owners() {
  kubectl get nodeannouncements -o json |
    python3 -c 'import json, sys
for o in json.load(sys.stdin)["items"]:
    for a in (o.get("status") or {}).get("announcements") or []:
        print(a.get("ip"), o["metadata"]["name"])' | sort
}

# speaker_ticks: the CPU ticks (utime + stime) of every speaker process, summed.
speaker_ticks() { cpu_ticks $(lab_pids ironlb-speaker); }
nodes=$(wc -w <<<"$IRONLB_LAB_NODES")
hz=$(getconf CLK_TCK)

results=$work/results
for condition in ${IRONLB_BENCH_CONDITIONS:-idle cpu loss1 loss5}; do
  for idx in $(seq 1 $#); do
    roll_speaker "ff-$idx" "${images[$((idx - 1))]}"
    sleep 20
    since=$(date -u +%Y-%m-%dT%H:%M:%SZ)
    apply_fault "$condition"
    moves=0
    prev=$(owners)
    ticks=$(speaker_ticks)
    began=$SECONDS
    end=$((SECONDS + minutes * 60))
    while [ $SECONDS -lt $end ]; do
      sleep 1
      cur=$(owners) || continue
      # A VIP whose node changed; a VIP missing for a moment (an announcement being
      # rewritten) is not a move.
      moved=$(join <(echo "$prev") <(echo "$cur") | awk '$2 != $3')
      if [ -n "$moved" ]; then
        moves=$((moves + $(wc -l <<<"$moved")))
        sed "s/^/$(date -u +%T.%N) /" <<<"$moved" >>"$logs/moves-$idx-$condition"
      fi
      prev=$cur
    done
    cpu=$(awk -v t=$(( $(speaker_ticks) - ticks )) -v hz="$hz" -v s=$((SECONDS - began)) -v n="$nodes" \
      'BEGIN { printf "%.2f", 100 * t / hz / s / n }')
    clear_faults
    downs=0
    for pod in $(kubectl -n "$IRONLB_LAB_NAMESPACE" get pods -l app.kubernetes.io/component=speaker -o name); do
      # The speaker's log may be coloured: the escapes go before the match.
      kubectl -n "$IRONLB_LAB_NAMESPACE" logs "$pod" --since-time="$since" | sed 's/\x1b\[[0-9;]*m//g' \
        >"$logs/$idx-$condition-${pod#pod/}.log"
      c=$(grep 'gossip membership changed' "$logs/$idx-$condition-${pod#pod/}.log" | grep -c 'left=\["' || true)
      downs=$((downs + c))
    done
    echo "$idx $condition $downs $moves $cpu" >>"$results"
    echo "image $idx, $condition for $minutes min: $downs speakers declared down, $moves VIP moves, speaker CPU $cpu %" >&2
  done
done

echo
echo "speaker logs and moves: $logs"
printf '%-16s %-10s %8s %14s %10s %16s\n' image condition minutes declared_down vip_moves speaker_cpu_pct
while read -r idx condition downs moves cpu; do
  printf '%-16s %-10s %8s %14s %10s %16s\n' "$(image_layout "${images[$((idx - 1))]}")" "$condition" "$minutes" "$downs" "$moves" "$cpu"
done <"$results"
