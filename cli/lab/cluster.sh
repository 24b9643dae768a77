# The lab's Kubernetes cluster: a control-plane host (etcd, kube-apiserver, kube-controller-manager,
# kube-scheduler) and, on every node host, containerd, a kubelet and kube-proxy, as users run them.
#
#   root ns:  socat 127.0.0.1:$KAS_PORT ─ $STATE/apiserver.sock ─ socat in ilb-cp ─ 192.0.2.2:6443
#   ilb-cp:   etcd (127.0.0.1:2379), kube-apiserver (:6443), kube-controller-manager, kube-scheduler
#   ilb-nodeN: containerd ($STATE/nodes/NODE/containerd.sock), kubelet, kube-proxy (nftables)
#
# The kubelets and containerd run in the node's network namespace but the machine's mount
# namespace (nsenter --net, not ip netns exec): volumes the kubelet mounts must be what runc
# bind-mounts into containers. Each kubelet has its own cgroup root (/NODE), root dir and
# credentials (system:node:NODE, so the Node authorizer and NodeRestriction apply).
KAS_IN_CP=6443

# ---------------------------------------------------------------- PKI
make_pki() {
  local d=$STATE/pki i n
  mkdir -p "$d"
  sign() { # sign NAME SUBJECT EXTENSIONS: an EC key and a certificate signed by the lab CA
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout "$d/$1.key" \
      -out "$d/$1.csr" -subj "$2" 2>/dev/null
    printf '%b\n' "$3" >"$d/$1.ext"
    openssl x509 -req -in "$d/$1.csr" -CA "$d/ca.crt" -CAkey "$d/ca.key" -CAcreateserial \
      -days 30 -out "$d/$1.crt" -extfile "$d/$1.ext" 2>/dev/null
  }
  client() { sign "$1" "$2" "extendedKeyUsage=clientAuth\nkeyUsage=critical,digitalSignature,keyEncipherment"; }
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 30 \
    -keyout "$d/ca.key" -out "$d/ca.crt" -subj "/CN=ironlb-lab-ca" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
  sign apiserver "/CN=kube-apiserver" \
    "subjectAltName=IP:127.0.0.1,IP:$CP_V4,IP:$CP_V6,IP:$KUBERNETES_SVC_V4,IP:$KUBERNETES_SVC_V6,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local\nextendedKeyUsage=serverAuth\nkeyUsage=critical,digitalSignature,keyEncipherment"
  client admin "/O=system:masters/CN=ironlb-lab-admin"
  client apiserver-kubelet "/O=system:masters/CN=kube-apiserver-kubelet-client"
  client kube-controller-manager "/CN=system:kube-controller-manager"
  client kube-scheduler "/CN=system:kube-scheduler"
  client kube-proxy "/CN=system:kube-proxy"
  for i in $(seq 1 "$NODES_N"); do
    n=${P}node$i
    client "node-$n" "/O=system:nodes/CN=system:node:$n"
  done
  openssl genrsa -out "$d/sa.key" 2048 2>/dev/null
  openssl rsa -in "$d/sa.key" -pubout -out "$d/sa.pub" 2>/dev/null
}

kubeconfig() { # kubeconfig FILE SERVER USER-YAML
  cat >"$1" <<KC
apiVersion: v1
kind: Config
clusters:
- name: ironlb-lab
  cluster:
    server: $2
    certificate-authority-data: $(base64 -w0 "$STATE/pki/ca.crt")
users:
- name: user
  user:
$3
contexts:
- name: ironlb-lab
  context: {cluster: ironlb-lab, user: user}
current-context: ironlb-lab
KC
  chmod 600 "$1"
}
cert_user() { # cert_user NAME: the user part of a kubeconfig for certificate NAME
  printf '    client-certificate-data: %s\n    client-key-data: %s' \
    "$(base64 -w0 "$STATE/pki/$1.crt")" "$(base64 -w0 "$STATE/pki/$1.key")"
}
CP_URL() { echo "https://$CP_V4:$KAS_IN_CP"; }

readyz() { curl -sf --max-time 2 --cacert "$STATE/pki/ca.crt" --cert "$STATE/pki/admin.crt" --key "$STATE/pki/admin.key" "https://127.0.0.1:$KAS_PORT/readyz"; }

