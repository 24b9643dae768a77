#!/usr/bin/env bash
# The IronLB lab: a real Kubernetes cluster on one machine (etcd, kube-apiserver,
# kube-controller-manager, kube-scheduler; on every node host containerd, a kubelet and kube-proxy)
# on a LAN of network namespaces with a BGP router, a client and a remote host; IronLB installed
# into it from its image and deploy/ as users install it. network.sh draws the LAN, cluster.sh the
# cluster, images.sh the images, routers.sh the routers.
#
# Embedded in the `ironlb` binary (all parts, concatenated) and run as
# `bash -c "$SCRIPT" ironlb-lab COMMAND ARGS...`.
# Env from the binary: IRONLB_LAB_BUILD_SCRIPT, IRONLB_LAB_DEPLOY_DIR (the checkout's deploy/),
# IRONLB_LAB_IMAGE_LAYOUT (IronLB's OCI layout, from deploy/image/build.sh),
# IRONLB_LAB_{BIRD,GOBGP,FRR}_CONF (the router's configs, rendered by the ironlb-lab crate).
# Optional: IRONLB_CACHE (/var/cache/ironlb).
# Invariants: nothing is added to the root namespace but processes bound to 127.0.0.1, files
# under $STATE and the kubelets' cgroups (/NODE in each hierarchy); every process the lab starts
# carries IRONLB_LAB_DAEMON=$STATE in its environment and every namespace is named ilb-*, so
# `down` finds all of it even without $STATE.
set -Eeuo pipefail

