#!/usr/bin/env bash
# Memory and idle CPU of a speaker announcing COUNT layer-2 IPs (default 1000), on the lab's
# real cluster, for one or more IronLB images compared in one run (default: this checkout's
# image, target/oci/ironlb, from deploy/image/build.sh).
#
#   bench/speaker-rss.sh [COUNT [IMAGE...]]      (as root; IMAGE: an OCI layout[@READY_PATH],
#                                                  see bench/images.sh; the first serves /readyz)
#
# Brings up a private one-node lab (namespaces rss-*, state /run/ironlb-rss; taken down at the
# end, also on failure), gives it a layer-2 pool inside the lab's LAN (2001:db8:1::1000-1fff)
# and COUNT IPv6 LoadBalancer Services, each with a ready endpoint on the node. For each image
# in turn: the speaker DaemonSet rolled to it, waits until it announces all
# COUNT IPs (its ironlb_announced_ips gauge), then reads its VmRSS (anonymous and file-backed
# parts) and its
# CPU time over 30 idle seconds. Prints the RSS ratio of each image to the first. Needs
# `cargo build --workspace` first (lab CLI).
set -euo pipefail
export PATH="$PATH:/usr/local/go/bin:${HOME:-/root}/.cargo/bin"
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "bench/speaker-rss.sh: needs root (network namespaces)" >&2; exit 1; }
count=${1:-1000}
[[ $count =~ ^[0-9]+$ ]] && [ "$count" -ge 1 ] && [ "$count" -le 4096 ] ||
  { echo "bench/speaker-rss.sh: COUNT must be 1..4096" >&2; exit 2; }
shift || true
[ $# -gt 0 ] || set -- target/oci/ironlb
. bench/images.sh
. bench/services.sh
check_images "$@"

export IRONLB_LAB_PREFIX=rss- IRONLB_LAB_STATE=/run/ironlb-rss
bins=$(mktemp -d /tmp/ironlb-rss.XXXXXX)
trap 'target/debug/ironlb lab down >/dev/null 2>&1 || true; rm -rf "$bins"' EXIT


first_rss=
eval "$(IRONLB_IMAGE_LAYOUT=$(image_layout "$1") target/debug/ironlb lab up --nodes 1 --router none)"
node=$IRONLB_LAB_NODES
k() { "$IRONLB_LAB_KUBECTL" "$@"; }
load_images rss "$@"
apply_services "$count" "$node" "$bins"

measure() { # measure INDEX LAYOUT: the speaker rolled to image INDEX; prints one result line
  roll_speaker "rss-$1" "$2"
  local pid p
  for p in $(ip netns pids "$node"); do
    [ "$(cat "/proc/$p/comm" 2>/dev/null)" = ironlb-speaker ] && pid=$p
  done
  [ -n "${pid:-}" ] || { echo "bench/speaker-rss.sh: no speaker process on $node" >&2; exit 1; }
  kb() { awk "/^$1:/ { print \$2 }" "/proc/$pid/status"; }
  local t0=$SECONDS
  # What this speaker announces (its own gauge; the NodeAnnouncement may still show the last one's).
  announced() {
    ip netns exec "$node" curl -s -m 2 http://127.0.0.1:7472/metrics |
      awk '/^ironlb_announced_ips\{.*protocol="layer2"/ { s += $2 } END { print s + 0 }'
  }
  until [ "$(announced)" -ge "$count" ]; do
    [ $((SECONDS - t0)) -lt 300 ] || { echo "bench/speaker-rss.sh: $node does not list $count IPs after 300 s" >&2; exit 1; }
    sleep 2
  done
  local took=$((SECONDS - t0))
  sleep 10 # let the burst of gratuitous ARP/NA and the status writes settle
  ticks() { awk '{ print $14 + $15 }' "/proc/$pid/stat"; }
  local before after; before=$(ticks); sleep 30; after=$(ticks)
  local rss anon file hwm; rss=$(kb VmRSS); anon=$(kb RssAnon); file=$(kb RssFile); hwm=$(kb VmHWM)
  [ -n "$first_rss" ] || first_rss=$rss
  printf '%s: %d IPs (listed %d s after the rollout): VmRSS %d kB (%.1f MiB: anon %d, file %d), peak %d kB, %.2fx the first; CPU over 30 s idle %d ticks of 1/%d s\n' \
    "$2" "$count" "$took" "$rss" "$(awk "BEGIN { print $rss / 1024 }")" "$anon" "$file" "$hwm" \
    "$(awk "BEGIN { print $rss / $first_rss }")" "$((after - before))" "$(getconf CLK_TCK)"
}

idx=0
for layout in "$@"; do idx=$((idx + 1)); measure "$idx" "$layout"; done
