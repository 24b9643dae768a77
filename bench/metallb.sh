# Sourced by the bench scripts that run MetalLB beside IronLB in the lab (bash): MetalLB built
# from its Go module through the Go module proxy into images made offline, and installed from
# its own manifests, changed only where the lab must.
#
# Two eras: up to v0.12 MetalLB reads the legacy ConfigMap (IronLB's format too); from v0.13 it
# reads its CRDs (IPAddressPool, L2Advertisement, ...) through a validating webhook its controller
# serves. metallb_use picks the version (and, from v0.13, a memberlist preset).

# metallb_use VERSION[:PRESET]: the MetalLB the other functions build, load and install.
# PRESET (v0.16 and later): `local`, memberlist's DefaultLocalConfig (its fastest documented
# preset: a probe a second, 200 ms probe timeout, suspicion 3 intervals), given to the speakers
# through the optional ConfigMap metallb-memberlist-config their manifest mounts; none: the
# speakers' defaults (DefaultLANConfig).
metallb_use() {
  METALLB_VERSION=${1%%:*}
  METALLB_PRESET=
  [[ $1 == *:* ]] && METALLB_PRESET=${1#*:}
  METALLB_CACHE=${IRONLB_CACHE:-/var/cache/ironlb}/metallb/$METALLB_VERSION
  case $METALLB_VERSION in
    v0.[0-9].*|v0.1[0-2].*) METALLB_ERA=configmap ;;
    *) METALLB_ERA=crds ;;
  esac
  case $METALLB_PRESET in
    ''|local) ;;
    *) echo "bench/metallb.sh: unknown memberlist preset '$METALLB_PRESET' (local)" >&2; return 2 ;;
  esac
  [ -z "$METALLB_PRESET" ] || [ "$METALLB_ERA" = crds ] ||
    { echo "bench/metallb.sh: $METALLB_VERSION takes no memberlist settings (v0.16 and later do)" >&2; return 2; }
}
metallb_use "${METALLB_VERSION:-v0.12.1}"

# metallb_label: the product's name in results, e.g. metallb-v0.16.2-local.
metallb_label() { echo "metallb-$METALLB_VERSION${METALLB_PRESET:+-$METALLB_PRESET}"; }

# metallb_build: go.universe.tf/metallb@$METALLB_VERSION's speaker and controller, static, each in
# an OCI layout ($METALLB_CACHE/speaker, .../controller) under the name its manifest uses.
# Cached: a second call returns at once.
metallb_build() {
  local src=$METALLB_CACHE/src c work
  [ -f "$METALLB_CACHE/speaker/index.json" ] && [ -f "$METALLB_CACHE/controller/index.json" ] && return 0
  mkdir -p "$METALLB_CACHE"
  if [ ! -f "$src/go.mod" ]; then
    local dir
    dir=$(cd /tmp && GOFLAGS=-mod=mod go mod download -json "go.universe.tf/metallb@$METALLB_VERSION" |
      python3 -c 'import json, sys; print(json.load(sys.stdin)["Dir"])')
    rm -rf "$src"
    cp -r "$dir" "$src"
    chmod -R u+w "$src"
  fi
  for c in speaker controller; do
    # Its go.mod may suggest a newer toolchain than this machine's; the go directive decides.
    (cd "$src" && CGO_ENABLED=0 GOTOOLCHAIN=local GOFLAGS=-mod=mod go build -trimpath -o "$METALLB_CACHE/bin/$c" "./$c") ||
      { echo "bench/metallb.sh: building MetalLB $METALLB_VERSION's $c failed" >&2; return 1; }
    work=$(mktemp -d)
    rm -rf "$METALLB_CACHE/$c"
    umoci init --layout "$METALLB_CACHE/$c"
    umoci new --image "$METALLB_CACHE/$c:$METALLB_VERSION"
    umoci unpack --image "$METALLB_CACHE/$c:$METALLB_VERSION" "$work/bundle" >/dev/null
    install -m 0755 -o 0 -g 0 "$METALLB_CACHE/bin/$c" "$work/bundle/rootfs/$c"
    umoci repack --image "$METALLB_CACHE/$c:$METALLB_VERSION" "$work/bundle"
    umoci config --image "$METALLB_CACHE/$c:$METALLB_VERSION" --os linux --architecture amd64 \
      --config.entrypoint "/$c" --config.workingdir / >/dev/null
    umoci gc --layout "$METALLB_CACHE/$c"
    rm -rf "$work"
  done
}

# metallb_load: both images into every node's containerd of the lab in the environment, as
# quay.io/metallb/{speaker,controller}:$METALLB_VERSION (the manifest's names: it is not changed).
metallb_load() {
  local c n tar
  tar=$(mktemp /tmp/metallb-image.XXXXXX.tar)
  for c in speaker controller; do
    tar -C "$METALLB_CACHE/$c" -cf "$tar" .
    for n in $IRONLB_LAB_NODES; do
      local ctr=(ctr -a "$IRONLB_LAB_STATE/nodes/$n/containerd.sock" -n k8s.io)
      "${ctr[@]}" images import --base-name "quay.io/metallb/$c" "$tar" >/dev/null
    done
  done
  rm -f "$tar"
}

