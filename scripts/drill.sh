#!/usr/bin/env bash
# make drill [EXP=name] / make drills: deploy the lab if needed, run one drill or the standard
# suite (short profile: hold 20 s, baseline 10 s, recovery 20 s, 200 rec/s; the 8 drills took
# 8.3 min on Kafka and 9 min on Tansu on 2 cores), print the verdicts, exit non-zero if any failed.
#   bash scripts/drill.sh "<EXP or empty>" <riftdrill deploy args...>
# Deploy args left out keep what is deployed (`make deploy ENGINE=tansu` then `make drill` drills
# tansu); one that differs from the deployed lab is named, then the lab is deployed again as asked.
# Extra drill options: RIFTDRILL_DRILL_ARGS="--var hold_s=30 --var rate=500"
set -euo pipefail
cd "$(dirname "$0")/.."
RD=${RD:-.riftdrill/venv/bin/riftdrill}
EXP=${1:-}
shift || true

# deploy is idempotent: the deployed lab as it is, a build when nothing is deployed.
"$RD" deploy "$@"
# A drill starts from a healed lab: faults a killed runner left behind are undone first.
"$RD" heal

# shellcheck disable=SC2086  # RIFTDRILL_DRILL_ARGS is a list of words on purpose
if [[ -n "$EXP" ]]; then
  exec "$RD" drill "$EXP" ${RIFTDRILL_DRILL_ARGS:-}
else
  exec "$RD" drill --suite ${RIFTDRILL_DRILL_ARGS:-}
fi
