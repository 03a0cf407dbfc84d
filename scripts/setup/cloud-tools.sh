#!/usr/bin/env bash
# Install the cloud-side static checkers riftdrill's tests use (checkov) into their own venv.
# checkov pulls a large dependency tree that would fight riftdrill's exact pins, so it lives in
# ~/.cache/riftdrill/tools/checkov-<ver>. Idempotent: a second run only checks a stamp file.
set -euo pipefail

CHECKOV_VERSION="3.3.30"
UV="${UV:-$HOME/.cache/riftdrill/bootstrap/venv/bin/uv}"
export UV_CACHE_DIR="${UV_CACHE_DIR:-$HOME/.cache/riftdrill/uv}"
TOOLS_DIR="${RIFTDRILL_TOOLS_DIR:-$HOME/.cache/riftdrill/tools}"
VENV="$TOOLS_DIR/checkov-$CHECKOV_VERSION"
STAMP="$VENV/.riftdrill-installed"

if [[ -f "$STAMP" && -x "$VENV/bin/checkov" ]]; then
  exit 0
fi

if [[ ! -x "$UV" ]]; then
  echo "cloud-tools: uv not found at $UV (run the bootstrap step of 'make setup' first)" >&2
  exit 2
fi

echo "cloud-tools: installing checkov $CHECKOV_VERSION into $VENV"
rm -rf "$VENV"
mkdir -p "$TOOLS_DIR"
"$UV" venv --quiet --python 3.11 "$VENV"
VIRTUAL_ENV="$VENV" "$UV" pip install --quiet "checkov==$CHECKOV_VERSION"
# Smoke test before stamping: a broken install must be retried next run, not trusted.
"$VENV/bin/checkov" --version >/dev/null
touch "$STAMP"
echo "cloud-tools: checkov $("$VENV/bin/checkov" --version) ready"
