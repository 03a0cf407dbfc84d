#!/usr/bin/env bash
# The scheduled job (cron, CI schedule): deploy the lab if needed, run the standard suite,
# exit 0 only if every drill passed (1: a drill failed, 2: bad setup, 130: interrupted).
# Results: results/runs/<UTC>-<exp>/summary.json for each drill; the suite's JSON summaries
# also go to results/scheduled/<UTC>.json.
#   bash scripts/scheduled-drill.sh [riftdrill deploy args...]
set -uo pipefail
cd "$(dirname "$0")/.."
RD=${RD:-.riftdrill/venv/bin/riftdrill}
[[ -x "$RD" ]] || bash scripts/setup.sh || exit 2
"$RD" deploy "$@" || exit 2
"$RD" heal || exit 2
mkdir -p results/scheduled
out="results/scheduled/$(date -u +%Y%m%dT%H%M%SZ).json"
"$RD" drill --suite --json ${RIFTDRILL_DRILL_ARGS:-} > "$out"
rc=$?
python3 - "$out" <<'PY' || true
import json, sys
try:
    runs = json.load(open(sys.argv[1]))
except Exception:
    sys.exit(0)
for s in runs:
    v = s["verdict"]
    print(f"{s['experiment']:22} {'PASS' if v['passed'] else 'FAIL'}  {s['run_id']}"
          + ("".join(f"\n    {r}" for r in v["reasons"])))
PY
exit $rc
