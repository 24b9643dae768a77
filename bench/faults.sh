# Sourced by the false-failover bench scripts (bash): the conditions a detector must survive,
# held on the lab in the environment. Call clear_faults from the script's EXIT trap.

busy=()

# apply_fault CONDITION: starts one of
#   cpu      a busy loop per core in the first node's namespace (every node shares this
#            machine's cores, so all of them are starved, that node's speaker with them)
#   loss1    1 % of the IP packets each node receives on its LAN interface dropped (nftables
#            `numgen random`: this kernel has no netem), in every node: the gossip, the
#            heartbeats and the API's traffic; not ARP, which an inet table does not see
#   loss5    the same with 5 %
#   idle     nothing
apply_fault() {
  local n i per_mille
  case $1 in
    cpu)
      for i in $(seq "$(nproc)"); do
        ip netns exec "${IRONLB_LAB_NODES%% *}" sh -c 'while :; do :; done' &
        busy+=($!)
      done ;;
    loss1|loss5)
      per_mille=$(( ${1#loss} * 10 ))
      for n in $IRONLB_LAB_NODES; do
        ip netns exec "$n" nft -f - <<EOF
table inet ironlb_loss {
  chain in { type filter hook input priority -300; iifname "eth0" numgen random mod 1000 < $per_mille drop; }
}
EOF
      done ;;
    idle) ;;
    *) echo "$0: unknown condition $1 (cpu, loss1, loss5, idle)" >&2; return 2 ;;
  esac
}

# clear_faults: every condition apply_fault started, stopped.
clear_faults() {
  local n
  [ ${#busy[@]} -gt 0 ] && kill "${busy[@]}" 2>/dev/null || true
  busy=()
  for n in ${IRONLB_LAB_NODES:-}; do
    ip netns exec "$n" nft delete table inet ironlb_loss 2>/dev/null || true
  done
}
