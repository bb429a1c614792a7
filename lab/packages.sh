#!/usr/bin/env bash
# The Debian packages the lab needs on the machine, installed by the lab itself when it runs as
# root (it says what it installs first); otherwise the list to install by hand.
#
#   packages.sh ensure [--releases] [--browser]
#     --releases  also mmdebstrap (hosts on other Debian releases, lab/rootfs.sh)
#     --browser   also chromium (the report's browser test)
set -euo pipefail

# What each is for: the hosts' network and namespaces (iproute2, util-linux), their sshd and ssh
# (openssh-*), PostgreSQL with hstore (postgresql, postgresql-contrib), Debian's real postfix (each host
# runs its own master and queue), the copies (rsync, tar), the
# change journal (inotify-tools), process tools of the stand-ins and tests (procps, psmisc,
# dpkg's start-stop-daemon), curl for the API, GNU time for the benchmark's memory figures, libfaketime
# (faketime) for the invariant test's clock steps on the target and python3 to make its shared semaphore (lab/hostile.ts).
packages=(rsync tar openssh-server openssh-client postgresql postgresql-contrib postfix iproute2 util-linux inotify-tools procps psmisc curl time faketime python3)
[ "${1:-}" = ensure ] && shift
for a in "$@"; do
  case "$a" in
    --releases) packages+=(mmdebstrap) ;;
    --browser) packages+=(chromium) ;;
    *) echo "packages.sh: unknown option $a" >&2; exit 2 ;;
  esac
done

# One dpkg-query for all (the default lab's start pays for this check every time).
# dpkg-query exits 1 when it has never heard of one of them (a fresh machine): that is an answer,
# not a failure, so its status must not end the script under pipefail.
installed=" $({ dpkg-query -W -f='${Package}\t${Status}\n' "${packages[@]}" 2>/dev/null || true; } \
  | awk -F'\t' '$2 ~ /install ok installed/ { printf "%s ", $1 }')"
missing=()
for p in "${packages[@]}"; do
  [[ "$installed" == *" $p "* ]] || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
  echo "lab: missing on this machine: ${missing[*]}" >&2
  echo "  install them as root with: apt-get install -y --no-install-recommends ${missing[*]}" >&2
  exit 1
fi
echo "lab: installing the Debian packages the lab needs: ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -q >&2
apt-get install -y -q --no-install-recommends "${missing[@]}" >&2
