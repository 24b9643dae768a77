#!/usr/bin/env bash
# The IronLB lab: a real etcd + kube-apiserver and a simulated LAN of network namespaces.
# Embedded in the `ironlb` binary and run as `bash -c "$SCRIPT" ironlb-lab COMMAND ARGS...`.
#
#   root ns:  etcd, kube-apiserver (127.0.0.1), ironlb-controller, socat relay -> apiserver.sock
#   ilb-lan:  bridge br0 ── ilb-router   eth0 192.0.2.1     2001:db8:1::1   (BIRD | GoBGP | FRR)
#                       │                eth1 198.51.100.1  2001:db8:3::1 ── ilb-remote .10 / ::10
#                       ├─ ilb-client    eth0 192.0.2.5     2001:db8:1::5
#                       └─ ilb-nodeN     eth0 192.0.2.1N    2001:db8:1::1N  (speaker, kube-proxy sim)
#
# Env from the binary: IRONLB_LAB_BIN (dir of the component binaries), IRONLB_LAB_BUILD_SCRIPT,
# IRONLB_LAB_NAMESPACE_YAML, IRONLB_LAB_RBAC_YAML, IRONLB_LAB_CRDS_YAML. Optional: IRONLB_CACHE (/var/cache/ironlb).
# Invariants: nothing is added to the root namespace but processes bound to 127.0.0.1 and files
# under $STATE; every process the lab starts carries IRONLB_LAB_DAEMON=$STATE in its environment
# and every namespace is named ilb-*, so `down` finds all of it even without $STATE.
set -Eeuo pipefail

