#!/usr/bin/env bash
# The README's quick start: a whole migration in a fresh two-host lab, then the comparison.
set -euo pipefail
cd "$(dirname "$0")/.."
NAME="${BM_LAB_NAME:-demo}"
SCALE="${SCALE:-5}"
trap 'bash lab/lab.sh down --name "$NAME" >/dev/null 2>&1 || true' EXIT
bash lab/lab.sh up --name "$NAME" --scale "$SCALE"
bash lab/lab.sh status --name "$NAME"
