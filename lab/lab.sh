#!/usr/bin/env bash
# The two-host lab: an origin and a target BlueMind stand-in on one machine.
# Each host is a network namespace plus a private mount/UTS namespace whose /etc /var /usr /root /opt
# are overlays of this machine's own (upper dirs under $BM_LAB_ROOT/NAME), with a tmpfs /run,
# its own sshd and its own PostgreSQL on localhost:5432. The machine's own files are never changed.
# With --origin-release / --target-release (bullseye, bookworm, trixie...), that host runs the
# userland of that Debian release instead (lab/rootfs.sh builds it once; lab/host-init.sh makes an
# overlay of it the host's root); a release equal to the machine's own is the machine's userland.
#
#   lab.sh up [--name N] [--scale K] [--version V] [--target-version V] [--no-subscription] [--no-data] [--seed S]
#             [--origin-release R] [--target-release R] [--origin-without-inotify]
#   lab.sh install [--browser]        (as root: the Debian packages the lab and its tests need)
#   lab.sh down [--name N] | down-all
#   lab.sh shell origin|target [--name N]
#   lab.sh exec origin|target [--name N] -- CMD...
#   lab.sh status [--name N] | list | env [--name N]
set -euo pipefail

LAB_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_DIR="$(dirname "$LAB_DIR")"
LAB_ROOT="${BM_LAB_ROOT:-/tmp/bm-lab}"
NAME="${BM_LAB_NAME:-lab}"
SCALE=1
SEED=42
ORIGIN_VERSION="4.1.56"
TARGET_VERSION=""
SUBSCRIPTION=1
DATA=1
ORIGIN_RELEASE=""
TARGET_RELEASE=""
ORIGIN_INOTIFY=1

die() { echo "lab: $*" >&2; exit 1; }
log() { printf '[lab %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

parse_common() {
  REST=()
  while [ $# -gt 0 ]; do
    case "$1" in
      --name) NAME="$2"; shift 2 ;;
      --name=*) NAME="${1#*=}"; shift ;;
      --scale) SCALE="$2"; shift 2 ;;
      --seed) SEED="$2"; shift 2 ;;
      --version) ORIGIN_VERSION="$2"; shift 2 ;;
      --target-version) TARGET_VERSION="$2"; shift 2 ;;
      --no-subscription) SUBSCRIPTION=0; shift ;;
      --no-data) DATA=0; shift ;;
      --origin-release) ORIGIN_RELEASE="$2"; shift 2 ;;
      --target-release) TARGET_RELEASE="$2"; shift 2 ;;
      --origin-without-inotify) ORIGIN_INOTIFY=0; shift ;;
      --) shift; REST+=("$@"); break ;;
      *) REST+=("$1"); shift ;;
    esac
  done
  [[ "$NAME" =~ ^[a-z0-9][a-z0-9-]{0,11}$ ]] || die "bad lab name '$NAME' (lowercase letters, digits, dashes; at most 12 characters)"
  [[ "$SCALE" =~ ^[0-9]+$ ]] || die "--scale takes a whole number, not '$SCALE'"
  : "${TARGET_VERSION:=$ORIGIN_VERSION}"
  local r
  for r in "$ORIGIN_RELEASE" "$TARGET_RELEASE"; do
    [ -z "$r" ] || [[ "$r" =~ ^[a-z]+$ ]] || die "a release is a Debian code name (bullseye, bookworm, trixie), not '$r'"
  done
  STATE="$LAB_ROOT/$NAME"
}

ns() { echo "bmlab-$NAME-$1"; }

host_pid() {
  local f="$STATE/$1/init.pid"
  [ -f "$f" ] || die "lab '$NAME' has no $1 host (is it up? try: npm run lab -- up --name $NAME)"
  local pid; pid="$(cat "$f")"
  kill -0 "$pid" 2>/dev/null || die "lab '$NAME': the $1 host's init process ($pid) is gone; run: npm run lab -- down --name $NAME"
  echo "$pid"
}

in_host() { # in_host ROLE CMD... : run CMD inside that host (its mounts, network, hostname)
  local role="$1"; shift
  nsenter -t "$(host_pid "$role")" -m -n -u -- "$@"
}

