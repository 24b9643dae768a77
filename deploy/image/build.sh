#!/usr/bin/env bash
# Builds the IronLB image offline, without Docker or a base image: a FROM-scratch OCI image
# holding three statically linked binaries (glibc static-pie), made with umoci (Debian package).
# The same image as deploy/image/Dockerfile: /ironlb-controller (entrypoint), /ironlb-speaker,
# /ironlb; user 65534:65534; OCI labels.
#
#   deploy/image/build.sh [OUT]      OUT: OCI layout dir, default target/oci/ironlb
#   IRONLB_IMAGE_SKIP_BUILD=1 ...    reuse binaries already in target/x86_64-unknown-linux-gnu/release
#
# At the end, tests/tests/image.rs checks the image config and content;
# `skopeo copy oci:OUT:0.1.0 docker-archive:ironlb.tar` or `podman load` hands it on.
set -Eeuo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
OUT=$(realpath -m "${1:-$HERE/../../target/oci/ironlb}")
cd "$HERE/../.."
VERSION=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n1)
TAG=$VERSION
TRIPLE=x86_64-unknown-linux-gnu
BIN=target/$TRIPLE/release

die() { echo "deploy/image/build.sh: $*" >&2; exit 1; }
command -v umoci >/dev/null || die "umoci is missing: apt-get install -y umoci"
[ "$(id -u)" = 0 ] || die "needs root (umoci unpack keeps file ownership): run it as root"

if [ -z "${IRONLB_IMAGE_SKIP_BUILD:-}" ]; then
  # --target keeps these artifacts apart from the ordinary (dynamic) build in target/release.
  RUSTFLAGS="-C target-feature=+crt-static" cargo build --release --locked --target "$TRIPLE" \
    -p ironlb-controller -p ironlb-speaker -p ironlb-cli
fi
for b in ironlb-controller ironlb-speaker ironlb; do
  [ -x "$BIN/$b" ] || die "$BIN/$b is missing: run without IRONLB_IMAGE_SKIP_BUILD"
  # A FROM-scratch image has no loader and no libc: the binary must need none.
  if file "$BIN/$b" | grep -q "interpreter"; then die "$BIN/$b is not statically linked"; fi
done

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
rm -rf "$OUT"
mkdir -p "$(dirname "$OUT")"
umoci init --layout "$OUT"
umoci new --image "$OUT:$TAG"
umoci unpack --image "$OUT:$TAG" "$WORK/bundle" >/dev/null
for b in ironlb-controller ironlb-speaker ironlb; do
  install --strip -m 0755 -o 0 -g 0 "$BIN/$b" "$WORK/bundle/rootfs/$b"
done
umoci repack --image "$OUT:$TAG" "$WORK/bundle"
umoci config --image "$OUT:$TAG" \
  --os linux --architecture amd64 \
  --config.user 65534:65534 \
  --config.entrypoint /ironlb-controller \
  --config.workingdir / \
  --config.label org.opencontainers.image.title=IronLB \
  --config.label "org.opencontainers.image.description=Bare-metal LoadBalancer for Kubernetes" \
  --config.label org.opencontainers.image.licenses=Apache-2.0 \
  --config.label "org.opencontainers.image.version=$VERSION" \
  --config.label "org.opencontainers.image.revision=$(git rev-parse HEAD 2>/dev/null || echo unknown)" \
  --history.created_by "deploy/image/build.sh" \
  --history.comment "IronLB $VERSION: static binaries, FROM scratch"
umoci gc --layout "$OUT"
echo "built OCI image $OUT:$TAG" >&2
# The image config and content, checked by a test (it reads $OUT).
IRONLB_IMAGE_LAYOUT=$OUT cargo test -q -p ironlb-tests --test image -- --ignored
