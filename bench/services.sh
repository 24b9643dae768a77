# Sourced by the bench scripts (bash): the Services they announce.

# write_services COUNT NODE NAMESPACE PREFIX: COUNT IPv6 LoadBalancer Services in NAMESPACE,
# each with a ready endpoint on NODE (an EndpointSlice of its own), written as PREFIX.N.json,
# one List per 500 objects.
write_services() {
  python3 - "$@" <<'EOF'
import json, sys
count, node, ns, prefix = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
items = []
for i in range(count):
    name = f"svc-{i}"
    items.append({"apiVersion": "v1", "kind": "Service",
                  "metadata": {"name": name, "namespace": ns,
                               # kube-proxy leaves them alone: its nftables churn is not measured here
                               "labels": {"service.kubernetes.io/service-proxy-name": "none"}},
                  "spec": {"type": "LoadBalancer", "ipFamilies": ["IPv6"],
                           "ipFamilyPolicy": "SingleStack", "allocateLoadBalancerNodePorts": False,
                           "ports": [{"port": 80, "protocol": "TCP"}], "selector": {"app": name}}})
    items.append({"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
                  "metadata": {"name": name, "namespace": ns,
                               "labels": {"kubernetes.io/service-name": name}},
                  "addressType": "IPv6",
                  "endpoints": [{"addresses": ["2001:db8:99::1"], "nodeName": node,
                                 "conditions": {"ready": True}}],
                  "ports": [{"port": 80, "protocol": "TCP"}]})
for n, start in enumerate(range(0, len(items), 500)):
    with open(f"{prefix}.{n}.json", "w") as f:
        json.dump({"apiVersion": "v1", "kind": "List", "items": items[start:start + 500]}, f)
EOF
}

# apply_services COUNT NODE DIR: the lab in the environment gets the layer-2 pool
# 2001:db8:1::1000-1fff (its only config) and COUNT such Services in namespace rss-bench, all
# announced from NODE; DIR holds the generated lists.
apply_services() {
  local f
  "$IRONLB_LAB_KUBECTL" -n "$IRONLB_LAB_NAMESPACE" create configmap config --dry-run=client -o yaml \
    --from-literal=config="address-pools:
- name: bench
  protocol: layer2
  addresses: [2001:db8:1::1000-2001:db8:1::1fff]
" | "$IRONLB_LAB_KUBECTL" apply -f - >/dev/null
  "$IRONLB_LAB_KUBECTL" create namespace rss-bench >/dev/null
  write_services "$1" "$2" rss-bench "$3/objects"
  for f in "$3"/objects.*.json; do "$IRONLB_LAB_KUBECTL" apply -f "$f" >/dev/null; done
}

# echo_daemonset NAMESPACE: the YAML of a DaemonSet `echo` of the lab's echo image (an echo pod
# on every node, labelled app=echo), for `kubectl apply -f -`.
echo_daemonset() {
  cat <<YAML
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: echo, namespace: $1}
spec:
  selector: {matchLabels: {app: echo}}
  template:
    metadata: {labels: {app: echo}}
    spec:
      containers: [{name: echo, image: "$IRONLB_LAB_ECHO_IMAGE", ports: [{containerPort: 8080}]}]
YAML
}

# set_config TEXT: the config ConfigMap of IronLB in the lab in the environment holds TEXT.
set_config() {
  "$IRONLB_LAB_KUBECTL" -n "$IRONLB_LAB_NAMESPACE" create configmap config --dry-run=client -o yaml \
    --from-literal=config="$1" | "$IRONLB_LAB_KUBECTL" apply -f - >/dev/null
}