# ---------------------------------------------------------------- control plane
start_control_plane() {
  spawn etcd "$NS_CP" "$BIN/etcd" --name ironlb-lab --data-dir "$STATE/etcd" \
    --listen-client-urls http://127.0.0.1:2379 --advertise-client-urls http://127.0.0.1:2379 \
    --listen-peer-urls http://127.0.0.1:2380 --initial-advertise-peer-urls http://127.0.0.1:2380 \
    --initial-cluster ironlb-lab=http://127.0.0.1:2380 --listen-metrics-urls "" \
    --unsafe-no-fsync --log-level=warn
  wait_for 20 nsx "$NS_CP" curl -sf http://127.0.0.1:2379/health ||
    die "etcd did not start: $(tail -n1 "$STATE/logs/etcd.log")"
  KAS_PORT=$(freeport)
  kubeconfig "$STATE/admin.kubeconfig" "https://127.0.0.1:$KAS_PORT" "$(cert_user admin)"
  local c
  for c in kube-controller-manager kube-scheduler kube-proxy; do
    kubeconfig "$STATE/$c.kubeconfig" "$(CP_URL)" "$(cert_user "$c")"
  done
  # The machine reaches the API server through 127.0.0.1:$KAS_PORT only.
  spawn apiserver-relay-cp "$NS_CP" socat UNIX-LISTEN:"$STATE/apiserver.sock",fork,unlink-early TCP:127.0.0.1:$KAS_IN_CP
  wait_for 5 test -S "$STATE/apiserver.sock" || die "socat relay did not start: see $STATE/logs/apiserver-relay-cp.log"
  spawn apiserver-relay - socat TCP-LISTEN:"$KAS_PORT",bind=127.0.0.1,reuseaddr,fork UNIX-CONNECT:"$STATE/apiserver.sock"
  start_apiserver
  # API rate 100/s (default 20): the EndpointSlice controller writes one slice per Service, and
  # the layer-2 scale test makes 3,000 of them at once.
  spawn kube-controller-manager "$NS_CP" "$BIN/kube-controller-manager" \
    --kubeconfig="$STATE/kube-controller-manager.kubeconfig" \
    --authentication-kubeconfig="$STATE/kube-controller-manager.kubeconfig" \
    --authorization-kubeconfig="$STATE/kube-controller-manager.kubeconfig" \
    --bind-address=127.0.0.1 --leader-elect=false --use-service-account-credentials=true \
    --service-account-private-key-file="$STATE/pki/sa.key" --root-ca-file="$STATE/pki/ca.crt" \
    --cluster-signing-cert-file="$STATE/pki/ca.crt" --cluster-signing-key-file="$STATE/pki/ca.key" \
    --service-cluster-ip-range="$SERVICE_CIDRS" --cluster-cidr="$POD_CIDRS" --allocate-node-cidrs=false \
    --node-monitor-grace-period=20s --kube-api-qps=100 --kube-api-burst=200 --profiling=false --v=1
  spawn kube-scheduler "$NS_CP" "$BIN/kube-scheduler" \
    --kubeconfig="$STATE/kube-scheduler.kubeconfig" \
    --authentication-kubeconfig="$STATE/kube-scheduler.kubeconfig" \
    --authorization-kubeconfig="$STATE/kube-scheduler.kubeconfig" \
    --bind-address=127.0.0.1 --leader-elect=false --profiling=false --v=1
}

# start_apiserver: kube-apiserver in the control-plane host against its etcd, waited for (also
# after 'ironlb lab stop apiserver': the same address, certificates and data). The control-plane
# host runs no kube-proxy, so ClusterIPs mean nothing there: admission webhooks (MetalLB's, for
# one) are dialled at their Services' endpoints (--enable-aggregator-routing), which the host
# reaches over its pod routes.
start_apiserver() {
  spawn kube-apiserver "$NS_CP" "$BIN/kube-apiserver" \
    --etcd-servers=http://127.0.0.1:2379 \
    --bind-address=0.0.0.0 --secure-port=$KAS_IN_CP --advertise-address="$CP_V4" \
    --tls-cert-file="$STATE/pki/apiserver.crt" --tls-private-key-file="$STATE/pki/apiserver.key" \
    --client-ca-file="$STATE/pki/ca.crt" \
    --kubelet-client-certificate="$STATE/pki/apiserver-kubelet.crt" \
    --kubelet-client-key="$STATE/pki/apiserver-kubelet.key" \
    --kubelet-preferred-address-types=InternalIP \
    --service-account-issuer=https://kubernetes.default.svc.cluster.local \
    --service-account-key-file="$STATE/pki/sa.pub" --service-account-signing-key-file="$STATE/pki/sa.key" \
    --service-cluster-ip-range="$SERVICE_CIDRS" \
    --authorization-mode=Node,RBAC --enable-admission-plugins=NodeRestriction \
    --enable-aggregator-routing=true \
    --allow-privileged=true --profiling=false --v=1
  local n=600
  until readyz >/dev/null 2>&1; do
    is_running kube-apiserver ||
      die "kube-apiserver exited: $(grep -m1 -E '^(E[0-9]{4}|F[0-9]{4}|Error:)' "$STATE/logs/kube-apiserver.log" | cut -c1-300 || true) (log: $STATE/logs/kube-apiserver.log)"
    n=$((n - 1)); [ $n -gt 0 ] || die "kube-apiserver not ready after 60 s: see $STATE/logs/kube-apiserver.log"
    sleep 0.1
  done
}