# metallb_install CONFIG: MetalLB from its manifests, its memberlist Secret and CONFIG (a legacy
# config document, as IronLB reads it; from v0.13 its layer-2 pools become an IPAddressPool and
# an L2Advertisement each); waits until every speaker and the controller are ready.
metallb_install() {
  local k=$IRONLB_LAB_KUBECTL
  if [ "$METALLB_ERA" = configmap ]; then
    local src=$METALLB_CACHE/src/manifests
    "$k" apply -f "$src/namespace.yaml" >/dev/null
    # Without the PodSecurityPolicies, which Kubernetes has not served since 1.25.
    python3 - "$src/metallb.yaml" <<'EOF' | "$k" apply -f - >/dev/null
import sys, yaml
docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d and d.get("kind") != "PodSecurityPolicy"]
print(yaml.safe_dump_all(docs))
EOF
  else
    [ -z "$METALLB_PRESET" ] || grep -q metallb-memberlist-config "$METALLB_CACHE/src/config/manifests/metallb-native.yaml" ||
      { echo "bench/metallb.sh: MetalLB $METALLB_VERSION's speakers read no memberlist settings (v0.16 and later do)" >&2; return 2; }
    # Created, not applied: its CRDs are too large for the last-applied annotation.
    "$k" create -f "$METALLB_CACHE/src/config/manifests/metallb-native.yaml" >/dev/null
    [ "$METALLB_PRESET" = local ] && "$k" -n metallb-system create configmap metallb-memberlist-config \
      --from-literal=config.json="$(metallb_memberlist_local)" >/dev/null
  fi
  "$k" -n metallb-system create secret generic memberlist \
    --from-literal=secretkey="$(head -c 128 /dev/urandom | base64 -w0)" >/dev/null
  [ "$METALLB_ERA" = configmap ] && "$k" -n metallb-system create configmap config --from-literal=config="$1" >/dev/null
  "$k" -n metallb-system rollout status daemonset/speaker --timeout=300s >/dev/null
  "$k" -n metallb-system rollout status deployment/controller --timeout=300s >/dev/null
  [ "$METALLB_ERA" = configmap ] && return 0
  # The webhook admits the objects once the controller has made its certificate.
  local objects i
  objects=$(metallb_crd_objects "$1")
  for i in $(seq 60); do
    "$k" apply -f - >/dev/null 2>&1 <<<"$objects" && return 0
    sleep 2
  done
  "$k" apply -f - <<<"$objects" >/dev/null
}

# metallb_crd_objects CONFIG: the legacy document's layer-2 pools as metallb.io/v1beta1
# IPAddressPools with an L2Advertisement each (the bench configs hold nothing else).
metallb_crd_objects() {
  python3 - "$1" <<'EOF'
import sys, yaml
objs = []
for p in yaml.safe_load(sys.argv[1]).get("address-pools") or []:
    if p.get("protocol") != "layer2":
        sys.exit(f"bench/metallb.sh: pool {p.get('name')} is not layer2")
    meta = {"name": p["name"], "namespace": "metallb-system"}
    objs.append({"apiVersion": "metallb.io/v1beta1", "kind": "IPAddressPool", "metadata": meta,
                 "spec": {"addresses": p["addresses"], "autoAssign": p.get("auto-assign", True)}})
    objs.append({"apiVersion": "metallb.io/v1beta1", "kind": "L2Advertisement", "metadata": meta,
                 "spec": {"ipAddressPools": [p["name"]]}})
print(yaml.safe_dump_all(objs))
EOF
}

# metallb_memberlist_local: memberlist's DefaultLocalConfig as the speakers' config.json (every
# field is required there).
metallb_memberlist_local() {
  cat <<'EOF'
{"TCPTimeout": "1s", "IndirectChecks": 1, "RetransmitMult": 2, "SuspicionMult": 3,
 "SuspicionMaxTimeoutMult": 6, "PushPullInterval": "15s", "ProbeTimeout": "200ms",
 "ProbeInterval": "1s", "DisableTcpPings": false, "AwarenessMaxMultiplier": 8, "GossipNodes": 3,
 "GossipInterval": "100ms", "GossipToTheDeadTime": "15s", "GossipVerifyIncoming": true,
 "GossipVerifyOutgoing": true, "EnableCompression": true, "HandoffQueueDepth": 1024,
 "UDPBufferSize": 1400, "QueueCheckInterval": "30s"}
EOF
}

# metallb_remove: MetalLB gone from the lab (waits until its pods are), CRDs and webhook too.
metallb_remove() {
  local k=$IRONLB_LAB_KUBECTL
  if [ "$METALLB_ERA" = crds ]; then
    "$k" delete -f "$METALLB_CACHE/src/config/manifests/metallb-native.yaml" --wait=true --timeout=120s >/dev/null 2>&1 || true
  fi
  "$k" delete namespace metallb-system --wait=true --timeout=120s >/dev/null 2>&1 || true
  "$k" delete clusterrole,clusterrolebinding -l app=metallb >/dev/null 2>&1 || true
}

# ironlb_remove: IronLB's speakers and controller deleted from the lab in the environment (its
# config and the Services' status stay), waited for until their pods are gone.
ironlb_remove() {
  local k=$IRONLB_LAB_KUBECTL
  "$k" -n "$IRONLB_LAB_NAMESPACE" delete daemonset speaker --wait=true >/dev/null
  "$k" -n "$IRONLB_LAB_NAMESPACE" delete deployment controller --wait=true >/dev/null
  "$k" -n "$IRONLB_LAB_NAMESPACE" wait --for=delete pod -l app.kubernetes.io/name=ironlb --timeout=120s >/dev/null 2>&1 || true
}
