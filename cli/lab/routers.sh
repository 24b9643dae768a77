# The lab's BGP router (BIRD 2, GoBGP or FRR): it accepts eBGP from every node.
bird_conf() {
  cat <<EOF
# IronLB lab router: accepts eBGP from every node (AS $NODE_ASN) and installs learned routes
# into the kernel with ECMP.
router id 192.0.2.1;
log "$STATE/logs/bird.log" all;
protocol device { scan time 10; }
protocol kernel kernel4 { ipv4 { import none; export where source = RTS_BGP; }; merge paths on; }
protocol kernel kernel6 { ipv6 { import none; export where source = RTS_BGP; }; merge paths on; }
template bgp lab_node {
  local as $ROUTER_ASN;
  passive on;
  ipv4 { import all; export none; extended next hop on; };
  ipv6 { import all; export none; };
}
protocol bgp nodes_v4 from lab_node { neighbor range 192.0.2.0/24 as $NODE_ASN; dynamic name "node"; }
protocol bgp nodes_v6 from lab_node { neighbor range 2001:db8:1::/64 as $NODE_ASN; dynamic name "node6_"; }
EOF
}

gobgp_conf() {
  cat <<EOF
# IronLB lab router (GoBGP): accepts eBGP from every node. GoBGP keeps routes in its RIB only.
[global.config]
  as = $ROUTER_ASN
  router-id = "192.0.2.1"
  port = 179
[[peer-groups]]
  [peer-groups.config]
    peer-group-name = "nodes"
    peer-as = $NODE_ASN
  [[peer-groups.afi-safis]]
    [peer-groups.afi-safis.config]
      afi-safi-name = "ipv4-unicast"
  [[peer-groups.afi-safis]]
    [peer-groups.afi-safis.config]
      afi-safi-name = "ipv6-unicast"
[[dynamic-neighbors]]
  [dynamic-neighbors.config]
    prefix = "192.0.2.0/24"
    peer-group = "nodes"
[[dynamic-neighbors]]
  [dynamic-neighbors.config]
    prefix = "2001:db8:1::/64"
    peer-group = "nodes"
EOF
}

frr_conf() {
  cat <<EOF
frr defaults traditional
hostname ilb-router
log file $STATE/logs/frr.log
!
router bgp $ROUTER_ASN
 bgp router-id 192.0.2.1
 no bgp ebgp-requires-policy
 no bgp default ipv4-unicast
 bgp bestpath as-path multipath-relax
 neighbor NODES peer-group
 neighbor NODES remote-as $NODE_ASN
 bgp listen range 192.0.2.0/24 peer-group NODES
 bgp listen range 2001:db8:1::/64 peer-group NODES
 address-family ipv4 unicast
  neighbor NODES activate
  neighbor NODES route-map NOTHING out
  maximum-paths 16
 exit-address-family
 address-family ipv6 unicast
  neighbor NODES activate
  neighbor NODES route-map NOTHING out
  maximum-paths 16
 exit-address-family
!
route-map NOTHING deny 10
!
EOF
}

start_router() {
  case $ROUTER_KIND in
    bird)
      ROUTER_CTL=$STATE/bird.ctl
      bird_conf >"$STATE/bird.conf"
      bird -p -c "$STATE/bird.conf" 2>"$STATE/logs/bird-parse.log" ||
        die "BIRD rejected its config: $(tail -n1 "$STATE/logs/bird-parse.log")"
      spawn bird "$NS_ROUTER" bird -f -c "$STATE/bird.conf" -s "$ROUTER_CTL" -P "$STATE/bird.pid"
      wait_for 10 birdc -s "$ROUTER_CTL" show status || die "BIRD did not start: see $STATE/logs/bird.log"
      ;;
    gobgp)
      ROUTER_CTL=127.0.0.1:50051
      gobgp_conf >"$STATE/gobgpd.toml"
      spawn gobgpd "$NS_ROUTER" gobgpd -f "$STATE/gobgpd.toml" -t toml --api-hosts "$ROUTER_CTL" --pprof-disable
      wait_for 10 ip netns exec "$NS_ROUTER" gobgp -u 127.0.0.1 -p 50051 global ||
        die "gobgpd did not start: see $STATE/logs/gobgpd.log"
      ;;
    frr)
      ROUTER_CTL=$STATE/frr
      mkdir -p "$ROUTER_CTL"; chown frr:frr "$ROUTER_CTL" 2>/dev/null || true
      frr_conf >"$STATE/frr.conf"; chmod 644 "$STATE/frr.conf"
      spawn zebra "$NS_ROUTER" /usr/lib/frr/zebra -i "$ROUTER_CTL/zebra.pid" --vty_socket "$ROUTER_CTL" \
        -z "$ROUTER_CTL/zserv.api" -A 127.0.0.1 -f "$STATE/frr.conf"
      wait_for 10 test -S "$ROUTER_CTL/zserv.api" || die "FRR zebra did not start: see $STATE/logs/zebra.log"
      spawn bgpd "$NS_ROUTER" /usr/lib/frr/bgpd -i "$ROUTER_CTL/bgpd.pid" --vty_socket "$ROUTER_CTL" \
        -z "$ROUTER_CTL/zserv.api" -A 127.0.0.1 -f "$STATE/frr.conf"
      wait_for 10 test -S "$ROUTER_CTL/bgpd.vty" || die "FRR bgpd did not start: see $STATE/logs/bgpd.log"
      ;;
    none) ROUTER_CTL= ;;
  esac
}

