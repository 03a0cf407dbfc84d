#!/usr/bin/env bash
# make drill [EXP=name] / make drills: deploy the lab if needed, run one drill or the standard
# suite (short profile: hold 20 s, baseline 10 s, recovery 20 s, 200 rec/s; the 8 drills took
# 8.3 min on Kafka and 9 min on Tansu on 2 cores), print the verdicts, exit non-zero if any failed.
#   bash scripts/drill.sh "<EXP or empty>" <riftdrill deploy args...>
# Deploy args left out keep what is deployed (`make deploy ENGINE=tansu` then `make drill` drills
# tansu); one that differs from the deployed lab is named, then the lab is deployed again as asked.
# A cloud target (TARGET=aws-gcp) is never deployed from here: it must be deployed already.
# Extra drill options: RIFTDRILL_DRILL_ARGS="--var hold_s=30 --var rate=500"
set -euo pipefail
cd "$(dirname "$0")/.."
RD=${RD:-.riftdrill/venv/bin/riftdrill}
PY=${PY:-.riftdrill/venv/bin/python}
EXP=${1:-}
shift || true

# A cloud drill never applies: `riftdrill deploy --target aws-gcp` is a terraform apply, and an
# apply before every drill could change or replace brokers mid-campaign. It drills what is
# deployed, and refuses when nothing (or something else) is.
target=local
prev=
others=()
for arg in "$@"; do
  case "$arg" in
    --target) ;;
    --target=*) target=${arg#--target=} ;;
    *) if [[ "$prev" == "--target" ]]; then target=$arg; else others+=("$arg"); fi ;;
  esac
  prev=$arg
done
if [[ "$target" != "local" ]]; then
  if (( ${#others[@]} )); then
    echo "riftdrill: a $target drill takes no deploy options (${others[*]}); change the" \
      "deployment with \`make deploy TARGET=$target ...\` first" >&2
    exit 2
  fi
  deployed=$("$PY" -c \
    'from riftdrill import inventory
try:
    print(inventory.load().target)
except Exception:
    print("")' 2>/dev/null || true)
  if [[ "$deployed" != "$target" ]]; then
    echo "riftdrill: nothing is deployed on $target; run \`make deploy TARGET=$target\` first" \
      "(a drill never applies to a cloud)" >&2
    exit 2
  fi
  echo "riftdrill: drilling the $target deployment as it is (no apply)"
else
  # deploy is idempotent: the deployed lab as it is, a build when nothing is deployed.
  "$RD" deploy "$@"
fi
# A drill starts from a healed lab: faults a killed runner left behind are undone first.
"$RD" heal

# shellcheck disable=SC2086  # RIFTDRILL_DRILL_ARGS is a list of words on purpose
if [[ -n "$EXP" ]]; then
  exec "$RD" drill "$EXP" ${RIFTDRILL_DRILL_ARGS:-}
else
  exec "$RD" drill --suite ${RIFTDRILL_DRILL_ARGS:-}
fi