# A second lab can run beside the default one with other IRONLB_LAB_STATE and IRONLB_LAB_PREFIX.
STATE=${IRONLB_LAB_STATE:-/run/ironlb-lab}
P=${IRONLB_LAB_PREFIX:-ilb-} # namespace (and node name) prefix
[[ $STATE == /* && $P =~ ^[a-z][a-z0-9]{1,5}-$ ]] || { echo "ironlb lab: IRONLB_LAB_STATE must be absolute and IRONLB_LAB_PREFIX like 'ilb-'" >&2; exit 1; }
LOCK=/run/lock/ironlb-lab.$(echo "$STATE" | tr / _).lock
MARK="IRONLB_LAB_DAEMON=$STATE"  # in the environment of every process this lab starts
CACHE=${IRONLB_CACHE:-/var/cache/ironlb}
HELM_V=${IRONLB_HELM_VERSION:-v3.22.0}
NS_LAN=${P}lan NS_CLIENT=${P}client NS_ROUTER=${P}router NS_REMOTE=${P}remote NS_CP=${P}cp
LAB_NS=ironlb-system ROUTER_ASN=64500 NODE_ASN=64512
PY=/usr/bin/python3
# Inputs from the binary, kept out of the environment of the processes the lab starts.
BUILD_SCRIPT=${IRONLB_LAB_BUILD_SCRIPT:-} DEPLOY_DIR=${IRONLB_LAB_DEPLOY_DIR:-}
IRONLB_IMAGE_LAYOUT=${IRONLB_LAB_IMAGE_LAYOUT:-}
ROUTER_CONF_BIRD=${IRONLB_LAB_BIRD_CONF:-} ROUTER_CONF_GOBGP=${IRONLB_LAB_GOBGP_CONF:-} ROUTER_CONF_FRR=${IRONLB_LAB_FRR_CONF:-}
unset IRONLB_LAB_BUILD_SCRIPT IRONLB_LAB_DEPLOY_DIR IRONLB_LAB_IMAGE_LAYOUT \
  IRONLB_LAB_BIRD_CONF IRONLB_LAB_GOBGP_CONF IRONLB_LAB_FRR_CONF

log() { echo "lab: $*" >&2; }
# die MESSAGE: one clear line (what is wrong, what to do), then the caller's cleanup runs.
die() { echo "ironlb lab: $*" >&2; exit 1; }
need_root() { [ "$(id -u)" = 0 ] || die "needs root (network namespaces, BIRD, nftables): run it as root"; }

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
  cluster_down
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
    [arping]=arping [ndisc6]=ndisc6 [setsid]=util-linux [ping]=iputils-ping [file]=file
    [nsenter]=util-linux [findmnt]=util-linux)
  case $1 in
    bird) pkg[bird]=bird2; pkg[birdc]=bird2 ;;
    gobgp) pkg[gobgpd]=gobgpd ;;
    frr) pkg[/usr/lib/frr/bgpd]=frr ;;
  esac
  local missing=() c
  for c in "${!pkg[@]}"; do command -v "$c" >/dev/null || missing+=("${pkg[$c]}"); done
  [ -x $PY ] || missing+=(python3)
  # The cluster's nodes: runtime, CNI plugins, images without a registry.
  command -v containerd >/dev/null || missing+=(containerd)
  command -v runc >/dev/null || missing+=(runc)
  [ -x /usr/lib/cni/bridge ] || missing+=(containernetworking-plugins)
  command -v umoci >/dev/null || missing+=(umoci)
  [ -x /bin/busybox ] || missing+=(busybox-static)
  command -v conntrack >/dev/null || missing+=(conntrack)
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
  local c ok=1
  for c in etcd kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy kubectl; do
    [ -x "$BIN/$c" ] || ok=
  done
  [ -n "$ok" ] && return 0
  [ -n "$BUILD_SCRIPT" ] || die "no control-plane build script given (run the lab through the ironlb binary)"
  log "building etcd and the Kubernetes binaries from Go (once; about 12 min on 2 cores; log $CACHE/build.log)"
  IRONLB_CACHE=$CACHE bash -c "$BUILD_SCRIPT" build-control-plane >"$CACHE/build.log.out" 2>"$CACHE/build.log" ||
    die "building the control plane failed: $(grep -m1 'lab:.*missing' "$CACHE/build.log" || tail -n1 "$CACHE/build.log") (full log $CACHE/build.log)"
  BIN=$(tail -n1 "$CACHE/build.log.out")
}

# ensure_helm: Helm $HELM_V built from its Go module (helm.sh/helm/v3) once, cached in
# $CACHE/helm/$HELM_V; sets HELM to it.
ensure_helm() {
  HELM=$CACHE/helm/$HELM_V/helm
  [ -x "$HELM" ] && return 0
  command -v go >/dev/null || export PATH="$PATH:/usr/local/go/bin"
  log "building helm $HELM_V from its Go module (once; cached in $(dirname "$HELM"))"
  mkdir -p "$(dirname "$HELM")"
  GOBIN=$(dirname "$HELM") GOFLAGS=-buildvcs=false go install "helm.sh/helm/v3/cmd/helm@$HELM_V" \
    >"$CACHE/helm-build.log" 2>&1 || die "building helm $HELM_V failed: $(tail -n1 "$CACHE/helm-build.log") (log $CACHE/helm-build.log)"
}

# ---------------------------------------------------------------- IronLB, installed as users do
kc() { "$BIN/kubectl" --kubeconfig "$STATE/admin.kubeconfig" "$@"; }

# install_ironlb: IronLB installed as the README says, by INSTALL_KIND: `kustomize` (`kubectl
# apply -k deploy/`, the memberlist Secret, the example config) or `helm` (the namespace made
# and labelled, then `helm install` of deploy/helm/ironlb with the example's config document as
# its `config` value; the chart makes the Secret); then waits until every IronLB pod is ready.
install_ironlb() {
  case $INSTALL_KIND in
    kustomize)
      kc apply -k "$DEPLOY_DIR" >"$STATE/logs/install.log" 2>&1 || die "kubectl apply -k $DEPLOY_DIR failed: $(tail -n1 "$STATE/logs/install.log")"
      kc -n "$LAB_NS" create secret generic memberlist \
        --from-literal=secretkey="$(openssl rand -base64 128 | tr -d '\n')" >/dev/null
      kc apply -f "$DEPLOY_DIR/examples/config-layer2.yaml" >/dev/null ;;
    helm)
      kc create namespace "$LAB_NS" >/dev/null
      kc label namespace "$LAB_NS" pod-security.kubernetes.io/enforce=privileged >/dev/null
      kc create --dry-run=client -f "$DEPLOY_DIR/examples/config-layer2.yaml" -o jsonpath='{.data.config}' >"$STATE/config.yaml"
      "$HELM" --kubeconfig "$STATE/admin.kubeconfig" install ironlb "$DEPLOY_DIR/helm/ironlb" --namespace "$LAB_NS" \
        --set-file config="$STATE/config.yaml" >"$STATE/logs/install.log" 2>&1 ||
        die "helm install of $DEPLOY_DIR/helm/ironlb failed: $(tail -n1 "$STATE/logs/install.log")" ;;
  esac
  local sa
  for sa in controller speaker; do
    kubeconfig "$STATE/$sa.kubeconfig" "https://127.0.0.1:$KAS_PORT" "    token: $(kc -n "$LAB_NS" create token "$sa" --duration=720h)"
  done
  # The controller replicas' metrics, from the machine: relayed to a node, which reaches the
  # replicas through a ClusterIP Service the lab adds.
  kc apply -f - >/dev/null <<YAML
apiVersion: v1
kind: Service
metadata: {name: ironlb-lab-controller-metrics, namespace: $LAB_NS}
spec:
  selector: {app.kubernetes.io/name: ironlb, app.kubernetes.io/component: controller}
  ports: [{port: 7472, targetPort: metrics}]
YAML
  local cip; cip=$(kc -n "$LAB_NS" get service ironlb-lab-controller-metrics -o jsonpath='{.spec.clusterIP}')
  CONTROLLER_METRICS_PORT=$(freeport)
  spawn controller-metrics-relay-node "${P}node1" socat UNIX-LISTEN:"$STATE/controller-metrics.sock",fork,unlink-early TCP:"$cip":7472
  spawn controller-metrics-relay - socat TCP-LISTEN:"$CONTROLLER_METRICS_PORT",bind=127.0.0.1,reuseaddr,fork UNIX-CONNECT:"$STATE/controller-metrics.sock"
  wait_ironlb_ready
}

wait_ironlb_ready() {
  kc -n "$LAB_NS" rollout status daemonset/speaker --timeout=120s >/dev/null 2>&1 ||
    die "the speaker DaemonSet is not ready after 120 s: $(kc -n "$LAB_NS" get pods -l app.kubernetes.io/component=speaker --no-headers 2>&1 | tr -s ' ' | head -n3 | tr '\n' ';') (logs: $STATE/nodes/*/pod-logs/${LAB_NS}_speaker-*)"
  kc -n "$LAB_NS" rollout status deployment/controller --timeout=120s >/dev/null 2>&1 ||
    die "the controller Deployment is not ready after 120 s: $(kc -n "$LAB_NS" get pods -l app.kubernetes.io/component=controller --no-headers 2>&1 | tr -s ' ' | head -n2 | tr '\n' ';') (logs: $STATE/nodes/*/pod-logs/${LAB_NS}_controller-*)"
}

