# Images without a registry: the lab's own (a sandbox image and an HTTP echo, from Debian's
# busybox-static) are built with umoci once into $CACHE/images; IronLB's is the OCI layout that
# deploy/image/build.sh makes. Each is imported into every node's containerd under the name the
# manifests use, so the kubelets never pull.
LAB_PAUSE_IMAGE=ironlb.lab/pause:1
LAB_ECHO_IMAGE=ironlb.lab/echo:1
# The echo server: port 8080, answers GET / with its pod's name (the hostname) and
# GET /cgi-bin/who with "POD NODE PEER": its pod, its node (env NODE_NAME, from the downward API)
# and the address the connection came from (a node's, when kube-proxy masqueraded it: the node
# that took the traffic in). Exits on SIGTERM.
ECHO_SCRIPT='hostname >/www/index.html && httpd -p 8080 -h /www && trap "exit 0" TERM && while :; do sleep 1; done'
ECHO_WHO='#!/bin/sh
printf "Content-Type: text/plain\r\n\r\n%s %s %s\n" "$(hostname)" "${NODE_NAME:--}" "$REMOTE_ADDR"
'

# busybox_layout DIR TAG ENTRYPOINT...: a FROM-scratch OCI layout holding busybox and its applets
# (and, for the echo image, its web root).
busybox_layout() {
  local out=$1 tag=$2 work a arg entry=(); shift 2
  for arg in "$@"; do entry+=(--config.entrypoint "$arg"); done
  work=$(mktemp -d)
  rm -rf "$out"
  umoci init --layout "$out" && umoci new --image "$out:$tag" &&
    umoci unpack --image "$out:$tag" "$work/b" >/dev/null || { rm -rf "$work"; return 1; }
  mkdir -p "$work/b/rootfs/bin" "$work/b/rootfs/tmp"
  install -m 0755 /bin/busybox "$work/b/rootfs/bin/busybox"
  for a in sh sleep httpd hostname printf; do ln -s busybox "$work/b/rootfs/bin/$a"; done
  if [ "$tag" = echo ]; then
    mkdir -p "$work/b/rootfs/www/cgi-bin"
    printf '%s' "$ECHO_WHO" >"$work/b/rootfs/www/cgi-bin/who"
    chmod 0755 "$work/b/rootfs/www/cgi-bin/who"
    chmod 0777 "$work/b/rootfs/www"
  fi
  umoci repack --image "$out:$tag" "$work/b" &&
    umoci config --image "$out:$tag" --os linux --architecture amd64 --config.workingdir / \
      "${entry[@]}" >/dev/null &&
    umoci gc --layout "$out"
  local rc=$?
  rm -rf "$work"
  return $rc
}

ensure_lab_images() {
  local d=$CACHE/images
  [ -f "$d/.ready-2" ] && return 0
  command -v umoci >/dev/null && [ -x /bin/busybox ] || die "umoci or busybox-static missing (run 'ironlb lab install')"
  mkdir -p "$d"
  busybox_layout "$d/pause" pause /bin/sleep 2147483647 || die "building the sandbox image failed"
  busybox_layout "$d/echo" echo /bin/sh -c "$ECHO_SCRIPT" || die "building the echo image failed"
  touch "$d/.ready-2"
}

# import_layout NODE LAYOUT-DIR TAG NAME: one OCI layout's TAG into NODE's containerd as NAME.
import_layout() {
  local tar
  tar=$(mktemp --suffix=.tar)
  tar -C "$2" -cf "$tar" . &&
    nctr "$1" images import --base-name "${4%:*}" --digests "$tar" >>"$STATE/logs/images.log" 2>&1 &&
    { [ "${4%:*}:$3" = "$4" ] || nctr "$1" images tag --force "${4%:*}:$3" "$4" >>"$STATE/logs/images.log" 2>&1; }
  local rc=$?
  rm -f "$tar"
  [ $rc = 0 ] || die "importing $4 into $1 failed: $(tail -n1 "$STATE/logs/images.log")"
}

load_images() { # load_images NODE
  import_layout "$1" "$CACHE/images/pause" pause "$LAB_PAUSE_IMAGE"
  import_layout "$1" "$CACHE/images/echo" echo "$LAB_ECHO_IMAGE"
  import_layout "$1" "$IRONLB_IMAGE_LAYOUT" "$IRONLB_IMAGE_TAG" "$IRONLB_IMAGE"
}

# The IronLB image the shipped manifests name, and the layout it comes from.
ironlb_image() {
  IRONLB_IMAGE=$(sed -n 's/^ *image: *\(ironlb\/ironlb:[^ ]*\).*/\1/p' "$DEPLOY_DIR/speaker.yaml" | head -n1)
  [ -n "$IRONLB_IMAGE" ] || die "no ironlb image named in $DEPLOY_DIR/speaker.yaml"
  IRONLB_IMAGE_TAG=${IRONLB_IMAGE##*:}
  IRONLB_IMAGE=docker.io/$IRONLB_IMAGE
  [ -f "$IRONLB_IMAGE_LAYOUT/index.json" ] ||
    die "no IronLB image at $IRONLB_IMAGE_LAYOUT: build it first with deploy/image/build.sh"
}
