#!/usr/bin/env bash
# Builds kube-apiserver and etcd from their Go modules through the Go module proxy,
# once per version, into a cache outside the repository. Prints the bin directory.
# Usage: build-control-plane.sh   (env: IRONLB_CACHE, IRONLB_K8S_VERSION, IRONLB_ETCD_VERSION)
set -euo pipefail
K8S=${IRONLB_K8S_VERSION:-1.35.4}
ETCD_V=${IRONLB_ETCD_VERSION:-3.6.16}
CACHE=${IRONLB_CACHE:-/var/cache/ironlb}
OUT="$CACHE/bin"
mkdir -p "$OUT"
export GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS=-buildvcs=false
command -v go >/dev/null || { echo "lab: the Go toolchain is missing: install Go >= 1.25 (needed to build kube-apiserver and etcd)" >&2; exit 1; }

log() { echo "lab: $*" >&2; }

build_etcd() {
  local bin="$OUT/etcd-$ETCD_V"
  [ -x "$bin" ] && return 0
  log "building etcd v$ETCD_V from go.etcd.io/etcd/server/v3 (once; cached in $OUT)"
  local b; b=$(mktemp -d); trap 'rm -rf "$b"' RETURN
  ( cd "$b"
    go mod init local/etcdbuild >/dev/null 2>&1
    go get "go.etcd.io/etcd/server/v3@v$ETCD_V" >&2
    go build -mod=mod -trimpath -ldflags "-s -w" -o "$bin.tmp" go.etcd.io/etcd/server/v3 >&2 )
  mv "$bin.tmp" "$bin"
}

build_kas() {
  local bin="$OUT/kube-apiserver-$K8S"
  [ -x "$bin" ] && return 0
  log "building kube-apiserver v$K8S from k8s.io/kubernetes (once, 10-20 min; cached in $OUT)"
  local minor staging b gomod goline ldf
  minor=$(cut -d. -f2 <<<"$K8S"); staging="0.${K8S#1.}"
  b=$(mktemp -d); trap 'rm -rf "$b"' RETURN
  ( cd "$b"
    go mod init local/kasbuild >/dev/null 2>&1
    # k8s.io/kubernetes replaces its staging modules with ./staging paths, which a consumer
    # ignores: mirror each replace with the published module of the same release.
    gomod=$(go mod download -json "k8s.io/kubernetes@v$K8S" | python3 -c 'import json,sys; print(json.load(sys.stdin)["GoMod"])')
    for m in $(sed -n 's#^[[:space:]]*\(k8s\.io/[A-Za-z0-9._-]*\) => \./staging/src/.*#\1#p' "$gomod"); do
      go mod edit -replace="$m=$m@v$staging"
    done
    goline=$(sed -n 's/^go \([0-9.]*\)$/\1/p' "$gomod"); go mod edit -go="$goline"
    sed -n 's/^godebug \(.*\)$/godebug \1/p' "$gomod" >> go.mod
    go get "k8s.io/kubernetes/cmd/kube-apiserver@v$K8S" >&2
    ldf="-s -w"
    for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
      ldf+=" -X $p.gitVersion=v$K8S -X $p.gitMajor=1 -X $p.gitMinor=$minor -X $p.gitTreeState=clean"
    done
    go build -mod=mod -trimpath -ldflags "$ldf" -o "$bin.tmp" k8s.io/kubernetes/cmd/kube-apiserver >&2 )
  mv "$bin.tmp" "$bin"
}

build_etcd
build_kas
ln -sf "etcd-$ETCD_V" "$OUT/etcd"
ln -sf "kube-apiserver-$K8S" "$OUT/kube-apiserver"
echo "$OUT"