# The speaker of NODE stops and starts as an operator keeps it off a node: the label
# ironlb.io/speaker=false, which the shipped DaemonSet's node affinity honours. With the API
# server stopped no label can be set: then the node's kubelet is frozen (so it restarts nothing)
# and the speaker stopped with SIGTERM, as its pod's deletion would; `start` thaws the kubelet.
no_pods() { # no_pods SELECTOR [FIELD-SELECTOR]: no pod of IronLB's matches (gone, not terminating)
  [ -z "$(kc -n "$LAB_NS" get pods -l "$1" ${2:+--field-selector "$2"} -o name 2>&1)" ]
}
speaker_pids() { # speaker_pids NODE: the speaker processes in NODE's network namespace
  local p
  for p in $(ip netns pids "$1" 2>/dev/null); do
    [ "$(cat "/proc/$p/comm" 2>/dev/null)" = ironlb-speaker ] && echo "$p"
  done
  return 0
}
stop_speaker() { # stop_speaker NODE
  if readyz >/dev/null 2>&1; then
    kc label node "$1" ironlb.io/speaker=false --overwrite >/dev/null
    wait_for 60 no_pods app.kubernetes.io/component=speaker "spec.nodeName=$1" ||
      die "the speaker pod of $1 is still there after 60 s"
    return 0
  fi
  kill -STOP "$(cat "$STATE/pids/kubelet-$1.pid")" && touch "$STATE/kubelet-frozen-$1"
  local pids; pids=$(speaker_pids "$1")
  [ -z "$pids" ] || kill $pids 2>/dev/null || true
  wait_for 10 test -z "$(speaker_pids "$1")" || { kill -9 $(speaker_pids "$1") 2>/dev/null || true; }
}
start_speaker() { # start_speaker NODE
  if [ -f "$STATE/kubelet-frozen-$1" ]; then
    kill -CONT "$(cat "$STATE/pids/kubelet-$1.pid")"
    rm -f "$STATE/kubelet-frozen-$1"
  fi
  readyz >/dev/null 2>&1 || { log "the API server is stopped: the kubelet of $1 restarts its speaker by itself"; return 0; }
  # A killed speaker (a crash) waits out the kubelet's restart back-off, which doubles with every
  # crash of the pod up to 5 min: its pod is replaced instead, as an operator would.
  [ -n "$(speaker_pids "$1")" ] ||
    kc -n "$LAB_NS" delete pods -l app.kubernetes.io/component=speaker --field-selector "spec.nodeName=$1" \
      --wait=false >/dev/null 2>&1 || true
  kc label node "$1" ironlb.io/speaker- >/dev/null
  wait_for 60 speaker_ready "$1" ||
    die "no ready speaker on $1 after 60 s: $(kc -n "$LAB_NS" get pods -l app.kubernetes.io/component=speaker --field-selector "spec.nodeName=$1" --no-headers 2>&1)"
}
# A kubelet thawed after its speaker was killed still shows the old pod Ready until it notices
# the death: a speaker process must run too.
speaker_ready() { # speaker_ready NODE: its speaker pod is Ready and its process runs
  [ -n "$(speaker_pids "$1")" ] &&
  [ "$(kc -n "$LAB_NS" get pods -l app.kubernetes.io/component=speaker --field-selector "spec.nodeName=$1" \
    -o jsonpath='{.items[*].status.conditions[?(@.type=="Ready")].status}' 2>/dev/null)" = True ]
}
# After an API server outage kube-proxy's watches sit in client-go's backoff for up to a minute
# or more before new Services are forwarded (measured: 78 s after a 15 s outage); the lab
# restarts them so that the next test starts from a settled cluster.
restart_kube_proxies() {
  local n
  for n in $(node_list); do
    stop_proc "kube-proxy-$n"
    # A restarted kube-proxy (nftables mode) trusts the chains it finds and was seen to leave
    # an endpoint chain empty: it starts from no tables at all.
    nsx "$n" nft delete table ip kube-proxy 2>/dev/null || true
    nsx "$n" nft delete table ip6 kube-proxy 2>/dev/null || true
    spawn_node "kube-proxy-$n" "$n" "$BIN/kube-proxy" --config="$(node_dir "$n")/kube-proxy.yaml"
  done
}

