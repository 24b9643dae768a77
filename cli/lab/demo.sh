#!/usr/bin/env bash
# The README's first command: build IronLB, bring the lab up, and show a LoadBalancer Service
# getting an external IP that a client on the LAN reaches. Needs root. Leaves the lab running
# (take it down with: target/debug/ironlb lab down).
set -euo pipefail
# Toolchains where this machine kind installs them, in case PATH lacks them (e.g. under sudo).
export PATH="$PATH:/usr/local/go/bin:${HOME:-/root}/.cargo/bin"
cd "$(dirname "$0")/../.."
[ "$(id -u)" = 0 ] || { echo "demo: needs root (network namespaces): run it with sudo" >&2; exit 1; }
say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

say "Building IronLB"
cargo build --workspace --quiet

say "Bringing the lab up (first run builds kube-apiserver + etcd from Go: several minutes)"
eval "$(target/debug/ironlb lab up)"
kubectl() { "$IRONLB_LAB_KUBECTL" "$@"; }
kubectl get nodes -o wide

say "Applying a MetalLB-style layer-2 pool (deploy/examples/config-layer2.yaml)"
target/debug/ironlb config validate deploy/examples/config-layer2.yaml
kubectl apply -f deploy/examples/config-layer2.yaml

say "Creating a LoadBalancer Service 'web' with a ready endpoint on ${IRONLB_LAB_NODES%% *}"
kubectl create namespace demo --dry-run=client -o yaml | kubectl apply -f -
node=${IRONLB_LAB_NODES%% *}
node_ip=$(kubectl get node "$node" -o jsonpath='{.status.addresses[?(@.type=="InternalIP")].address}' | awk '{print $1}')
kubectl apply -f - <<YAML
apiVersion: v1
kind: Service
metadata: {name: web, namespace: demo}
spec:
  type: LoadBalancer
  ports: [{name: http, port: 80, protocol: TCP}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: web-1
  namespace: demo
  labels: {kubernetes.io/service-name: web}
addressType: IPv4
ports: [{name: http, port: 80, protocol: TCP}]
endpoints:
- addresses: ["$node_ip"]
  conditions: {ready: true}
  nodeName: $node
YAML

say "Waiting for the external IP"
ip=""
for _ in $(seq 1 100); do
  ip=$(kubectl -n demo get svc web -o jsonpath='{.status.loadBalancer.ingress[0].ip}')
  [ -n "$ip" ] && break
  sleep 0.1
done
kubectl -n demo get svc web
[ -n "$ip" ] || { echo "demo: the Service got no IP; see /run/ironlb-lab/logs/controller.log" >&2; exit 1; }

say "From the client ($IRONLB_LAB_CLIENT): who answers ARP for $ip, and which node serves HTTP"
ip netns exec "$IRONLB_LAB_CLIENT" arping -c 2 -w 3 -I "$IRONLB_LAB_CLIENT_IF" "$ip" || true
ip netns exec "$IRONLB_LAB_CLIENT" curl -sS --max-time 3 "http://$ip/" && echo

say "Done. The lab keeps running; its exports:"
target/debug/ironlb lab env