# A second lab can run beside the default one with other IRONLB_LAB_STATE and IRONLB_LAB_PREFIX.
STATE=${IRONLB_LAB_STATE:-/run/ironlb-lab}
P=${IRONLB_LAB_PREFIX:-ilb-} # namespace (and node name) prefix
[[ $STATE == /* && $P =~ ^[a-z][a-z0-9]{1,5}-$ ]] || { echo "ironlb lab: IRONLB_LAB_STATE must be absolute and IRONLB_LAB_PREFIX like 'ilb-'" >&2; exit 1; }
LOCK=/run/lock/ironlb-lab.$(echo "$STATE" | tr / _).lock
MARK="IRONLB_LAB_DAEMON=$STATE"  # in the environment of every process this lab starts
CACHE=${IRONLB_CACHE:-/var/cache/ironlb}
NS_LAN=${P}lan NS_CLIENT=${P}client NS_ROUTER=${P}router NS_REMOTE=${P}remote
LAB_NS=ironlb-system ROUTER_ASN=64500 NODE_ASN=64512
PY=/usr/bin/python3
# Inputs from the binary, kept out of the environment of the processes the lab starts.
BUILD_SCRIPT=${IRONLB_LAB_BUILD_SCRIPT:-} NAMESPACE_YAML=${IRONLB_LAB_NAMESPACE_YAML:-} RBAC_YAML=${IRONLB_LAB_RBAC_YAML:-}
unset IRONLB_LAB_BUILD_SCRIPT IRONLB_LAB_NAMESPACE_YAML IRONLB_LAB_RBAC_YAML
CRDS_YAML=${IRONLB_LAB_CRDS_YAML:-}; unset IRONLB_LAB_CRDS_YAML

log() { echo "lab: $*" >&2; }
# die MESSAGE: one clear line (what is wrong, what to do), then the caller's cleanup runs.
die() { echo "ironlb lab: $*" >&2; exit 1; }
need_root() { [ "$(id -u)" = 0 ] || die "needs root (network namespaces, BIRD, nftables): run it with sudo"; }

lab_namespaces() { ip netns list 2>/dev/null | awk '{print $1}' | grep "^${P}" || true; }
# Processes started by the lab in the root namespace, found by their environment marker.
marked_pids() {
  local f p
  for f in /proc/[0-9]*/environ; do
    p=${f#/proc/}; p=${p%/environ}
    [ "$p" = $$ ] && continue
    grep -qzxF "$MARK" "$f" 2>/dev/null && echo "$p"
  done
  return 0
}
lab_pids() { local ns; for ns in $(lab_namespaces); do ip netns pids "$ns" 2>/dev/null || true; done; marked_pids; }

# ---------------------------------------------------------------- teardown
do_down() {
  local pids i
  pids=$(lab_pids | sort -u)
  [ -n "$pids" ] && kill $pids 2>/dev/null || true
  # Nothing of the lab is worth keeping: a short grace, then SIGKILL.
  for i in $(seq 1 20); do
    pids=$(for p in $pids; do if [ -d "/proc/$p" ]; then echo "$p"; fi; done)
    [ -z "$pids" ] && break
    sleep 0.1
  done
  [ -n "$pids" ] && kill -9 $pids 2>/dev/null || true
  for ns in $(lab_namespaces); do ip netns del "$ns" 2>/dev/null || true; done
  rm -rf "$STATE"
  [ -z "$(lab_namespaces)" ] || die "could not delete namespaces $(lab_namespaces | tr '\n' ' '): see 'ip netns pids NAME'"
}

# ---------------------------------------------------------------- process helpers
# spawn NAME NS CMD...: start CMD (in netns NS unless NS is "-") detached, logging to logs/NAME.log.
spawn() {
  local name=$1 ns=$2; shift 2
  [ "$ns" = - ] || set -- ip netns exec "$ns" "$@"
  env "$MARK" setsid "$@" </dev/null >>"$STATE/logs/$name.log" 2>&1 9>&- &
  echo $! >"$STATE/pids/$name.pid"
}
is_running() { # is_running NAME
  local p
  p=$(cat "$STATE/pids/$1.pid" 2>/dev/null) || return 1
  [ -d "/proc/$p" ] && grep -qzxF "$MARK" "/proc/$p/environ" 2>/dev/null
}
stop_proc() { # stop_proc NAME
  local p i
  is_running "$1" || { rm -f "$STATE/pids/$1.pid"; return 0; }
  p=$(cat "$STATE/pids/$1.pid")
  kill "$p" 2>/dev/null || true
  for i in $(seq 1 50); do [ -d "/proc/$p" ] || break; sleep 0.1; done
  kill -9 "$p" 2>/dev/null || true
  rm -f "$STATE/pids/$1.pid"
}
freeport() { $PY -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
wait_for() { # wait_for SECONDS CMD...: poll CMD every 0.1 s
  local n=$(( $1 * 10 )); shift
  while [ $n -gt 0 ]; do "$@" >/dev/null 2>&1 && return 0; sleep 0.1; n=$((n - 1)); done
  return 1
}

# ---------------------------------------------------------------- prerequisites
ensure_tools() { # ensure_tools ROUTER_KIND
  local -A pkg=([ip]=iproute2 [openssl]=openssl [curl]=curl [socat]=socat [nft]=nftables
    [arping]=arping [ndisc6]=ndisc6 [setsid]=util-linux [ping]=iputils-ping)
  case $1 in
    bird) pkg[bird]=bird2; pkg[birdc]=bird2 ;;
    gobgp) pkg[gobgpd]=gobgpd ;;
    frr) pkg[/usr/lib/frr/bgpd]=frr ;;
  esac
  local missing=() c
  for c in "${!pkg[@]}"; do command -v "$c" >/dev/null || missing+=("${pkg[$c]}"); done
  [ -x $PY ] || missing+=(python3)
  [ ${#missing[@]} = 0 ] && return 0
  missing=($(printf '%s\n' "${missing[@]}" | sort -u))
  log "installing ${missing[*]} (apt-get; waits for a dpkg lock another install holds)"
  command -v apt-get >/dev/null || die "missing ${missing[*]} and no apt-get: install them by hand"
  if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -qq -o DPkg::Lock::Timeout=300 "${missing[@]}" >"$CACHE/apt.log" 2>&1; then
    apt-get update -qq >>"$CACHE/apt.log" 2>&1 || true
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq -o DPkg::Lock::Timeout=300 "${missing[@]}" >>"$CACHE/apt.log" 2>&1 ||
      die "could not install ${missing[*]}: see $CACHE/apt.log"
  fi
}

ensure_control_plane() {
  BIN=$CACHE/bin
  [ -x "$BIN/etcd" ] && [ -x "$BIN/kube-apiserver" ] && [ -x "$BIN/kubectl" ] && return 0
  [ -n "$BUILD_SCRIPT" ] || die "no control-plane build script given (run the lab through the ironlb binary)"
  log "building etcd, kube-apiserver and kubectl from Go (once; about 6 min on 2 cores; log $CACHE/build.log)"
  IRONLB_CACHE=$CACHE bash -c "$BUILD_SCRIPT" build-control-plane >"$CACHE/build.log.out" 2>"$CACHE/build.log" ||
    die "building the control plane failed: $(grep -m1 'lab:.*missing' "$CACHE/build.log" || tail -n1 "$CACHE/build.log") (full log $CACHE/build.log)"
  BIN=$(tail -n1 "$CACHE/build.log.out")
}

# ---------------------------------------------------------------- control plane
make_pki() {
  local d=$STATE/pki
  mkdir -p "$d"
  sign() { # sign NAME SUBJECT EXTENSIONS
    openssl req -newkey rsa:2048 -nodes -keyout "$d/$1.key" -out "$d/$1.csr" -subj "$2" 2>/dev/null
    printf '%b\n' "$3" >"$d/$1.ext"
    openssl x509 -req -in "$d/$1.csr" -CA "$d/ca.crt" -CAkey "$d/ca.key" -CAcreateserial \
      -days 30 -out "$d/$1.crt" -extfile "$d/$1.ext" 2>/dev/null
  }
  openssl req -x509 -newkey rsa:2048 -nodes -days 30 -keyout "$d/ca.key" -out "$d/ca.crt" \
    -subj "/CN=ironlb-lab-ca" -addext "basicConstraints=critical,CA:TRUE" \
    -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
  sign apiserver "/CN=kube-apiserver" \
    "subjectAltName=IP:127.0.0.1,IP:192.0.2.2,DNS:localhost,DNS:kubernetes.default.svc\nextendedKeyUsage=serverAuth\nkeyUsage=critical,digitalSignature,keyEncipherment"
  sign admin "/O=system:masters/CN=ironlb-lab-admin" \
    "extendedKeyUsage=clientAuth\nkeyUsage=critical,digitalSignature,keyEncipherment"
  openssl genrsa -out "$d/sa.key" 2048 2>/dev/null
  openssl rsa -in "$d/sa.key" -pubout -out "$d/sa.pub" 2>/dev/null
}

kubeconfig() { # kubeconfig FILE USER-YAML
  cat >"$1" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: ironlb-lab
  cluster:
    server: https://127.0.0.1:$KAS_PORT
    certificate-authority-data: $(base64 -w0 "$STATE/pki/ca.crt")
users:
- name: user
  user:
$2
contexts:
- name: ironlb-lab
  context: {cluster: ironlb-lab, user: user}
current-context: ironlb-lab
EOF
  chmod 600 "$1"
}

readyz() { curl -sf --max-time 2 --cacert "$STATE/pki/ca.crt" --cert "$STATE/pki/admin.crt" --key "$STATE/pki/admin.key" "https://127.0.0.1:$KAS_PORT/readyz"; }

start_control_plane() {
  local peer
  ETCD_PORT=$(freeport); peer=$(freeport); KAS_PORT=$(freeport)
  spawn etcd - "$BIN/etcd" --name ironlb-lab --data-dir "$STATE/etcd" \
    --listen-client-urls "http://127.0.0.1:$ETCD_PORT" --advertise-client-urls "http://127.0.0.1:$ETCD_PORT" \
    --listen-peer-urls "http://127.0.0.1:$peer" --initial-advertise-peer-urls "http://127.0.0.1:$peer" \
    --initial-cluster "ironlb-lab=http://127.0.0.1:$peer" --listen-metrics-urls "" \
    --unsafe-no-fsync --log-level=warn
  wait_for 20 curl -sf "http://127.0.0.1:$ETCD_PORT/health" ||
    die "etcd did not start: $(tail -n1 "$STATE/logs/etcd.log") (port $ETCD_PORT in use? retry 'ironlb lab up')"
  kubeconfig "$STATE/admin.kubeconfig" "    client-certificate-data: $(base64 -w0 "$STATE/pki/admin.crt")
    client-key-data: $(base64 -w0 "$STATE/pki/admin.key")"
  start_apiserver
  # Node namespaces reach the same https://127.0.0.1:PORT through a Unix socket relay.
  spawn apiserver-relay - socat UNIX-LISTEN:"$STATE/apiserver.sock",fork,unlink-early TCP:127.0.0.1:"$KAS_PORT"
  wait_for 5 test -S "$STATE/apiserver.sock" || die "socat relay did not start: see $STATE/logs/apiserver-relay.log"
}

# start_apiserver: kube-apiserver on $KAS_PORT against etcd on $ETCD_PORT, waited for (also
# after 'ironlb lab stop apiserver': the same port, certificates and data).
start_apiserver() {
  spawn kube-apiserver - "$BIN/kube-apiserver" \
    --etcd-servers="http://127.0.0.1:$ETCD_PORT" \
    --bind-address=127.0.0.1 --secure-port="$KAS_PORT" --advertise-address=192.0.2.2 \
    --tls-cert-file="$STATE/pki/apiserver.crt" --tls-private-key-file="$STATE/pki/apiserver.key" \
    --client-ca-file="$STATE/pki/ca.crt" \
    --service-account-issuer="https://127.0.0.1:$KAS_PORT" \
    --service-account-key-file="$STATE/pki/sa.pub" --service-account-signing-key-file="$STATE/pki/sa.key" \
    --service-cluster-ip-range=192.0.2.128/26,2001:db8:96::/112 \
    --authorization-mode=RBAC --disable-admission-plugins=ServiceAccount \
    --allow-privileged=true --profiling=false --v=1
  local n=600
  until readyz >/dev/null 2>&1; do
    is_running kube-apiserver ||
      die "kube-apiserver exited: $(grep -m1 -E '^(E[0-9]{4}|F[0-9]{4}|Error:)' "$STATE/logs/kube-apiserver.log" | cut -c1-300 || true) (log: $STATE/logs/kube-apiserver.log)"
    n=$((n - 1)); [ $n -gt 0 ] || die "kube-apiserver not ready after 60 s: see $STATE/logs/kube-apiserver.log"
    sleep 0.1
  done
}

# ---------------------------------------------------------------- network
nsx() { local ns=$1; shift; ip netns exec "$ns" "$@"; }
new_ns() { # new_ns NAME: a namespace with lo up, no DAD delays, strict ARP
  ip netns add "$1"
  nsx "$1" sysctl -qw net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0 \
    net.ipv4.conf.all.arp_ignore=1 net.ipv4.conf.all.arp_announce=2 net.ipv4.ping_group_range="0 2147483647"
  ip -n "$1" link set lo up
}
# lan_port NS PORTNAME [ADDR4 ADDR6]: veth from br0 in $NS_LAN to eth0 in NS.
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
  addrs "$NS_ROUTER" eth1 198.51.100.1/24 2001:db8:3::1/64
  addrs "$NS_REMOTE" eth0 198.51.100.10/24 2001:db8:3::10/64
  default_via "$NS_REMOTE" 198.51.100.1 2001:db8:3::1

  new_ns "$NS_CLIENT"
  lan_port "$NS_CLIENT" client
  addrs "$NS_CLIENT" eth0 192.0.2.5/24 2001:db8:1::5/64
  default_via "$NS_CLIENT" 192.0.2.1 2001:db8:1::1

  for i in $(seq 1 "$NODES_N"); do
    ns=${P}node$i
    new_ns "$ns"
    lan_port "$ns" "node$i"
    addrs "$ns" eth0 "$(node_v4 "$i")/24" "$(node_v6 "$i")/64"
    default_via "$ns" 192.0.2.1 2001:db8:1::1
    kube_proxy_sim "$ns" "$i"
    spawn "apiserver-relay-$ns" "$ns" socat TCP-LISTEN:"$KAS_PORT",bind=127.0.0.1,reuseaddr,fork \
      UNIX-CONNECT:"$STATE/apiserver.sock"
  done
}

# Simulated kube-proxy: TCP 80 to any pool address is DNATed to the node's own address, where a
# tiny HTTP server answers the node's name. The node never owns a pool address, so its kernel never
# answers ARP/NDP for one (kube-proxy's strict ARP); announcing is IronLB's job.
kube_proxy_sim() { # kube_proxy_sim NS INDEX
  nsx "$1" nft -f - <<EOF
table inet ironlb-lab {
  chain prerouting {
    type nat hook prerouting priority dstnat; policy accept;
    ip daddr { 192.0.2.200-192.0.2.254, 203.0.113.0/24 } tcp dport 80 dnat ip to $(node_v4 "$2")
    ip6 daddr { 2001:db8:1::200-2001:db8:1::2ff, 2001:db8:2::/64 } tcp dport 80 dnat ip6 to $(node_v6 "$2")
  }
}
EOF
  spawn "http-$1" "$1" $PY -c '
import http.server, socket, sys
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = (sys.argv[1] + "\n").encode()
        self.send_response(200); self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body))); self.end_headers(); self.wfile.write(body)
    def log_message(self, *a): pass