# No controller replica runs while stopped; start brings back the shipped replica count.
stop_controller() {
  kc -n "$LAB_NS" scale deployment/controller --replicas=0 >/dev/null
  wait_for 60 no_pods app.kubernetes.io/component=controller || die "controller pods still running after 60 s"
}
start_controller() {
  local n; n=$(sed -n 's/^ *replicas: *\([0-9]*\).*/\1/p' "$DEPLOY_DIR/controller.yaml" | head -n1)
  kc -n "$LAB_NS" scale deployment/controller --replicas="${n:-1}" >/dev/null
  kc -n "$LAB_NS" rollout status deployment/controller --timeout=120s >/dev/null 2>&1 || die "the controller is not ready after 120 s"
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
    echo "export IRONLB_LAB_ECHO_IMAGE='$LAB_ECHO_IMAGE'"
    echo "export IRONLB_LAB_IMAGE='$IRONLB_IMAGE'"
    echo "export IRONLB_LAB_APISERVER='$(CP_URL)'"
    echo "export IRONLB_LAB_HELM='$HELM'"
    echo "export IRONLB_LAB_INSTALL='$INSTALL_KIND'"
  } >"$STATE/env"
  # Internal state for later commands (not exported).
  cat >"$STATE/lab.state" <<EOF
NODES_N=$NODES_N
ROUTER_KIND=$ROUTER_KIND
ROUTER_CTL=$ROUTER_CTL
KAS_PORT=$KAS_PORT
CONTROLLER_METRICS_PORT=$CONTROLLER_METRICS_PORT
BIN=$BIN
INSTALL_KIND=$INSTALL_KIND
HELM=$HELM
EOF
}
load_state() { [ -f "$STATE/lab.state" ] || die "no lab is up: run 'ironlb lab up' first"; source "$STATE/lab.state"; }