pick_subnet() { # a /24 of 10.213.X.0 that no other lab uses
  local used=" " f x
  for f in "$LAB_ROOT"/*/lab.env; do
    [ -f "$f" ] && used+="$(sed -n 's/^LAB_NET_INDEX=//p' "$f") "
  done
  x=$(( $(printf '%s' "$NAME" | cksum | cut -d' ' -f1) % 200 + 20 ))
  while [[ "$used" == *" $x "* ]]; do x=$(( (x - 19) % 200 + 20 )); done
  echo "$x"
}

require_tools() {
  # As root, the lab installs the Debian packages it lacks itself (lab/packages.sh says which).
  local extra=()
  { [ -n "$(host_release_rootfs_needed "$ORIGIN_RELEASE")" ] || [ -n "$(host_release_rootfs_needed "$TARGET_RELEASE")" ]; } && extra+=(--releases)
  bash "$LAB_DIR/packages.sh" ensure ${extra[@]+"${extra[@]}"} || die "the lab's Debian packages are missing (see above)"
  [ -x "$REPO_DIR/node_modules/.bin/tsx" ] || die "run npm ci first (the lab's data generator runs with tsx)"
}

machine_release() { sed -n 's/^VERSION_CODENAME=//p' /etc/os-release 2>/dev/null; }

# Prints "yes" when RELEASE needs a root filesystem of its own (empty or the machine's own: no).
host_release_rootfs_needed() {
  [ -n "$1" ] && [ "$1" != "$(machine_release)" ] && echo yes || true
}

# The root filesystem of a host of RELEASE (built once, cached), or nothing for the machine's own.
host_rootfs() {
  [ -n "$(host_release_rootfs_needed "$1")" ] || return 0
  bash "$LAB_DIR/rootfs.sh" "$1" || die "cannot build a Debian $1 root filesystem (lab/rootfs.sh)"
}

cmd_up() {
  [ "$(id -u)" = 0 ] || die "the lab needs root (network namespaces and mounts)"
  require_tools
  if [ -d "$STATE" ]; then log "lab '$NAME' exists: taking it down first"; cmd_down; fi
  local origin_rootfs target_rootfs
  origin_rootfs="$(host_rootfs "$ORIGIN_RELEASE")"
  target_rootfs="$(host_rootfs "$TARGET_RELEASE")"
  mkdir -p "$STATE"
  local t0=$SECONDS idx
  idx="$(pick_subnet)"
  local net="10.213.$idx"
  cat > "$STATE/lab.env" <<ENV
LAB_NAME=$NAME
LAB_NET_INDEX=$idx
LAB_ORIGIN_IP=$net.10
LAB_TARGET_IP=$net.20
LAB_LAN_IP=$net.1
LAB_PREFIX=24
LAB_ORIGIN_NS=$(ns origin)
LAB_TARGET_NS=$(ns target)
LAB_LAN_NS=$(ns lan)
LAB_ORIGIN_VERSION=$ORIGIN_VERSION
LAB_TARGET_VERSION=$TARGET_VERSION
LAB_SCALE=$SCALE
LAB_SEED=$SEED
LAB_STATE=$STATE
LAB_REPO=$REPO_DIR
LAB_ORIGIN_RELEASE=${ORIGIN_RELEASE:-$(machine_release)}
LAB_TARGET_RELEASE=${TARGET_RELEASE:-$(machine_release)}
LAB_ORIGIN_ROOTFS=$origin_rootfs
LAB_TARGET_ROOTFS=$target_rootfs
LAB_ORIGIN_INOTIFY=$ORIGIN_INOTIFY
ENV
  # shellcheck disable=SC1091
  . "$STATE/lab.env"
  trap 'log "up failed: tearing down"; cmd_down || true' ERR

  # Network: a "lan" namespace with a bridge; each host has eth0 on it. The lan namespace is also
  # where a client stands to see which host answers at an address (used by the swap tests).
  ip netns add "$LAB_LAN_NS"
  ip -n "$LAB_LAN_NS" link add br0 type bridge
  ip -n "$LAB_LAN_NS" addr add "$LAB_LAN_IP/24" dev br0
  ip -n "$LAB_LAN_NS" link set lo up
  ip -n "$LAB_LAN_NS" link set br0 up
  local role ip
  for role in origin target; do
    ip="$([ $role = origin ] && echo "$LAB_ORIGIN_IP" || echo "$LAB_TARGET_IP")"
    ip netns add "$(ns $role)"
    ip link add eth0 netns "$(ns $role)" type veth peer name "$role" netns "$LAB_LAN_NS"
    ip -n "$LAB_LAN_NS" link set "$role" master br0
    ip -n "$LAB_LAN_NS" link set "$role" up
    ip -n "$(ns $role)" addr add "$ip/24" dev eth0
    ip -n "$(ns $role)" link set lo up
    ip -n "$(ns $role)" link set eth0 up
    start_host "$role" "$([ $role = origin ] && echo "$origin_rootfs" || echo "$target_rootfs")"
  done
  for role in origin target; do
    in_host "$role" env LAB_ROLE="$role" LAB_SUBSCRIPTION="$SUBSCRIPTION" bash "$LAB_DIR/host-setup.sh" "$STATE/lab.env" >"$STATE/$role/setup.log" 2>&1 \
      || { tail -20 "$STATE/$role/setup.log" >&2; die "setting up the $role host failed (log: $STATE/$role/setup.log)"; }
  done
  # Trust: the target's root key on the origin, the origin's host key in the target's known_hosts.
  in_host target cat /root/.ssh/id_ed25519.pub | in_host origin bash -c 'cat >> /root/.ssh/authorized_keys'
  in_host origin cat /etc/ssh/ssh_host_ed25519_key.pub | awk -v n="bm-origin,$LAB_ORIGIN_IP" '{print n" "$1" "$2}' \
    | in_host target bash -c 'cat >> /root/.ssh/known_hosts'
  in_host target cat /etc/ssh/ssh_host_ed25519_key.pub | awk -v n="bm-target,$LAB_TARGET_IP" '{print n" "$1" "$2}' \
    | in_host origin bash -c 'cat >> /root/.ssh/known_hosts'
  if [ "$DATA" = 1 ]; then
    for role in origin target; do
      # bj's password is the host's own (random from 5.2 on, see host-setup.sh): bm.ini has it.
      bjpass="$(in_host "$role" sed -n 's/^password *= *"\{0,1\}\([^"]*\)"\{0,1\}$/\1/p' /etc/bm/bm.ini | head -1)"
      in_host "$role" env LAB_HOST_IP="$([ $role = origin ] && echo "$LAB_ORIGIN_IP" || echo "$LAB_TARGET_IP")" PGPASSWORD="${bjpass:-bj}" \
        "$REPO_DIR/node_modules/.bin/tsx" "$LAB_DIR/generate.ts" --role "$role" --scale "$SCALE" --seed "$SEED" \
        >"$STATE/$role/generate.log" 2>&1 &
    done
    wait -n || { cat "$STATE"/*/generate.log >&2; die "data generation failed"; }
    wait -n || { cat "$STATE"/*/generate.log >&2; die "data generation failed"; }
    for role in origin target; do log "$role: $(tail -1 "$STATE/$role/generate.log")"; done
  fi
  # BlueMind runs on both, as on two live servers (the live writer adds mail and rows on each).
  for role in origin target; do in_host "$role" bash -c 'bmctl start >/dev/null && service postfix start >/dev/null'; done
  trap - ERR
  in_host target ssh -o BatchMode=yes root@bm-origin true || die "ssh from target to origin does not work"
  log "lab '$NAME' up in $((SECONDS - t0)) s: origin $LAB_ORIGIN_IP (bm-origin, BlueMind $ORIGIN_VERSION, Debian $LAB_ORIGIN_RELEASE), target $LAB_TARGET_IP (bm-target, BlueMind $TARGET_VERSION, Debian $LAB_TARGET_RELEASE), scale $SCALE"
}

start_host() { # start_host ROLE [ROOTFS]: the host's first process, kept alive as its anchor
  local role="$1" d="$STATE/$1"
  mkdir -p "$d"
  : > "$d/init.log"
  ip netns exec "$(ns "$role")" unshare --mount --uts --propagation private \
    bash "$LAB_DIR/host-init.sh" "$role" "$d" ${2:+"$2"} >>"$d/init.log" 2>&1 </dev/null &
  local i
  for i in $(seq 1 100); do
    [ -f "$d/ready" ] && return 0
    kill -0 $! 2>/dev/null || { cat "$d/init.log" >&2; die "the $role host's init died"; }
    sleep 0.05
  done
  cat "$d/init.log" >&2; die "the $role host did not come up"
}

cmd_down() {
  local role pid pids
  [ -f "$STATE/lab.env" ] && . "$STATE/lab.env"
  for role in origin target; do
    pid="$(cat "$STATE/$role/init.pid" 2>/dev/null || true)"
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
      # Stop PostgreSQL cleanly first (fast shutdown), then everything that lives in the host's mount namespace.
      nsenter -t "$pid" -m -n -u -- bash -c 'service postgresql stop >/dev/null 2>&1 || true' || true
      local mntns; mntns="$(readlink "/proc/$pid/ns/mnt")"
      pids=""
      for p in /proc/[0-9]*; do
        [ "$(readlink "$p/ns/mnt" 2>/dev/null)" = "$mntns" ] && pids+=" ${p#/proc/}"
      done
      # shellcheck disable=SC2086
      [ -n "$pids" ] && kill -9 $pids 2>/dev/null || true
    fi
  done
  # Anything else still in the lab's network namespaces (e.g. a stray ssh) goes too.
  for role in origin target lan; do
    if ip netns list 2>/dev/null | grep -qw "$(ns $role)"; then
      pids="$(ip netns pids "$(ns $role)" 2>/dev/null | tr '\n' ' ')"
      # shellcheck disable=SC2086
      [ -n "${pids// /}" ] && kill -9 $pids 2>/dev/null || true
      ip netns del "$(ns $role)" 2>/dev/null || true
    fi
  done
  sleep 0.1
  # Mounts were private to each host's namespace: they vanish with its last process. Remove upper dirs.
  if [ -d "$STATE" ]; then rm -rf --one-file-system "$STATE" 2>/dev/null || rm -rf "$STATE"; fi
  log "lab '$NAME' down"
}

cmd_status() {
  [ -f "$STATE/lab.env" ] || { echo "lab '$NAME': down"; return 0; }
  . "$STATE/lab.env"
  echo "lab '$NAME': origin $LAB_ORIGIN_IP (pid $(cat "$STATE/origin/init.pid" 2>/dev/null)), target $LAB_TARGET_IP (pid $(cat "$STATE/target/init.pid" 2>/dev/null))"
  local role
  for role in origin target; do
    echo "--- $role: $(in_host "$role" hostname)"
    in_host "$role" bash -c 'echo "bm-core $(dpkg-query -W -f="\${Version}" bm-core 2>/dev/null)"; bmctl status; service postfix status; service postgresql status' || true
  done
}

main() {
  local cmd="${1:-}"; shift || true
  parse_common "$@"
  set -- ${REST[@]+"${REST[@]}"}
  case "$cmd" in
    up) cmd_up ;;
    install) bash "$LAB_DIR/packages.sh" ensure --releases ${REST[@]+"${REST[@]}"} ;;
    down) cmd_down ;;
    down-all) for d in "$LAB_ROOT"/*/; do [ -d "$d" ] && { NAME="$(basename "$d")"; STATE="$LAB_ROOT/$NAME"; cmd_down; }; done ;;
    status) cmd_status ;;
    list) for d in "$LAB_ROOT"/*/lab.env; do [ -f "$d" ] && basename "$(dirname "$d")"; done; true ;;
    env) cat "$STATE/lab.env" ;;
    pid) host_pid "${1:?origin or target}" ;;
    shell)
      local role="${1:?origin or target}"
      exec nsenter -t "$(host_pid "$role")" -m -n -u -- env -C /root HOME=/root PS1="[lab:$NAME $role] \\w# " bash --norc -i ;;
    exec)
      local role="${1:?origin or target}"; shift
      [ $# -gt 0 ] || die "exec: nothing to run"
      exec nsenter -t "$(host_pid "$role")" -m -n -u -- env -C /root HOME=/root "$@" ;;
    ""|-h|--help|help) sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//' ;;
    *) die "unknown command '$cmd' (up, down, down-all, shell, exec, status, list, env, install)" ;;
  esac
}
main "$@"
