#!/usr/bin/env bash
# The scheduled job (cron, systemd timer, CI schedule): deploy the lab if needed, heal it, run the
# standard suite with --fail-on-regression, render the reports, and say with the exit code
# whether anything went wrong. Examples: .github/workflows/drills.yml, examples/systemd/.
#
#   bash scripts/scheduled-drill.sh [riftdrill deploy args...]     # e.g. --engine tansu
#
# Steps, each bounded by `timeout` (seconds, overridable from the environment):
#   setup   scripts/setup.sh when the venv is missing                 (no bound: setup caches)
#   deploy  riftdrill deploy "$@": the deployed lab as it is (arguments  RIFTDRILL_DEPLOY_MAX_S=1800
#           left out keep what is deployed; nothing deployed: the default lab)
#   heal    riftdrill heal: undo faults a killed drill left behind       RIFTDRILL_HEAL_MAX_S=300
#   suite   riftdrill drill --suite --json --fail-on-regression          RIFTDRILL_SUITE_MAX_S=5400
#           (8-9 min for the 8 drills on 2 cores, measured; on the bound the suite gets SIGTERM, which
#           heals every fault, and is killed RIFTDRILL_KILL_AFTER_S=300 later)
#   report  riftdrill report: results/ as Markdown + HTML (also after a failed suite)
#                                                                        RIFTDRILL_REPORT_MAX_S=600
# Extra drill options: RIFTDRILL_DRILL_ARGS="--var rate=500" (a list of words). One drill instead
# of the suite: RIFTDRILL_EXPERIMENT=<name> (the cloud drill workflow's `experiment` input).
#
# Exit codes: 0 every drill passed and none regressed against its previous run; 1 a drill failed
# or regressed (slo.yaml `regression:`), the suite hit its bound, or the report failed; 2 bad
# setup (setup/deploy/heal failed or timed out, bad input, another scheduled run holds the lock);
# 130 interrupted (SIGINT/SIGTERM; the drill heals every fault first).
#
# Results: results/runs/<UTC>-<exp>/summary.json per drill (with `regressions`), the suite's
# summaries in results/scheduled/<UTC>.json, this job's log in results/scheduled/<UTC>.log, the
# reports under results/ (riftdrill report). Keep results/ as the CI artifact, or commit it: the
# next run compares itself with the newest run of the same drill found in results/runs.
set -uo pipefail
cd "$(dirname "$0")/.."
RD=${RD:-.riftdrill/venv/bin/riftdrill}
DEPLOY_MAX_S=${RIFTDRILL_DEPLOY_MAX_S:-1800}
HEAL_MAX_S=${RIFTDRILL_HEAL_MAX_S:-300}
SUITE_MAX_S=${RIFTDRILL_SUITE_MAX_S:-5400}
REPORT_MAX_S=${RIFTDRILL_REPORT_MAX_S:-600}
KILL_AFTER_S=${RIFTDRILL_KILL_AFTER_S:-300}

stamp=$(date -u +%Y%m%dT%H%M%SZ)
mkdir -p results/scheduled .riftdrill
out="results/scheduled/$stamp.json"
log="results/scheduled/$stamp.log"
say() { printf 'scheduled-drill: %s\n' "$*" | tee -a "$log" >&2; }

# One scheduled run at a time (a cron job that outlives its period must not start a second one).
exec 9>.riftdrill/scheduled-drill.lock
if command -v flock >/dev/null && ! flock -n 9; then
  say "another scheduled drill holds .riftdrill/scheduled-drill.lock; not starting"
  exit 2
fi

# A signal while a step runs reaches the step (same process group; --foreground keeps it
# there); bash runs this trap after the step returns, and no later step starts.
interrupted=0
trap 'interrupted=1' INT TERM

# bounded MAX_S CMD...: run CMD, SIGTERM it after MAX_S, SIGKILL it KILL_AFTER_S later.
bounded() {
  local max_s=$1
  shift
  timeout --foreground --signal=TERM --kill-after="$KILL_AFTER_S" "$max_s" "$@"
}
# step NAME MAX_S CMD...: a setup step; any failure is exit 2 (130 when interrupted).
step() {
  local name=$1 max_s=$2 rc
  shift 2
  say "$name"
  bounded "$max_s" "$@" 2>&1 | tee -a "$log"
  rc=${PIPESTATUS[0]}
  if ((interrupted)) || ((rc == 130)); then say "$name: interrupted"; exit 130; fi
  if ((rc == 124)); then say "$name: no result after ${max_s}s; giving up"; exit 2; fi
  if ((rc != 0)); then say "$name failed (exit $rc)"; exit 2; fi
}

if [[ ! -x "$RD" ]]; then
  say "setup (no $RD)"
  bash scripts/setup.sh 2>&1 | tee -a "$log"
  [[ ${PIPESTATUS[0]} -eq 0 && -x "$RD" ]] || { say "setup failed"; exit 2; }
fi
step "deploy $*" "$DEPLOY_MAX_S" "$RD" deploy "$@"
step "heal" "$HEAL_MAX_S" "$RD" heal

what=(--suite)
[[ -n "${RIFTDRILL_EXPERIMENT:-}" ]] && what=("$RIFTDRILL_EXPERIMENT")
say "${what[*]} (bound ${SUITE_MAX_S}s) -> $out"
# shellcheck disable=SC2086  # RIFTDRILL_DRILL_ARGS is a list of words on purpose
bounded "$SUITE_MAX_S" "$RD" drill "${what[@]}" --json --fail-on-regression ${RIFTDRILL_DRILL_ARGS:-} \
  > "$out" 2> >(tee -a "$log" >&2)
rc=$?
case $rc in
  0) ;;
  1) say "a drill failed or regressed" ;;
  2) say "bad input: the suite did not run" ;;
  124) say "the suite ran longer than ${SUITE_MAX_S}s and was stopped (faults healed)"; rc=1 ;;
  130) say "interrupted" ;;
  137) say "the suite ignored SIGTERM and was killed; run \`riftdrill heal\`"; rc=1 ;;
  *) say "the suite exited $rc"; rc=1 ;;
esac
((interrupted)) && rc=130

# The verdicts and regression flags, one line each (the JSON may be empty: bad input, a kill).
python3 - "$out" <<'PY' 2>&1 | tee -a "$log"
import json, sys
try:
    runs = json.load(open(sys.argv[1]))
except Exception:
    sys.exit(0)
for s in runs:  # `drill --json`: a list of summaries
    v = s["verdict"]
    reg = s.get("regressions") or {}
    flags = reg.get("flags") or []
    state = ("PASS" if v["passed"] else "FAIL") + (" REGRESSED" if flags else "")
    print(f"{s['experiment']:22} {state:15} {s['run_id']}  (previous: {reg.get('previous_run_id') or 'none'})")
    for r in v["reasons"]:
        print(f"    {r}")
    for f in flags:
        print(f"    {f['message']}")
    if reg.get("error"):
        print(f"    {reg['error']}")
PY

if ((rc != 130)); then
  say "report"
  bounded "$REPORT_MAX_S" "$RD" report 2>&1 | tee -a "$log"
  report_rc=${PIPESTATUS[0]}
  if ((report_rc != 0)); then
    say "report failed (exit $report_rc)"
    ((rc == 0)) && rc=1
  fi
fi
say "done: exit $rc"
exit "$rc"
