#!/usr/bin/env bash
# A Debian release's own userland for a lab host: built once with mmdebstrap (--variant=minbase,
# about 40-50 s and 0.5 GB) from the Debian mirror this machine's apt uses, cached on disk and
# reused by every lab. Prints the root filesystem's directory on stdout.
#
#   rootfs.sh RELEASE        e.g. bullseye (Debian 11, PostgreSQL 13), bookworm (12, 15), trixie (13, 17)
#
# The cache key is the release, the variant and the package list: changing the list builds anew.
# Several labs may ask at once: one builds (under a lock), the others wait for it.
set -euo pipefail

RELEASE="${1:?usage: rootfs.sh RELEASE}"
[[ "$RELEASE" =~ ^[a-z]+$ ]] || { echo "rootfs: bad release name '$RELEASE'" >&2; exit 2; }
CACHE="${BM_LAB_CACHE:-/var/cache/bm-migrate-lab}/rootfs"
VARIANT=minbase
# What a lab host runs of its release: sshd and its client, PostgreSQL with contrib (hstore), rsync,
# inotifywait, ps/kill tools, ip (the swap), python3, CA certificates as on any server, and Debian's
# postfix (each host runs its own real master and queue).
PACKAGES="postgresql,postgresql-contrib,rsync,openssh-server,openssh-client,iproute2,procps,psmisc,inotify-tools,python3,ca-certificates,postfix"
KEY="$(printf '%s\n' "$VARIANT" "$RELEASE" "$PACKAGES" | sha256sum | cut -c1-12)"
DIR="$CACHE/$RELEASE-$KEY"

log() { printf '[rootfs %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

# The Debian mirror of this machine's apt sources (deb822 or one-line form), else deb.debian.org.
mirror() {
  local m
  m="$(sed -n 's/^URIs:[[:space:]]*\(http[^[:space:]]*\/debian\)\/\{0,1\}[[:space:]]*$/\1/p' /etc/apt/sources.list.d/*.sources 2>/dev/null | head -1)"
  [ -n "$m" ] || m="$(sed -n 's/^deb[[:space:]]\+\(\[[^]]*\][[:space:]]\+\)\{0,1\}\(http[^[:space:]]*\/debian\)\/\{0,1\}[[:space:]].*/\2/p' /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null | head -1)"
  echo "${m:-http://deb.debian.org/debian}"
}

if [ ! -f "$DIR/.bm-lab-complete" ]; then
  [ "$(id -u)" = 0 ] || { echo "rootfs: building a root filesystem needs root" >&2; exit 1; }
  command -v mmdebstrap >/dev/null || { echo "rootfs: mmdebstrap is missing (apt-get install mmdebstrap)" >&2; exit 1; }
  mkdir -p "$CACHE"
  exec 8>"$CACHE/$RELEASE-$KEY.lock"
  flock 8
  if [ ! -f "$DIR/.bm-lab-complete" ]; then
    url="$(mirror)"
    tmp="$CACHE/.$RELEASE-$KEY.building.$$"
    rm -rf "$tmp"
    log "building Debian $RELEASE ($VARIANT + $PACKAGES) from $url into $DIR (once per machine, about a minute)"
    t0=$SECONDS
    if ! mmdebstrap --quiet --variant="$VARIANT" --include="$PACKAGES" "$RELEASE" "$tmp" "$url" >&2; then
      rm -rf "$tmp"
      echo "rootfs: mmdebstrap of $RELEASE failed (mirror $url)" >&2
      exit 1
    fi
    printf 'release=%s\nvariant=%s\npackages=%s\nmirror=%s\nbuilt=%s\n' "$RELEASE" "$VARIANT" "$PACKAGES" "$url" "$(date -u +%FT%TZ)" \
      > "$tmp/.bm-lab-complete"
    rm -rf "$DIR"
    mv "$tmp" "$DIR"
    log "Debian $RELEASE ready in $((SECONDS - t0)) s: $(du -sh "$DIR" | cut -f1)"
  fi
fi
echo "$DIR"