lab_healthy() {
  [ -f "$STATE/lab.state" ] && [ -f "$STATE/env" ] || return 1
  source "$STATE/lab.state"
  local ns have
  have=" $(lab_namespaces | tr '\n' ' ') "
  for ns in "$NS_LAN" "$NS_ROUTER" "$NS_CLIENT" "$NS_REMOTE" "$NS_CP" $(node_list); do
    [[ $have == *" $ns "* ]] || return 1
  done
  is_running etcd && is_running kube-apiserver && is_running apiserver-relay && readyz >/dev/null 2>&1 || return 1
  local n
  for n in $(node_list); do is_running "kubelet-$n" && is_running "containerd-$n" || return 1; done
}

# ---------------------------------------------------------------- commands
cmd_up() {
  NODES_N=3 ROUTER_KIND=bird INSTALL_KIND=kustomize
  while [ $# -gt 0 ]; do
    case $1 in
      --nodes) NODES_N=${2:-}; shift 2 ;;
      --router) ROUTER_KIND=${2:-}; shift 2 ;;
      --install) INSTALL_KIND=${2:-}; shift 2 ;;
      *) die "unknown option $1 (usage: ironlb lab up [--nodes N] [--router bird|gobgp|frr|none] [--install kustomize|helm])" ;;
    esac
  done
  # Each node's IPv4 pods take a /28 of 198.51.100.128/25.
  [[ $NODES_N =~ ^[0-9]+$ ]] && [ "$NODES_N" -ge 1 ] && [ "$NODES_N" -le 8 ] || die "--nodes must be 1..8"
  case $ROUTER_KIND in bird|gobgp|frr|none) ;; *) die "--router must be bird, gobgp, frr or none" ;; esac
  case $INSTALL_KIND in kustomize|helm) ;; *) die "--install must be kustomize or helm" ;; esac
  local want_n=$NODES_N want_r=$ROUTER_KIND want_i=$INSTALL_KIND
  if lab_healthy; then
    [ "$NODES_N" = "$want_n" ] && [ "$ROUTER_KIND" = "$want_r" ] && [ "${INSTALL_KIND:-kustomize}" = "$want_i" ] ||
      log "a lab is already up with $NODES_N nodes, router $ROUTER_KIND, installed by ${INSTALL_KIND:-kustomize}; run 'ironlb lab down' first to change that"
    cat "$STATE/env"
    return 0
  fi
  NODES_N=$want_n ROUTER_KIND=$want_r INSTALL_KIND=$want_i
  if [ -e "$STATE" ] || [ -n "$(lab_namespaces)" ] || [ -n "$(marked_pids)" ]; then
    log "removing what an earlier lab left behind"
    do_down
  fi
  mkdir -p "$CACHE"
  [ -n "$DEPLOY_DIR" ] && [ -f "$DEPLOY_DIR/kustomization.yaml" ] || die "no deploy/ directory given (run the lab through the ironlb binary)"
  ensure_tools "$ROUTER_KIND"
  ensure_control_plane
  ensure_helm
  ironlb_image
  ensure_lab_images
  # From here on a failure tears down what was made (logs are kept in /tmp/ironlb-lab-failed).
  trap 'rc=$?; if [ $rc != 0 ]; then collect_pod_logs; rm -rf /tmp/ironlb-lab-failed; cp -r "$STATE/logs" /tmp/ironlb-lab-failed 2>/dev/null || true; do_down 2>/dev/null || true; fi' EXIT
  trap 'echo "ironlb lab: up failed at: $BASH_COMMAND (logs kept in /tmp/ironlb-lab-failed; nothing is left running)" >&2' ERR
  mkdir -p "$STATE/logs" "$STATE/pids"
  local t0=$SECONDS
  make_pki
  make_network
  start_control_plane
  log "kube-apiserver ready on https://127.0.0.1:$KAS_PORT ($((SECONDS - t0)) s)"
  start_router
  local i; for i in $(seq 1 "$NODES_N"); do start_node "$i"; done
  wait_nodes_ready
  log "$NODES_N nodes ready ($((SECONDS - t0)) s)"
  install_ironlb
  write_env
  trap - EXIT ERR
  log "lab up in $((SECONDS - t0)) s: $NODES_N nodes, router $ROUTER_KIND"
  cat "$STATE/env"
}

