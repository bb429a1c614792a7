#!/usr/bin/env bash
# Builds build/bm-migrate-linux-x64: one executable that needs no Node.js on the server.
#
# Node's single executable applications (SEA): the compiled CLI (dist/, from `npm run build`) is
# bundled into one CommonJS file with esbuild, turned into a SEA blob by this very node, and
# injected with postject into a stripped copy of this node's binary. So the result runs the Node
# version that built it, on linux-x64 with glibc >= 2.28 (the floor of the official Node 20 builds).
#
# Usage: npm run package   (runs `npm run build` first)
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
build="$root/build"
output="$build/bm-migrate-linux-x64"
entry="$root/dist/cli/main.js"
node_bin="$(node -p 'process.execPath')"
# The fuse postject flips so that the binary looks for its blob; its name is fixed by Node.
sentinel_fuse="NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2"

fail() {
  echo "package: $*" >&2
  exit 1
}

platform="$(node -p 'process.platform + "-" + process.arch')"
[[ "$platform" == "linux-x64" ]] || fail "builds for linux-x64 from this node's own binary; this is $platform"
[[ -f "$entry" ]] || fail "$entry is missing: run \"npm run build\" first (npm run package does)"

started=$(date +%s%N)
version="$(node -p 'require("./package.json").version')"
# Intermediate files live outside the tree (so no linter finds the bundle) and go away at exit.
work="$(mktemp -d "${TMPDIR:-/tmp}/bm-migrate-package.XXXXXX")"
trap 'rm -rf "$work"' EXIT
mkdir -p "$build"

# 1. One CommonJS file: SEA runs a CommonJS main script whose require() reaches only builtins.
#    The version is defined at build time: there is no package.json beside the executable.
#    The fallback that reads package.json (import.meta) is never reached in the bundle.
npx --no-install esbuild "$entry" \
  --bundle --platform=node --target=node20 --format=cjs \
  --define:BM_MIGRATE_VERSION="\"$version\"" \
  --log-override:empty-import-meta=silent \
  --minify-syntax --legal-comments=eof --log-level=warning \
  --outfile="$work/bm-migrate.cjs"

# 2. The SEA blob, made by the same node whose binary is copied (they must match).
cat >"$work/sea-config.json" <<EOF
{
  "main": "$work/bm-migrate.cjs",
  "output": "$work/sea-prep.blob",
  "disableExperimentalSEAWarning": true,
  "useCodeCache": true
}
EOF
if ! log="$(node --experimental-sea-config "$work/sea-config.json" 2>&1)"; then
  fail "node --experimental-sea-config failed: $log"
fi

# 3. A copy of node without its symbol tables (about 10 MiB less; only debuggers use them), with
#    the blob injected. postject's ELF library warns about node's many .note sections: harmless,
#    so its output is shown only when it fails.
rm -f "$output"
cp "$node_bin" "$output"
chmod 755 "$output"
if command -v strip >/dev/null; then
  strip "$output"
else
  echo "package: strip (binutils) not found: the executable keeps its symbols" >&2
fi
if ! log="$(npx --no-install postject "$output" NODE_SEA_BLOB "$work/sea-prep.blob" \
  --sentinel-fuse "$sentinel_fuse" 2>&1)"; then
  fail "postject failed: $log"
fi

# 4. It must start without node around it.
got="$(env -i PATH=/nonexistent "$output" --version)" || fail "$output does not start"
[[ "$got" == "$version" ]] || fail "$output --version printed '$got', expected '$version'"

elapsed_ms=$((($(date +%s%N) - started) / 1000000))
size=$(stat -c %s "$output")
echo "$output"
echo "  bm-migrate $version on node $(node --version), $((size / 1024 / 1024)) MiB ($size bytes), packaged in $((elapsed_ms / 1000)).$((elapsed_ms % 1000 / 100)) s"