class S(http.server.ThreadingHTTPServer):
    address_family = socket.AF_INET6
    def server_bind(self):
        self.socket.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        super().server_bind()
S(("::", 80), H).serve_forever()' "$1"
}

# ---------------------------------------------------------------- router
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

# ---------------------------------------------------------------- Kubernetes objects and components
kc() { "$BIN/kubectl" --kubeconfig "$STATE/admin.kubeconfig" "$@"; }

make_nodes() {
  local i n now
  now=$(date -u +%Y-%m-%dT%H:%M:%SZ)
  for i in $(seq 1 "$NODES_N"); do
    n=${P}node$i
    kc apply -f - >/dev/null <<EOF
apiVersion: v1
kind: Node
metadata:
  name: $n
  labels: {kubernetes.io/hostname: $n, kubernetes.io/os: linux, ironlb.io/lab: "true"}
EOF
    kc patch node "$n" --subresource=status --type=merge -p "{\"status\":{
      \"addresses\":[{\"type\":\"InternalIP\",\"address\":\"$(node_v4 "$i")\"},
                     {\"type\":\"InternalIP\",\"address\":\"$(node_v6 "$i")\"},
                     {\"type\":\"Hostname\",\"address\":\"$n\"}],
      \"conditions\":[{\"type\":\"Ready\",\"status\":\"True\",\"reason\":\"KubeletReady\",
        \"message\":\"ironlb lab node\",\"lastHeartbeatTime\":\"$now\",\"lastTransitionTime\":\"$now\"}]}}" >/dev/null
  done
}

make_components() {
  [ -n "$NAMESPACE_YAML" ] && [ -n "$RBAC_YAML" ] ||
    die "no manifests given (run the lab through the ironlb binary)"
  kc apply -f - >/dev/null <<<"$NAMESPACE_YAML"
  # CRDs (NodeAnnouncement) before the speakers start publishing.
  [ -z "$CRDS_YAML" ] || kc apply -f - >/dev/null <<<"$CRDS_YAML"
  kc apply -f - >/dev/null <<<"$RBAC_YAML"
  kc -n "$LAB_NS" create secret generic memberlist \
    --from-literal=secretkey="$(openssl rand -base64 128 | tr -d '\n')" >/dev/null
  local sa
  for sa in controller speaker; do
    kubeconfig "$STATE/$sa.kubeconfig" "    token: $(kc -n "$LAB_NS" create token "$sa" --duration=720h)"
  done
  CONTROLLER_METRICS_PORT=$(freeport)
}

bin_of() { # bin_of NAME: path of a component binary, or nothing
  local d=${IRONLB_LAB_BIN:-}
  [ -n "$d" ] && [ -x "$d/$1" ] && echo "$d/$1"
  return 0
}
start_controller() {
  local b; b=$(bin_of ironlb-controller)
  [ -n "$b" ] || { log "no ironlb-controller next to ironlb (${IRONLB_LAB_BIN:-?}): not started"; return 0; }
  is_running controller && return 0
  spawn controller - env KUBECONFIG="$STATE/controller.kubeconfig" POD_NAMESPACE="$LAB_NS" \
    "$b" --namespace="$LAB_NS" --metrics-addr="127.0.0.1:$CONTROLLER_METRICS_PORT"
}
start_speaker() { # start_speaker NODE
  local b; b=$(bin_of ironlb-speaker)
  [ -n "$b" ] || { log "no ironlb-speaker next to ironlb (${IRONLB_LAB_BIN:-?}): not started"; return 0; }
  is_running "speaker-$1" && return 0
  spawn "speaker-$1" "$1" env KUBECONFIG="$STATE/speaker.kubeconfig" NODE_NAME="$1" POD_NAMESPACE="$LAB_NS" \
    "$b" --namespace="$LAB_NS" --metrics-addr="0.0.0.0:7472"
}

# ---------------------------------------------------------------- env
node_list() { local i; for i in $(seq 1 "$NODES_N"); do printf '%s ' "${P}node$i"; done | sed 's/ $//'; }
write_env() {
  local v4=192.0.2.1 v6=2001:db8:1::1
  [ "$ROUTER_KIND" = none ] && v4= && v6=
  {
    echo "export KUBECONFIG='$STATE/admin.kubeconfig'"
    echo "export IRONLB_LAB_NAMESPACE='$LAB_NS'"
    echo "export IRONLB_LAB_NODES='$(node_list)'"
    echo "export IRONLB_LAB_CLIENT='$NS_CLIENT'"
    echo "export IRONLB_LAB_CLIENT_IF='eth0'"
    echo "export IRONLB_LAB_REMOTE='$NS_REMOTE'"
    echo "export IRONLB_LAB_ROUTER='$NS_ROUTER'"
    echo "export IRONLB_LAB_ROUTER_KIND='$ROUTER_KIND'"
    echo "export IRONLB_LAB_ROUTER_CTL='$ROUTER_CTL'"
    echo "export IRONLB_LAB_ROUTER_V4='$v4'"
    echo "export IRONLB_LAB_ROUTER_V6='$v6'"
    echo "export IRONLB_LAB_ROUTER_ASN='$ROUTER_ASN'"
    echo "export IRONLB_LAB_NODE_ASN='$NODE_ASN'"
    echo "export IRONLB_LAB_CONTROLLER_METRICS='http://127.0.0.1:$CONTROLLER_METRICS_PORT/metrics'"
    echo "export IRONLB_LAB_KUBECTL='$BIN/kubectl'"
    echo "export IRONLB_LAB_BIN='${IRONLB_LAB_BIN:-}'"
    echo "export IRONLB_LAB_STATE='$STATE'"
    echo "export IRONLB_LAB_PREFIX='$P'"
  } >"$STATE/env"
  # Internal state for later commands (not exported).
  cat >"$STATE/lab.state" <<EOF
NODES_N=$NODES_N
ROUTER_KIND=$ROUTER_KIND
ROUTER_CTL=$ROUTER_CTL
KAS_PORT=$KAS_PORT
ETCD_PORT=$ETCD_PORT
CONTROLLER_METRICS_PORT=$CONTROLLER_METRICS_PORT
BIN=$BIN
EOF
}
load_state() { [ -f "$STATE/lab.state" ] || die "no lab is up: run 'ironlb lab up' first"; source "$STATE/lab.state"; }

lab_healthy() {
  [ -f "$STATE/lab.state" ] && [ -f "$STATE/env" ] || return 1
  source "$STATE/lab.state"
  local ns have
  have=" $(lab_namespaces | tr '\n' ' ') "
  for ns in "$NS_LAN" "$NS_ROUTER" "$NS_CLIENT" "$NS_REMOTE" $(node_list); do
    [[ $have == *" $ns "* ]] || return 1
  done
  is_running etcd && is_running kube-apiserver && is_running apiserver-relay && readyz >/dev/null 2>&1
}

# ---------------------------------------------------------------- commands
cmd_up() {
  NODES_N=3 ROUTER_KIND=bird
  while [ $# -gt 0 ]; do
    case $1 in
      --nodes) NODES_N=${2:-}; shift 2 ;;
      --router) ROUTER_KIND=${2:-}; shift 2 ;;
      *) die "unknown option $1 (usage: ironlb lab up [--nodes N] [--router bird|gobgp|frr|none])" ;;
    esac
  done
  [[ $NODES_N =~ ^[0-9]+$ ]] && [ "$NODES_N" -ge 1 ] && [ "$NODES_N" -le 60 ] || die "--nodes must be 1..60"
  case $ROUTER_KIND in bird|gobgp|frr|none) ;; *) die "--router must be bird, gobgp, frr or none" ;; esac
  local want_n=$NODES_N want_r=$ROUTER_KIND
  if lab_healthy; then
    [ "$NODES_N" = "$want_n" ] && [ "$ROUTER_KIND" = "$want_r" ] ||
      log "a lab is already up with $NODES_N nodes and router $ROUTER_KIND; run 'ironlb lab down' first to change that"
    cat "$STATE/env"
    return 0
  fi
  NODES_N=$want_n ROUTER_KIND=$want_r
  if [ -e "$STATE" ] || [ -n "$(lab_namespaces)" ] || [ -n "$(marked_pids)" ]; then
    log "removing what an earlier lab left behind"
    do_down
  fi
  mkdir -p "$CACHE"
  ensure_tools "$ROUTER_KIND"
  ensure_control_plane
  # From here on a failure tears down what was made (logs are kept in /tmp/ironlb-lab-failed).
  trap 'rc=$?; if [ $rc != 0 ]; then rm -rf /tmp/ironlb-lab-failed; cp -r "$STATE/logs" /tmp/ironlb-lab-failed 2>/dev/null || true; do_down 2>/dev/null || true; fi' EXIT
  trap 'echo "ironlb lab: up failed at: $BASH_COMMAND (logs kept in /tmp/ironlb-lab-failed; nothing is left running)" >&2' ERR
  mkdir -p "$STATE/logs" "$STATE/pids"
  local t0=$SECONDS
  make_pki
  start_control_plane
  log "kube-apiserver ready on https://127.0.0.1:$KAS_PORT ($((SECONDS - t0)) s)"
  make_network
  start_router
  make_nodes
  make_components
  write_env
  start_controller
  local n; for n in $(node_list); do start_speaker "$n"; done
  trap - EXIT ERR
  log "lab up in $((SECONDS - t0)) s: $NODES_N nodes, router $ROUTER_KIND"
  cat "$STATE/env"
}

