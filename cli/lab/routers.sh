# The lab's BGP router (BIRD 2, GoBGP or FRR): it accepts eBGP from every node, with passive BFD
# towards them (BIRD, FRR). Its configs are rendered by the ironlb binary from the typed topology (crate ironlb-lab, Topology::router_*_conf)
# and handed over in IRONLB_LAB_{BIRD,GOBGP,FRR}_CONF (ROUTER_CONF_* once lab.sh has read them).
router_conf() { # router_conf bird|gobgp|frr: the config the binary rendered, byte for byte
  local c
  case $1 in
    bird) c=$ROUTER_CONF_BIRD ;;
    gobgp) c=$ROUTER_CONF_GOBGP ;;
    frr) c=$ROUTER_CONF_FRR ;;
  esac
  [ -n "$c" ] || die "no $1 config given (run the lab through the ironlb binary)"
  printf '%s' "$c"
}

start_router() {
  case $ROUTER_KIND in
    bird)
      ROUTER_CTL=$STATE/bird.ctl
      router_conf bird >"$STATE/bird.conf"
      bird -p -c "$STATE/bird.conf" 2>"$STATE/logs/bird-parse.log" ||
        die "BIRD rejected its config: $(tail -n1 "$STATE/logs/bird-parse.log")"
      spawn bird "$NS_ROUTER" bird -f -c "$STATE/bird.conf" -s "$ROUTER_CTL" -P "$STATE/bird.pid"
      wait_for 10 birdc -s "$ROUTER_CTL" show status || die "BIRD did not start: see $STATE/logs/bird.log"
      ;;
    gobgp)
      ROUTER_CTL=127.0.0.1:50051
      router_conf gobgp >"$STATE/gobgpd.toml"
      spawn gobgpd "$NS_ROUTER" gobgpd -f "$STATE/gobgpd.toml" -t toml --api-hosts "$ROUTER_CTL" --pprof-disable
      wait_for 10 ip netns exec "$NS_ROUTER" gobgp -u 127.0.0.1 -p 50051 global ||
        die "gobgpd did not start: see $STATE/logs/gobgpd.log"
      ;;
    frr)
      ROUTER_CTL=$STATE/frr
      mkdir -p "$ROUTER_CTL"; chown frr:frr "$ROUTER_CTL" 2>/dev/null || true
      router_conf frr >"$STATE/frr.conf"; chmod 644 "$STATE/frr.conf"
      spawn zebra "$NS_ROUTER" /usr/lib/frr/zebra -i "$ROUTER_CTL/zebra.pid" --vty_socket "$ROUTER_CTL" \
        -z "$ROUTER_CTL/zserv.api" -A 127.0.0.1 -f "$STATE/frr.conf"
      wait_for 10 test -S "$ROUTER_CTL/zserv.api" || die "FRR zebra did not start: see $STATE/logs/zebra.log"
      # bfdd runs the BFD sessions bgpd asks zebra for (the config's passive profile "nodes").
      spawn bfdd "$NS_ROUTER" /usr/lib/frr/bfdd -i "$ROUTER_CTL/bfdd.pid" --vty_socket "$ROUTER_CTL" \
        -z "$ROUTER_CTL/zserv.api" --bfdctl "$ROUTER_CTL/bfdd.sock" -A 127.0.0.1 -f "$STATE/frr.conf"
      wait_for 10 test -S "$ROUTER_CTL/bfdd.vty" || die "FRR bfdd did not start: see $STATE/logs/bfdd.log"
      spawn bgpd "$NS_ROUTER" /usr/lib/frr/bgpd -i "$ROUTER_CTL/bgpd.pid" --vty_socket "$ROUTER_CTL" \
        -z "$ROUTER_CTL/zserv.api" -A 127.0.0.1 -f "$STATE/frr.conf"
      wait_for 10 test -S "$ROUTER_CTL/bgpd.vty" || die "FRR bgpd did not start: see $STATE/logs/bgpd.log"
      ;;
    none) ROUTER_CTL= ;;
  esac
}

