# Sourced by the bench scripts (bash): processes of the lab's nodes and what they cost.

# lab_pids COMM: the processes named COMM in the network namespaces of the lab's nodes
# ($IRONLB_LAB_NODES), one per line.
lab_pids() {
  local n pid
  for n in $IRONLB_LAB_NODES; do
    for pid in $(ip netns pids "$n"); do
      [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$1" ] && echo "$pid"
    done
  done
  return 0
}

# cpu_ticks PID...: their CPU time so far (utime + stime), summed, in ticks of 1/CLK_TCK s.
cpu_ticks() { local t=0 p; for p in "$@"; do t=$((t + $(awk '{print $14 + $15}' "/proc/$p/stat"))); done; echo "$t"; }

# rss_kib PID...: their VmRSS, summed, in KiB.
rss_kib() { local t=0 p; for p in "$@"; do t=$((t + $(awk '/^VmRSS/ {print $2}' "/proc/$p/status"))); done; echo "$t"; }

# wakeups PID...: their voluntary context switches so far (each one a wake-up), every thread,
# summed.
wakeups() {
  local t=0 p f
  for p in "$@"; do
    for f in /proc/"$p"/task/*/status; do t=$((t + $(awk '/^voluntary_ctxt/ {print $2}' "$f"))); done
  done
  echo "$t"
}

# lab_container_pids COMM: the containers' first processes named COMM (its first 15 characters,
# as the kernel keeps it) on the lab's nodes, pod network or host network alike (asked of each
# node's containerd), one per line.
lab_container_pids() {
  local n pid
  for n in $IRONLB_LAB_NODES; do
    for pid in $(ctr -a "$IRONLB_LAB_STATE/nodes/$n/containerd.sock" -n k8s.io tasks ls 2>/dev/null |
      awk '$3 == "RUNNING" { print $2 }'); do
      [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "${1:0:15}" ] && echo "$pid"
    done
  done
  return 0
}