# ---------------------------------------------------------------- nodes
node_dir() { echo "$STATE/nodes/$1"; }
node_sock() { echo "$(node_dir "$1")/containerd.sock"; }
nctr() { local n=$1; shift; ctr -a "$(node_sock "$n")" -n k8s.io "$@"; }

# spawn_node NAME NODE CMD...: like spawn, in NODE's network namespace but the machine's mounts.
spawn_node() {
  local name=$1 node=$2; shift 2
  env "$MARK" setsid nsenter --net="/run/netns/$node" "$@" </dev/null >>"$STATE/logs/$name.log" 2>&1 9>&- &
  echo $! >"$STATE/pids/$name.pid"
}

containerd_conf() { # containerd_conf NODE
  local d; d=$(node_dir "$1")
  cat <<TOML
version = 2
root = "$d/containerd/root"
state = "$d/containerd/state"
[grpc]
  address = "$d/containerd.sock"
[ttrpc]
  address = "$d/containerd.sock.ttrpc"
[plugins."io.containerd.internal.v1.opt"]
  path = "$d/containerd/opt"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$LAB_PAUSE_IMAGE"
  # No CAP_SYS_RESOURCE on these machines: runc may not lower oom_score_adj below its own.
  restrict_oom_score_adj = true
  disable_apparmor = true
  stream_server_address = "127.0.0.1"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        Root = "$d/runc"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$d/cni"
TOML
}

cni_conf() { # cni_conf NODE INDEX
  cat <<JSON
{"cniVersion": "0.4.0", "name": "ironlb-lab", "plugins": [
  {"type": "bridge", "bridge": "cni0", "isGateway": true, "ipMasq": false, "hairpinMode": true,
   "ipam": {"type": "host-local", "dataDir": "$(node_dir "$1")/ipam",
            "ranges": [[{"subnet": "$(pod_v4 "$2")"}], [{"subnet": "$(pod_v6 "$2")"}]],
            "routes": [{"dst": "0.0.0.0/0"}, {"dst": "::/0"}]}},
  {"type": "portmap", "capabilities": {"portMappings": true}}
]}
JSON
}

kubelet_conf() { # kubelet_conf NODE
  cat <<YAML
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
# These machines run cgroup v1; several kubelets share it, each under its own root.
failCgroupV1: false
cgroupDriver: cgroupfs
cgroupRoot: /$1
containerRuntimeEndpoint: unix://$(node_sock "$1")
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: false}
  x509: {clientCAFile: $STATE/pki/ca.crt}
authorization: {mode: AlwaysAllow}
failSwapOn: false
# Images cannot be pulled again here (no registry): never collect them.
imageGCHighThresholdPercent: 100
evictionHard: {memory.available: 100Mi, nodefs.available: 1%, imagefs.available: 1%, nodefs.inodesFree: 1%}
maxPods: 14
serializeImagePulls: false
# Each kubelet's own container logs: every kubelet deletes the directories in its pod logs
# dir of pods it does not run, so in a shared /var/log/pods the nodes (and labs) deleted
# each other's logs, and 'kubectl logs' came back empty.
podLogsDir: $(node_dir "$1")/pod-logs
YAML
}

kube_proxy_conf() { # kube_proxy_conf NODE
  cat <<YAML
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
mode: nftables
hostnameOverride: $1
clusterCIDR: $POD_CIDRS
clientConnection: {kubeconfig: $STATE/kube-proxy.kubeconfig}
# Leave the machine-wide conntrack table size alone.
conntrack: {maxPerCore: 0}
metricsBindAddress: 127.0.0.1:10249
healthzBindAddress: 127.0.0.1:10256
YAML
}