cmd_env() {
  [ -f "$STATE/env" ] || die "no lab is up: run 'ironlb lab up' first"
  if [ "${1:-}" = --json ]; then
    # The same exports as one JSON object.
    $PY -c 'import json,shlex,sys
env = {}
for line in open(sys.argv[1]):
    k, _, v = line.strip().removeprefix("export ").partition("=")
    env[k] = shlex.split(v)[0] if v else ""
print(json.dumps(env, indent=2))' "$STATE/env"
  else
    cat "$STATE/env"
  fi
}

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
    controller) if [ "$verb" = stop ]; then stop_controller; else start_controller; fi ;;
    apiserver) if [ "$verb" = stop ]; then stop_proc kube-apiserver; else is_running kube-apiserver || { start_apiserver; restart_kube_proxies; }; fi ;;
    speaker)
      node=$(node_arg "${3:?usage: ironlb lab $verb speaker NODE}")
      if [ "$verb" = stop ]; then stop_speaker "$node"; else start_speaker "$node"; fi ;;
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

# cmd_rollout: IronLB's image (IRONLB_IMAGE_LAYOUT, e.g. just rebuilt by deploy/image/build.sh)
# loaded into every node under the name the manifests use, then the speaker DaemonSet and the
# controller Deployment restarted on it as a user's `kubectl rollout restart` would, waited for.
cmd_rollout() {
  load_state
  ironlb_image
  local n
  for n in $(node_list); do import_layout "$n" "$IRONLB_IMAGE_LAYOUT" "$IRONLB_IMAGE_TAG" "$IRONLB_IMAGE"; done
  kc -n "$LAB_NS" rollout restart daemonset/speaker deployment/controller >/dev/null ||
    die "kubectl rollout restart failed"
  wait_ironlb_ready
  log "IronLB restarted on $IRONLB_IMAGE_LAYOUT"
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
    env) cmd_env "$@" ;;
    stop|start) cmd_stop_start "$cmd" "$@" ;;
    link) cmd_link "$@" ;;
    install) mkdir -p "$CACHE"; ensure_tools bird; ensure_tools gobgp; ensure_tools frr ;;
    rollout) cmd_rollout ;;
    helm) mkdir -p "$CACHE"; ensure_helm; echo "$HELM" ;;
    *) die "unknown command '$cmd' (up, down, env, stop, start, link, install, rollout, helm)" ;;
  esac
}
main "$@"
