# Sourced by the bench scripts that compare IronLB images on a private lab (bash).
#
# An IMAGE argument is an OCI layout (`deploy/image/build.sh OUT`), optionally followed by
# `@PATH`: the speaker's readiness probe path for that image. A build from before the speaker
# served /readyz (e.g. the pre-restructure speaker, e508117) is compared with `@/healthz`, so
# that its pods count as ready; everything else about the DaemonSet stays as shipped.

# image_layout IMAGE: the layout part.
image_layout() { echo "${1%%@*}"; }

# image_ready_path IMAGE: the readiness path (default /readyz, as deploy/speaker.yaml).
image_ready_path() { case $1 in *@*) echo "${1#*@}" ;; *) echo /readyz ;; esac; }

# check_images IMAGE...: each one's layout exists, or exits naming the one that does not.
check_images() {
  local i
  for i in "$@"; do
    [ -f "$(image_layout "$i")/index.json" ] ||
      { echo "$0: $(image_layout "$i") is not an OCI layout (deploy/image/build.sh OUT makes one)" >&2; exit 2; }
  done
}

# load_images TAG_PREFIX IMAGE...: imports each image into every node's containerd of the lab
# in the environment, tagged ironlb/ironlb:TAG_PREFIX-1, -2, ...
load_images() {
  local prefix=$1 idx=0 layout n tar
  shift
  tar=$(mktemp /tmp/ironlb-image.XXXXXX.tar)
  for layout in "$@"; do
    idx=$((idx + 1))
    tar -C "$(image_layout "$layout")" -cf "$tar" .
    for n in $IRONLB_LAB_NODES; do
      local ctr=(ctr -a "$IRONLB_LAB_STATE/nodes/$n/containerd.sock" -n k8s.io)
      "${ctr[@]}" images import --base-name docker.io/ironlb/ironlb "$tar" >/dev/null
      "${ctr[@]}" images tag --force "$IRONLB_LAB_IMAGE" "docker.io/ironlb/ironlb:$prefix-$idx" >/dev/null
    done
  done
  rm -f "$tar"
}

# roll_speaker TAG IMAGE: the speaker DaemonSet rolled to ironlb/ironlb:TAG with IMAGE's
# readiness path; waits until every speaker pod is ready.
roll_speaker() {
  local patch
  patch=$(printf '[{"op":"replace","path":"/spec/template/spec/containers/0/image","value":"ironlb/ironlb:%s"},{"op":"replace","path":"/spec/template/spec/containers/0/readinessProbe/httpGet/path","value":"%s"}]' \
    "$1" "$(image_ready_path "$2")")
  "$IRONLB_LAB_KUBECTL" -n "$IRONLB_LAB_NAMESPACE" patch daemonset speaker --type=json -p "$patch" >/dev/null
  "$IRONLB_LAB_KUBECTL" -n "$IRONLB_LAB_NAMESPACE" rollout status daemonset/speaker --timeout=300s >/dev/null
}