start_node() { # start_node INDEX: containerd, kubelet and kube-proxy of node INDEX
  local i=$1 n=${P}node$1 d
  d=$(node_dir "$n")
  mkdir -p "$d/cni" "$d/kubelet"
  containerd_conf "$n" >"$d/containerd.toml"
  cni_conf "$n" "$i" >"$d/cni/10-ironlb-lab.conflist"
  kubelet_conf "$n" >"$d/kubelet.yaml"
  kube_proxy_conf "$n" >"$d/kube-proxy.yaml"
  kubeconfig "$d/kubelet.kubeconfig" "$(CP_URL)" "$(cert_user "node-$n")"
  node_cgroups "$n"
  spawn_node "containerd-$n" "$n" containerd --config "$d/containerd.toml"
  wait_for 20 nctr "$n" version || die "containerd of $n did not start: $(tail -n1 "$STATE/logs/containerd-$n.log") (log $STATE/logs/containerd-$n.log)"
  load_images "$n"
  spawn_node "kubelet-$n" "$n" "$BIN/kubelet" --config="$d/kubelet.yaml" \
    --kubeconfig="$d/kubelet.kubeconfig" --hostname-override="$n" \
    --node-ip="$(node_v4 "$i"),$(node_v6 "$i")" --root-dir="$d/kubelet" --cert-dir="$d/kubelet/pki" \
    --node-labels=ironlb.io/lab=true --v=1
  spawn_node "kube-proxy-$n" "$n" "$BIN/kube-proxy" --config="$d/kube-proxy.yaml"
}

# node_cgroups NODE: the kubelet's cgroup root /NODE in every cgroup v1 hierarchy (cpuset's
# with its parent's CPUs and memory nodes, which a new cpuset cgroup does not inherit).
node_cgroups() {
  local h
  for h in /sys/fs/cgroup/*/; do
    [ -f "${h}cgroup.procs" ] && [ "${h%/}" != /sys/fs/cgroup/unified ] || continue
    mkdir -p "$h$1"
    if [ -f "${h}cpuset.cpus" ]; then
      cat "${h}cpuset.cpus" >"$h$1/cpuset.cpus"
      cat "${h}cpuset.mems" >"$h$1/cpuset.mems"
    fi
  done
}

# wait_nodes_ready: every node registered and Ready, or die naming the first that is not.
wait_nodes_ready() {
  local n i
  for i in $(seq 1 "$NODES_N"); do
    n=${P}node$i
    wait_for 90 kc wait --for=condition=Ready "node/$n" --timeout=1s ||
      die "node $n is not Ready after 90 s: $(grep -E '^[EF][0-9]{4}' "$STATE/logs/kubelet-$n.log" | grep -v RuntimeConfig | tail -n1 | cut -c1-300 || true) (log $STATE/logs/kubelet-$n.log)"
  done
}

# ---------------------------------------------------------------- teardown of the runtime
# Container logs: each kubelet writes them to its node's pod-logs dir (labs started by an
# older binary: the machine's /var/log/pods); keep them with the lab's logs (a failed 'up'
# copies those) and leave nothing in /var/log/pods.
collect_pod_logs() {
  local d uid l
  for l in "$STATE"/nodes/*/pod-logs/*/; do
    [ -d "$l" ] || continue
    mkdir -p "$STATE/logs/pods"
    cp -r "$l" "$STATE/logs/pods/" 2>/dev/null || true
  done
  for d in "$STATE"/nodes/*/kubelet/pods/*/; do
    [ -d "$d" ] || continue
    uid=$(basename "$d")
    for l in /var/log/pods/*_"$uid"; do
      [ -d "$l" ] || continue
      mkdir -p "$STATE/logs/pods"
      cp -r "$l" "$STATE/logs/pods/" 2>/dev/null || true
      rm -rf "$l"
    done
  done
}

# Every process in the lab's kubelet cgroup trees (containers), then the trees themselves,
# mounts under $STATE and the CNI's pod namespaces nothing uses any more.
cluster_down() {
  local root sub pids n d
  for d in "$STATE"/nodes/*/; do
    [ -d "$d" ] || continue
    n=$(basename "$d")
    for root in /sys/fs/cgroup/*/; do
      sub="$root$n"
      [ -d "$sub" ] || continue
      pids=$(find "$sub" -name cgroup.procs -exec cat {} + 2>/dev/null | sort -u)
      [ -n "$pids" ] && kill -9 $pids 2>/dev/null || true
    done
  done
  sleep 0.2
  collect_pod_logs
  { findmnt -rn -o TARGET | grep "^$STATE/" || true; } | sort -r | while read -r m; do umount -l "$m" 2>/dev/null || true; done
  for d in "$STATE"/nodes/*/; do
    [ -d "$d" ] || continue
    n=$(basename "$d")
    for root in /sys/fs/cgroup/*/; do
      [ -d "$root$n" ] && find "$root$n" -depth -type d -exec rmdir {} \; 2>/dev/null || true
    done
  done
  # The CNI's namespaces of pods that no longer run (another lab's keep their pause process).
  for n in $(ip netns list 2>/dev/null | awk '{print $1}' | grep '^cni-' || true); do
    [ -z "$(ip netns pids "$n" 2>/dev/null)" ] && ip netns del "$n" 2>/dev/null || true
  done
}
