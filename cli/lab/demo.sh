#!/usr/bin/env bash
# The README's first command: build IronLB, bring the lab up, and show a LoadBalancer Service
# getting an external IP that a client on the LAN reaches. Needs root. Leaves the lab running
# (take it down with: target/debug/ironlb lab down).
set -euo pipefail
# Toolchains where this machine kind installs them, in case PATH lacks them (e.g. under sudo).
export PATH="$PATH:/usr/local/go/bin:${HOME:-/root}/.cargo/bin"
cd "$(dirname "$0")/../.."
[ "$(id -u)" = 0 ] || { echo "demo: needs root (network namespaces): run it as root" >&2; exit 1; }
say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

say "Building IronLB and its image (static binaries, FROM scratch, offline)"
cargo build --workspace --quiet
target/debug/ironlb lab install   # Debian packages: containerd, runc, CNI plugins, umoci, routers...
bash deploy/image/build.sh

say "Bringing the lab up: a real cluster (first run builds Kubernetes from Go: about 8 minutes)"
eval "$(target/debug/ironlb lab up)"
kubectl() { "$IRONLB_LAB_KUBECTL" "$@"; }
kubectl get nodes -o wide
say "IronLB, installed with 'kubectl apply -k deploy/' (README: Install on a cluster)"
kubectl -n ironlb-system get pods -o wide

say "The pools in force (deploy/examples/config-layer2.yaml, a MetalLB-style ConfigMap)"
target/debug/ironlb config validate deploy/examples/config-layer2.yaml
kubectl -n ironlb-system get configmap config -o jsonpath='{.data.config}'

say "A Deployment of 3 echo pods behind a LoadBalancer Service 'web'"
kubectl create namespace demo --dry-run=client -o yaml | kubectl apply -f -
kubectl -n demo create deployment web --image="$IRONLB_LAB_ECHO_IMAGE" --replicas=3 --port=8080 \
  --dry-run=client -o yaml | kubectl apply -f -
kubectl -n demo expose deployment web --type=LoadBalancer --port=80 --target-port=8080 \
  --dry-run=client -o yaml | kubectl apply -f -
kubectl -n demo rollout status deployment/web --timeout=120s

say "Waiting for the external IP"
ip=""
for _ in $(seq 1 100); do
  ip=$(kubectl -n demo get svc web -o jsonpath='{.status.loadBalancer.ingress[0].ip}')
  [ -n "$ip" ] && break
  sleep 0.1
done
kubectl -n demo get svc web
[ -n "$ip" ] || { echo "demo: the Service got no IP; see 'kubectl -n ironlb-system logs deploy/controller'" >&2; exit 1; }

say "From the client ($IRONLB_LAB_CLIENT): who answers ARP for $ip, and which pods serve HTTP"
ip netns exec "$IRONLB_LAB_CLIENT" arping -c 2 -w 3 -I "$IRONLB_LAB_CLIENT_IF" "$ip" || true
target/debug/ironlb status
for _ in 1 2 3 4; do ip netns exec "$IRONLB_LAB_CLIENT" curl -sS --max-time 3 "http://$ip/"; done

say "Done. The lab keeps running; its exports:"
target/debug/ironlb lab env
