#!/usr/bin/env bash
# Builds the lab cluster's Kubernetes binaries (kube-apiserver, kube-controller-manager,
# kube-scheduler, kubelet, kube-proxy, kubectl) and etcd from their Go modules through the Go
# module proxy, once per version, into a cache outside the repository. Prints the bin directory.
# Env: IRONLB_CACHE (default /var/cache/ironlb), IRONLB_K8S_VERSION, IRONLB_ETCD_VERSION.
set -euo pipefail
K8S=${IRONLB_K8S_VERSION:-1.35.4}
ETCD_V=${IRONLB_ETCD_VERSION:-3.6.16}
CACHE=${IRONLB_CACHE:-/var/cache/ironlb}
OUT="$CACHE/bin"
mkdir -p "$OUT" "$CACHE/src"
export GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS=-buildvcs=false
log() { echo "lab: $*" >&2; }
command -v go >/dev/null || { log "the Go toolchain is missing: install Go >= 1.25 (it builds kube-apiserver and etcd)"; exit 1; }

build_etcd() {
  local bin="$OUT/etcd-$ETCD_V" src="$CACHE/src/etcd-$ETCD_V"
  [ -x "$bin" ] && return 0
  log "building etcd v$ETCD_V from go.etcd.io/etcd/server/v3 (once; cached in $OUT)"
  mkdir -p "$src"
  ( cd "$src"
    [ -f go.mod ] || go mod init local/etcdbuild >/dev/null 2>&1
    go get "go.etcd.io/etcd/server/v3@v$ETCD_V" >&2
    go build -mod=mod -trimpath -ldflags "-s -w" -o "$bin.tmp" go.etcd.io/etcd/server/v3 >&2 )
  mv "$bin.tmp" "$bin"
}

# A wrapper module around k8s.io/kubernetes: that module replaces its staging modules with
# ./staging paths, which a consumer ignores, so mirror each replace with the published module.
k8s_module() {
  local src="$CACHE/src/k8s-$K8S" staging gomod goline
  if [ ! -f "$src/.ready" ]; then
    staging="0.${K8S#1.}"
    rm -rf "$src"; mkdir -p "$src"
    ( cd "$src"
      go mod init local/k8sbuild >/dev/null 2>&1
      gomod=$(go mod download -json "k8s.io/kubernetes@v$K8S" | python3 -c 'import json,sys; print(json.load(sys.stdin)["GoMod"])')
      for m in $(sed -n 's#^[[:space:]]*\(k8s\.io/[A-Za-z0-9._-]*\) => \./staging/src/.*#\1#p' "$gomod"); do
        go mod edit -replace="$m=$m@v$staging"
      done
      goline=$(sed -n 's/^go \([0-9.]*\)$/\1/p' "$gomod"); go mod edit -go="$goline"
      sed -n 's/^godebug \(.*\)$/godebug \1/p' "$gomod" >> go.mod
      go get $(printf "k8s.io/kubernetes/cmd/%s@v$K8S " "${K8S_CMDS[@]}") >&2 )
    touch "$src/.ready"
  fi
  echo "$src"
}

# The Kubernetes commands the lab runs; built together, so shared packages compile once.
K8S_CMDS=(kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy kubectl)

build_k8s_cmds() {
  local missing=() name src minor ldf tmp
  for name in "${K8S_CMDS[@]}"; do [ -x "$OUT/$name-$K8S" ] || missing+=("$name"); done
  [ ${#missing[@]} -gt 0 ] || return 0
  log "building ${missing[*]} v$K8S from k8s.io/kubernetes (once, about 10 min on 2 cores; cached in $OUT)"
  src=$(k8s_module)
  minor=$(cut -d. -f2 <<<"$K8S")
  ldf="-s -w"
  for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ldf+=" -X $p.gitVersion=v$K8S -X $p.gitMajor=1 -X $p.gitMinor=$minor -X $p.gitTreeState=clean"
  done
  tmp="$OUT/.build-$K8S"; rm -rf "$tmp"; mkdir -p "$tmp"
  ( cd "$src" && go build -mod=mod -trimpath -ldflags "$ldf" -o "$tmp/" \
      $(printf "k8s.io/kubernetes/cmd/%s " "${missing[@]}") >&2 )
  for name in "${missing[@]}"; do mv "$tmp/$name" "$OUT/$name-$K8S"; done
  rm -rf "$tmp"
}

build_etcd
build_k8s_cmds
ln -sfn "etcd-$ETCD_V" "$OUT/etcd"
for name in "${K8S_CMDS[@]}"; do ln -sfn "$name-$K8S" "$OUT/$name"; done
echo "$OUT"
