#!/usr/bin/env bash
# Layer-2 failover times on the lab's real cluster, for one or two IronLB images compared in
# one run.
#
#   bench/failover.sh TRIALS IMAGE_A [IMAGE_B]      (as root)
#
# IMAGE_*: OCI layouts made by `deploy/image/build.sh OUT`, each optionally with `@PATH`, its
# speaker's readiness path (bench/images.sh). Brings up a private lab (namespaces ab-*, state
# /run/ironlb-ab; taken down at the end, also on failure) installed from IMAGE_A (so IMAGE_A
# must be a build that serves /readyz),
# and loads both into every node's containerd (tags ab-1, ab-2). Each trial, for each image in
# turn (A, B, A, B, ...): the speaker DaemonSet rolled to that image, then the l2 tests that
# stop the announcing speaker (its pod deleted: SIGTERM, it says goodbye), kill -9 it (a
# crash: the others must notice) and pull the announcing node's cable; each prints the time
# from the fault until the client's traffic reaches another node, and the crash and link tests
# also the time until a peer's gossip declared the node gone, by the speakers' log timestamps
# (d-crash, d-link: the failure detection inside the failover). Prints n, p50, p90, p99 and
# max per image and fault. Needs `cargo build --workspace` first.
set -euo pipefail
export PATH="$PATH:/usr/local/go/bin:${HOME:-/root}/.cargo/bin"
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "bench/failover.sh: needs root (network namespaces)" >&2; exit 1; }
trials=${1:?usage: bench/failover.sh TRIALS IMAGE_A [IMAGE_B]}
shift
[ $# -ge 1 ] || { echo "usage: bench/failover.sh TRIALS IMAGE_A [IMAGE_B]" >&2; exit 2; }
. bench/images.sh
check_images "$@"

export IRONLB_LAB_PREFIX=ab- IRONLB_LAB_STATE=/run/ironlb-ab
work=$(mktemp -d /tmp/ironlb-failover.XXXXXX)
out=$work/times
trap 'target/debug/ironlb lab down >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
eval "$(IRONLB_IMAGE_LAYOUT=$(image_layout "$1") target/debug/ironlb lab up)"
load_images ab "$@"
images=("$@")
cargo test -q -p ironlb-tests --test l2 --no-run 2>/dev/null

# to_ms DURATION: Rust's Debug of a Duration (e.g. 565.2ms, 1.02s, 812µs) in milliseconds.
to_ms() { awk -v d="$1" 'BEGIN {
  if (d ~ /ms$/) { sub(/ms$/, "", d); print d + 0 }
  else if (d ~ /µs$/) { sub(/µs$/, "", d); print d / 1000 }
  else if (d ~ /ns$/) { sub(/ns$/, "", d); print d / 1000000 }
  else { sub(/s$/, "", d); print d * 1000 } }'; }

for i in $(seq 1 "$trials"); do
  for idx in $(seq 1 $#); do
    roll_speaker "ab-$idx" "${images[$((idx - 1))]}"
    sleep 3 # gossip converges, the first election runs
    log=$(cargo test -q -p ironlb-tests --test l2 -- --nocapture --test-threads=1 \
      killing_the_announcing_speaker a_crashed_speaker pulling_the_announcing_nodes_cable 2>&1 || true)
    stop=$(sed -n 's/.*failover .*: client traffic reaches the new node \([^ ]*\) after the speaker died$/\1/p' <<<"$log")
    crash=$(sed -n 's/.*crash of the speaker on .*: client traffic reaches [^ ]* \([^ ]*\) after kill -9$/\1/p' <<<"$log")
    link=$(sed -n 's/.*link loss on .*: client traffic reaches [^ ]* \([^ ]*\) after carrier loss$/\1/p' <<<"$log")
    dcrash=$(sed -n 's/^detection of the crash on .*: .* declared it down \([^ ]*\) after the fault$/\1/p' <<<"$log")
    dlink=$(sed -n 's/^detection of the link loss on .*: .* declared it down \([^ ]*\) after the fault$/\1/p' <<<"$log")
    [ -n "$stop" ] && echo "$idx stop $(to_ms "$stop")" >>"$out"
    [ -n "$crash" ] && echo "$idx crash $(to_ms "$crash")" >>"$out"
    [ -n "$link" ] && echo "$idx link $(to_ms "$link")" >>"$out"
    [ -n "$dcrash" ] && echo "$idx d-crash $(to_ms "$dcrash")" >>"$out"
    [ -n "$dlink" ] && echo "$idx d-link $(to_ms "$dlink")" >>"$out"
    echo "trial $i image $idx: speaker stop ${stop:-failed}, crash ${crash:-failed} (detected ${dcrash:-?}), link loss ${link:-failed} (detected ${dlink:-?})" >&2
  done
done

echo
printf '%-6s %-6s %3s %8s %8s %8s %8s\n' image fault n p50_ms p90_ms p99_ms max_ms
for idx in $(seq 1 $#); do
  for fault in stop crash link d-crash d-link; do
    awk -v b="$idx" -v f="$fault" '$1 == b && $2 == f { print $3 }' "$out" | sort -n | awk -v b="$idx" -v f="$fault" '
      { v[NR] = $1 }
      END { if (NR == 0) { printf "%-6s %-6s %3d %8s %8s %8s %8s\n", b, f, 0, "-", "-", "-", "-"; exit }
            p50 = v[int((NR + 1) / 2)]; p90 = v[int(NR * 0.9 + 0.999)]; p99 = v[int(NR * 0.99 + 0.999)]
            printf "%-6s %-6s %3d %8.0f %8.0f %8.0f %8.0f\n", b, f, NR, p50, p90, p99, v[NR] }'
  done
done
