# The lab's LAN: network namespaces on one bridge, documentation addresses only.
#
#   ilb-lan:  bridge br0 ── ilb-router   eth0 192.0.2.1     2001:db8:1::1   (BIRD | GoBGP | FRR)
#                       │                eth1 198.51.100.1/26, 2001:db8:3::1 ── ilb-remote .10 / ::10
#                       ├─ ilb-cp        eth0 192.0.2.2     2001:db8:1::2   (etcd, API server, ...)
#                       ├─ ilb-client    eth0 192.0.2.5     2001:db8:1::5
#                       └─ ilb-nodeN     eth0 192.0.2.1N    2001:db8:1::1N  (kubelet, containerd,
#                                        cni0 198.51.100.128+16(N-1)/28,     kube-proxy, pods)
#                                             2001:db8:10:N::/64
# Service ClusterIPs: 198.51.100.64/26 and 2001:db8:96::/112. Pods are routed between nodes (and
# from the control-plane host) by static routes, as a flat routed pod network.

nsx() { local ns=$1; shift; ip netns exec "$ns" "$@"; }
new_ns() { # new_ns NAME: a namespace with lo up, no DAD delays, strict ARP
  ip netns add "$1"
  nsx "$1" sysctl -qw net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0 \
    net.ipv4.conf.all.arp_ignore=1 net.ipv4.conf.all.arp_announce=2 net.ipv4.ping_group_range="0 2147483647"
  ip -n "$1" link set lo up
}
# lan_port NS PORTNAME: veth from br0 in $NS_LAN to eth0 in NS.
lan_port() {
  ip -n "$NS_LAN" link add "$2" type veth peer name eth0 netns "$1"
  ip -n "$NS_LAN" link set "$2" master br0 up
  nsx "$1" sysctl -qw net.ipv6.conf.eth0.accept_dad=0
  ip -n "$1" link set eth0 up
}
addrs() { # addrs NS IF V4/LEN V6/LEN
  ip -n "$1" addr add "$3" dev "$2"
  ip -n "$1" addr add "$4" dev "$2" nodad
}
default_via() { # default_via NS V4 V6
  ip -n "$1" route add default via "$2"
  ip -n "$1" -6 route add default via "$3"
}
node_v4() { echo "192.0.2.$((10 + $1))"; }
node_v6() { echo "2001:db8:1::$((10 + $1))"; }
# A node's pod ranges: a /28 of 198.51.100.128/25 (so at most 8 nodes) and a /64.
pod_v4() { echo "198.51.100.$((128 + 16 * ($1 - 1)))/28"; }
pod_v6() { echo "2001:db8:10:$1::/64"; }
CP_V4=192.0.2.2 CP_V6=2001:db8:1::2
POD_CIDRS=198.51.100.128/25,2001:db8:10::/56
SERVICE_CIDRS=198.51.100.64/26,2001:db8:96::/112
KUBERNETES_SVC_V4=198.51.100.65 KUBERNETES_SVC_V6=2001:db8:96::1

# pod_routes NS [SKIP]: routes in NS to every node's pod ranges but node SKIP's.
pod_routes() {
  local j
  for j in $(seq 1 "$NODES_N"); do
    [ "$j" = "${2:-}" ] && continue
    ip -n "$1" route add "$(pod_v4 "$j")" via "$(node_v4 "$j")"
    ip -n "$1" -6 route add "$(pod_v6 "$j")" via "$(node_v6 "$j")"
  done
}

make_network() {
  local i ns
  new_ns "$NS_LAN"
  nsx "$NS_LAN" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
  ip -n "$NS_LAN" link add br0 type bridge stp_state 0 forward_delay 0
  ip -n "$NS_LAN" link set br0 up

  new_ns "$NS_ROUTER"
  nsx "$NS_ROUTER" sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1 \
    net.ipv4.fib_multipath_hash_policy=1 net.ipv6.fib_multipath_hash_policy=1
  lan_port "$NS_ROUTER" router
  addrs "$NS_ROUTER" eth0 192.0.2.1/24 2001:db8:1::1/64

  new_ns "$NS_REMOTE"
  ip -n "$NS_ROUTER" link add eth1 type veth peer name eth0 netns "$NS_REMOTE"
  nsx "$NS_REMOTE" sysctl -qw net.ipv6.conf.eth0.accept_dad=0
  ip -n "$NS_ROUTER" link set eth1 up
  ip -n "$NS_REMOTE" link set eth0 up
  addrs "$NS_ROUTER" eth1 198.51.100.1/26 2001:db8:3::1/64
  addrs "$NS_REMOTE" eth0 198.51.100.10/26 2001:db8:3::10/64
  default_via "$NS_REMOTE" 198.51.100.1 2001:db8:3::1

  new_ns "$NS_CP"
  lan_port "$NS_CP" cp
  addrs "$NS_CP" eth0 "$CP_V4/24" "$CP_V6/64"
  default_via "$NS_CP" 192.0.2.1 2001:db8:1::1
  pod_routes "$NS_CP"

  new_ns "$NS_CLIENT"
  lan_port "$NS_CLIENT" client
  addrs "$NS_CLIENT" eth0 192.0.2.5/24 2001:db8:1::5/64
  default_via "$NS_CLIENT" 192.0.2.1 2001:db8:1::1

  for i in $(seq 1 "$NODES_N"); do
    ns=${P}node$i
    new_ns "$ns"
    nsx "$ns" sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1
    lan_port "$ns" "node$i"
    addrs "$ns" eth0 "$(node_v4 "$i")/24" "$(node_v6 "$i")/64"
    default_via "$ns" 192.0.2.1 2001:db8:1::1
    pod_routes "$ns" "$i"
  done
}
