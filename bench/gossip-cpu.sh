#!/usr/bin/env bash
# Speakers at rest by gossip setting: CPU and wake-ups per speaker on the real cluster.
#
#   bench/gossip-cpu.sh SECONDS [SETTING...]      (as root)
#
# A SETTING is a comma-separated list of speaker flags, or `default` for none, e.g.
#   bench/gossip-cpu.sh 60 default --gossip-heartbeat-interval-ms=0 \
#     --gossip-heartbeat-interval-ms=100,--gossip-silence-ms=300
# (default settings: `default` alone).
#
# A private lab (namespaces pc-*, state /run/ironlb-pc; taken down at the end, also on failure)
# with three nodes and gossip on, IronLB installed from target/oci/ironlb. For each setting the
# speaker DaemonSet's args get its flags added (nothing else changes), the
# rollout is awaited, 20 s to settle, then SECONDS measured: CPU per speaker (utime + stime, % of
# one core, the mean of the three) and wake-ups per speaker a second (voluntary context
# switches of all its threads).
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "bench/gossip-cpu.sh: needs root (network namespaces)" >&2; exit 1; }
secs=${1:?usage: bench/gossip-cpu.sh SECONDS [SETTING...]}
shift
settings=("$@")
[ $# -gt 0 ] || settings=(default)
. bench/processes.sh

export IRONLB_LAB_PREFIX=pc- IRONLB_LAB_STATE=/run/ironlb-pc
trap 'target/debug/ironlb lab down >/dev/null 2>&1 || true' EXIT
eval "$(target/debug/ironlb lab up --router none)"
k() { "$IRONLB_LAB_KUBECTL" "$@"; }

args=$(k -n "$IRONLB_LAB_NAMESPACE" get ds speaker -o jsonpath='{.spec.template.spec.containers[0].args}')
for setting in "${settings[@]}"; do
  with=$(python3 -c 'import json, sys; a = json.loads(sys.argv[1]); extra = [] if sys.argv[2] == "default" else sys.argv[2].split(","); print(json.dumps(a + extra))' "$args" "$setting")
  k -n "$IRONLB_LAB_NAMESPACE" patch ds speaker --type=json \
    -p "[{\"op\":\"replace\",\"path\":\"/spec/template/spec/containers/0/args\",\"value\":$with}]" >/dev/null
  k -n "$IRONLB_LAB_NAMESPACE" rollout status ds/speaker --timeout=180s >/dev/null
  sleep 20
  mapfile -t p < <(lab_pids ironlb-speaker)
  t0=$(cpu_ticks "${p[@]}"); w0=$(wakeups "${p[@]}"); s0=$SECONDS
  sleep "$secs"
  t1=$(cpu_ticks "${p[@]}"); w1=$(wakeups "${p[@]}")
  awk -v setting="$setting" -v t=$((t1 - t0)) -v w=$((w1 - w0)) -v s=$((SECONDS - s0)) -v n="${#p[@]}" -v hz="$(getconf CLK_TCK)" \
    'BEGIN { printf "%s: CPU %.3f %% per speaker, %.0f wake-ups/s per speaker\n", setting, 100 * t / hz / s / n, w / s / n }'
done
