#!/usr/bin/env bash
# Checks the Helm chart (tests/run-all.sh runs it; needs helm, kubectl and python3 with
# PyYAML):
#   1. `helm lint` (values.schema.json included);
#   2. with default values, `helm template` renders the same objects as
#      `kubectl kustomize deploy/` (the chart adds its labels and the memberlist Secret);
#   3. every option renders well-formed YAML (monitoring, config, class, scheduling),
#      and a config given in values passes `ironlb config validate` when the binary is built.
# Helm: $IRONLB_LAB_HELM, else $HELM, else `helm` on the PATH (`ironlb lab helm` builds one from
# its Go module into the lab's cache and prints its path).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
chart="$here/ironlb"

helm=${IRONLB_LAB_HELM:-${HELM:-helm}}
command -v "$helm" >/dev/null || { echo "no helm (set IRONLB_LAB_HELM; \`ironlb lab helm\` builds one)" >&2; exit 2; }
# kubectl: $KUBECTL, else the one on the PATH, else the lab's (cli/lab/build-control-plane.sh).
kubectl=${KUBECTL:-$(command -v kubectl || echo "${IRONLB_CACHE:-/var/cache/ironlb}/bin/kubectl")}
[ -x "$kubectl" ] || { echo "no kubectl (set KUBECTL)" >&2; exit 2; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

echo "== helm lint"
"$helm" lint "$chart" --strict
"$helm" lint "$chart" --strict --set config='address-pools: []' \
  --set prometheus.serviceMonitor.enabled=true,prometheus.podMonitor.enabled=true,prometheus.prometheusRule.enabled=true

echo "== defaults render what deploy/ (kustomize) renders"
"$helm" template ironlb "$chart" --namespace ironlb-system > "$tmp/helm.yaml"
"$kubectl" kustomize "$root/deploy" > "$tmp/kustomize.yaml"
python3 - "$tmp/helm.yaml" "$tmp/kustomize.yaml" <<'PY'
import sys, yaml
CHART_LABELS = {"app.kubernetes.io/instance", "app.kubernetes.io/managed-by",
                "app.kubernetes.io/version", "helm.sh/chart"}
def load(path):
    out = {}
    for o in yaml.safe_load_all(open(path)):
        if not o:
            continue
        labels = o.get("metadata", {}).get("labels") or {}
        for k in CHART_LABELS:
            labels.pop(k, None)
        key = (o["kind"], o["metadata"].get("namespace", ""), o["metadata"]["name"])
        out[key] = o
    return out
helm, kust = load(sys.argv[1]), load(sys.argv[2])
# Helm does not create the release namespace (`helm install --create-namespace`); the
# CRD comes from the chart's crds/ (rendered with --include-crds, checked below).
kust.pop(("Namespace", "", "ironlb-system"))
kust.pop(("CustomResourceDefinition", "", "nodeannouncements.ironlb.io"))
extra = set(helm) - set(kust)
assert extra == {("Secret", "ironlb-system", "memberlist")}, extra
missing = set(kust) - set(helm)
assert not missing, missing
for key, want in kust.items():
    got = helm[key]
    assert got == want, f"{key} differs:\nhelm: {got}\nkustomize: {want}"
print(f"{len(kust)} objects identical; plus the memberlist Secret")
PY
"$helm" template ironlb "$chart" --namespace ironlb-system --include-crds \
  | python3 -c 'import sys,yaml; kinds=[o["kind"] for o in yaml.safe_load_all(sys.stdin) if o]; assert "CustomResourceDefinition" in kinds, kinds'

echo "== every option renders well-formed YAML"
cat > "$tmp/values.yaml" <<'VALUES'
image: {repository: registry.example/ironlb, tag: "9.9.9", pullPolicy: Always}
imagePullSecrets: [{name: pull}]
loadBalancerClass: example.com/lb
onlyLoadBalancerClass: true
config: |
  address-pools:
  - name: default
    protocol: layer2
    addresses:
    - 192.0.2.240-192.0.2.250
memberlist: {create: true, secretKey: not-random}
controller:
  replicas: 3
  tolerations: [{key: dedicated, operator: Equal, value: lb, effect: NoSchedule}]
  nodeSelector: {kubernetes.io/os: linux}
  priorityClassName: system-cluster-critical
speaker:
  tolerations: [{operator: Exists}]
  nodeSelector: {kubernetes.io/os: linux}
  priorityClassName: system-node-critical
prometheus:
  serviceMonitor: {enabled: true, additionalLabels: {release: prom}, interval: 30s}
  podMonitor: {enabled: true}
  prometheusRule: {enabled: true}
VALUES
"$helm" template ironlb "$chart" --namespace lb -f "$tmp/values.yaml" > "$tmp/all.yaml"
python3 - "$tmp/all.yaml" "$tmp/config.yaml" <<'PY'
import sys, yaml, base64
objs = {(o["kind"], o["metadata"]["name"]): o for o in yaml.safe_load_all(open(sys.argv[1])) if o}
for want in [("ServiceMonitor", "ironlb"), ("PodMonitor", "ironlb"), ("PrometheusRule", "ironlb"),
             ("Service", "controller-metrics"), ("Service", "speaker-metrics"), ("ConfigMap", "config")]:
    assert want in objs, want
ctl = objs[("Deployment", "controller")]["spec"]["template"]["spec"]
assert ctl["priorityClassName"] == "system-cluster-critical"
assert "--lb-class=example.com/lb" in ctl["containers"][0]["args"]
assert "--only-lb-class" in ctl["containers"][0]["args"]
assert ctl["containers"][0]["image"] == "registry.example/ironlb:9.9.9"
spk = objs[("DaemonSet", "speaker")]["spec"]["template"]["spec"]
assert spk["tolerations"] == [{"operator": "Exists"}]
assert spk["containers"][0]["securityContext"]["runAsUser"] == 0
assert base64.b64decode(objs[("Secret", "memberlist")]["data"]["secretkey"]) == b"not-random"
rule = objs[("PrometheusRule", "ironlb")]["spec"]["groups"][0]["rules"][0]
assert "{{ $labels.instance }}" in rule["annotations"]["description"], rule
open(sys.argv[2], "w").write(yaml.safe_dump(objs[("ConfigMap", "config")]))
print("all options render")
PY
ironlb="$root/target/debug/ironlb"
if [[ -x ${CARGO_TARGET_DIR:-$root/target}/debug/ironlb ]]; then ironlb=${CARGO_TARGET_DIR:-$root/target}/debug/ironlb; fi
if [[ -x $ironlb ]]; then
  "$ironlb" config validate "$tmp/config.yaml"
fi
echo "chart OK"
