# Sourced by the bench scripts that run MetalLB beside IronLB in the lab (bash): MetalLB built
# from its Go module through the Go module proxy into images made offline, and installed from
# its own manifests, changed only where the lab must.

METALLB_VERSION=${METALLB_VERSION:-v0.12.1}
METALLB_CACHE=${IRONLB_CACHE:-/var/cache/ironlb}/metallb/$METALLB_VERSION

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
    (cd "$src" && CGO_ENABLED=0 GOFLAGS=-mod=mod go build -trimpath -o "$METALLB_CACHE/bin/$c" "./$c")
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

# metallb_install CONFIG: MetalLB from its manifests (without the PodSecurityPolicies, which
# Kubernetes has not served since 1.25), its memberlist Secret and CONFIG (a legacy config
# document, as IronLB reads it); waits until every speaker and the controller are ready.
metallb_install() {
  local src=$METALLB_CACHE/src/manifests k=$IRONLB_LAB_KUBECTL
  "$k" apply -f "$src/namespace.yaml" >/dev/null
  python3 - "$src/metallb.yaml" <<'EOF' | "$k" apply -f - >/dev/null
import sys, yaml
docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d and d.get("kind") != "PodSecurityPolicy"]
print(yaml.safe_dump_all(docs))
EOF
  "$k" -n metallb-system create secret generic memberlist \
    --from-literal=secretkey="$(head -c 128 /dev/urandom | base64 -w0)" >/dev/null
  "$k" -n metallb-system create configmap config --from-literal=config="$1" >/dev/null
  "$k" -n metallb-system rollout status daemonset/speaker --timeout=300s >/dev/null
  "$k" -n metallb-system rollout status deployment/controller --timeout=300s >/dev/null
}

# metallb_remove: MetalLB gone from the lab (waits until its pods are).
metallb_remove() {
  "$IRONLB_LAB_KUBECTL" delete namespace metallb-system --wait=true --timeout=120s >/dev/null 2>&1 || true
  "$IRONLB_LAB_KUBECTL" delete clusterrole,clusterrolebinding -l app=metallb >/dev/null 2>&1 || true
}