cmd_env() { [ -f "$STATE/env" ] || die "no lab is up: run 'ironlb lab up' first"; cat "$STATE/env"; }

node_arg() { # node_arg NAME: accepts ilb-node1 or node1
  local n=$1 m
  for m in $(node_list); do [ "$m" = "$n" ] && { echo "$m"; return; }; done
  for m in $(node_list); do [ "$m" = "$P$n" ] && { echo "$m"; return; }; done
  die "no node $n in the lab (nodes: $(node_list))"
}

cmd_stop_start() { # cmd_stop_start stop|start controller|apiserver|speaker [NODE]
  local verb=$1 what=${2:-} node
  load_state
  case $what in
    controller) [ "$verb" = stop ] && stop_proc controller || start_controller ;;
    apiserver) [ "$verb" = stop ] && stop_proc kube-apiserver || { is_running kube-apiserver || start_apiserver; } ;;
    speaker)
      node=$(node_arg "${3:?usage: ironlb lab $verb speaker NODE}")
      [ "$verb" = stop ] && stop_proc "speaker-$node" || start_speaker "$node" ;;
    *) die "usage: ironlb lab $verb controller | apiserver | speaker NODE" ;;
  esac
}

cmd_link() { # cmd_link NODE down|up: pull or plug the node's LAN cable (the bridge side of its veth)
  load_state
  local node; node=$(node_arg "${1:?usage: ironlb lab link NODE down|up}")
  case ${2:-} in
    down|up) ip -n "$NS_LAN" link set "${node#$P}" "$2" ;;
    *) die "usage: ironlb lab link NODE down|up" ;;
  esac
}

main() {
  local cmd=${1:-}; shift || true
  need_root
  mkdir -p "$(dirname "$LOCK")"
  exec 9>"$LOCK"
  flock -w 600 9 || die "another 'ironlb lab' command holds $LOCK"
  case $cmd in
    up) cmd_up "$@" ;;
    down) do_down ;;
    env) cmd_env ;;
    stop|start) cmd_stop_start "$cmd" "$@" ;;
    link) cmd_link "$@" ;;
    install) mkdir -p "$CACHE"; ensure_tools bird; ensure_tools gobgp; ensure_tools frr ;;
    *) die "unknown command '$cmd' (up, down, env, stop, start, link, install)" ;;
  esac
}
main "$@"
