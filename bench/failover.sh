#!/usr/bin/env bash
# Layer-2 failover times in the lab, for one or two speaker binaries compared in one run.
#
#   sudo bench/failover.sh TRIALS SPEAKER_A [SPEAKER_B]
#
# Brings up a private lab (namespaces ab-*, state /run/ironlb-ab; taken down at the end, also
# on failure). Each trial runs, for each binary in turn (A, B, A, B, ...): every speaker
# restarted on that binary, then the l2 tests that stop the announcing speaker and pull the
# announcing node's cable, which print the time from the fault until the client's traffic
# reaches another node. Prints p50 / p90 / max per binary and fault, and the ratio B/A.
# Needs `cargo build --workspace` first (the lab, controller and tests come from target/debug).
set -euo pipefail
export PATH="$PATH:/usr/local/go/bin:${HOME:-/root}/.cargo/bin"
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "bench/failover.sh: needs root (network namespaces)" >&2; exit 1; }
trials=${1:?usage: bench/failover.sh TRIALS SPEAKER_A [SPEAKER_B]}
shift
[ $# -ge 1 ] || { echo "usage: bench/failover.sh TRIALS SPEAKER_A [SPEAKER_B]" >&2; exit 2; }
for b in "$@"; do [ -x "$b" ] || { echo "bench/failover.sh: $b is not an executable" >&2; exit 2; }; done

export IRONLB_LAB_PREFIX=ab- IRONLB_LAB_STATE=/run/ironlb-ab
bins=$(mktemp -d /tmp/ironlb-failover.XXXXXX)
out=$bins/times
trap 'target/debug/ironlb lab down >/dev/null 2>&1 || true; rm -rf "$bins"' EXIT
cp target/debug/ironlb-controller "$bins/"
cp "$1" "$bins/ironlb-speaker"
# Every lab command, also those the tests run (restarting a stopped speaker), uses $bins.
export IRONLB_BIN_DIR=$bins
eval "$(target/debug/ironlb lab up)"
cargo test -q -p ironlb-tests --test l2 --no-run 2>/dev/null

# to_ms DURATION: Rust's Debug of a Duration (e.g. 565.2ms, 1.02s, 812µs) in milliseconds.
to_ms() { awk -v d="$1" 'BEGIN {
  if (d ~ /ms$/) { sub(/ms$/, "", d); print d + 0 }
  else if (d ~ /µs$/) { sub(/µs$/, "", d); print d / 1000 }
  else if (d ~ /ns$/) { sub(/ns$/, "", d); print d / 1000000 }
  else { sub(/s$/, "", d); print d * 1000 } }'; }

for i in $(seq 1 "$trials"); do
  for idx in $(seq 1 $#); do
    bin=${!idx}
    # All stopped before the copy: a running executable cannot be overwritten.
    for n in $IRONLB_LAB_NODES; do target/debug/ironlb lab stop speaker "$n" >/dev/null; done
    cp "$bin" "$bins/ironlb-speaker"
    for n in $IRONLB_LAB_NODES; do target/debug/ironlb lab start speaker "$n" >/dev/null; done
    sleep 3 # gossip converges, the first election runs
    log=$(cargo test -q -p ironlb-tests --test l2 -- --nocapture --test-threads=1 \
      killing_the_announcing_speaker pulling_the_announcing_nodes_cable 2>&1 || true)
    stop=$(sed -n 's/.*failover .*: client traffic reaches the new node \([^ ]*\) after the speaker died$/\1/p' <<<"$log")
    link=$(sed -n 's/.*link loss on .*: client traffic reaches [^ ]* \([^ ]*\) after carrier loss$/\1/p' <<<"$log")
    [ -n "$stop" ] && echo "$idx stop $(to_ms "$stop")" >>"$out"
    [ -n "$link" ] && echo "$idx link $(to_ms "$link")" >>"$out"
    echo "trial $i binary $idx: speaker stop ${stop:-failed}, link loss ${link:-failed}" >&2
  done
done

echo
printf '%-8s %-6s %3s %9s %9s %9s\n' binary fault n p50_ms p90_ms max_ms
for idx in $(seq 1 $#); do
  for fault in stop link; do
    awk -v b="$idx" -v f="$fault" '$1 == b && $2 == f { print $3 }' "$out" | sort -n | awk -v b="$idx" -v f="$fault" '
      { v[NR] = $1 }
      END { if (NR == 0) { printf "%-8s %-6s %3d %9s %9s %9s\n", b, f, 0, "-", "-", "-"; exit }
            p50 = v[int((NR + 1) / 2)]; p90 = v[int(NR * 0.9 + 0.999)]
            printf "%-8s %-6s %3d %9.0f %9.0f %9.0f\n", b, f, NR, p50, p90, v[NR] }'
  done
done
