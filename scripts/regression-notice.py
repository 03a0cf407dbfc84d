#!/usr/bin/env python3
"""Regressions of the newest scheduled suite, as a notice for the cloud drill workflow.

    python3 scripts/regression-notice.py [results/scheduled] [--out notice.md]

Reads the newest results/scheduled/<UTC>.json (`riftdrill drill --json`: a list of summaries,
each with riftdrill.chaos.regression's `regressions` block), writes a Markdown notice naming
every regressed drill, its flags and its previous run (to --out, else stdout), and prints
`regressed=true|false` and `drills=N` lines for $GITHUB_OUTPUT. Exit 0 whatever it found (the
workflow decides what fails); exit 2 when there is no readable suite file.
Standard library only: it runs before or without riftdrill's virtualenv.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any


def newest_suite(scheduled: Path) -> Path | None:
    files = sorted(scheduled.glob("*.json"))
    return files[-1] if files else None


def notice(summaries: list[dict[str, Any]], source: str) -> tuple[bool, str]:
    """(any regression, Markdown text) of one suite's summaries."""
    lines: list[str] = []
    regressed = False
    for s in summaries:
        reg = s.get("regressions") or {}
        flags = reg.get("flags") or []
        if not flags:
            continue
        regressed = True
        passed = (s.get("verdict") or {}).get("passed")
        lines.append(f"- **{s.get('experiment', '?')}** run `{s.get('run_id', '?')}` "
                     f"({'passed' if passed else 'failed'}), previous run "
                     f"`{reg.get('previous_run_id') or 'none'}`:")
        lines += [f"  - {f.get('message', f.get('figure', '?'))}" for f in flags]
        if reg.get("params_changed"):
            lines.append(f"  - parameters changed since then: {', '.join(sorted(reg['params_changed']))}")
    head = (f"riftdrill cloud drill: {sum(1 for s in summaries if (s.get('regressions') or {}).get('flags'))}"
            f" of {len(summaries)} drill(s) regressed against their previous run ({source})")
    return regressed, "\n".join([head, "", *lines]) + "\n" if regressed else head + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("scheduled", nargs="?", default="results/scheduled", type=Path)
    ap.add_argument("--out", type=Path, help="write the notice here (default: stdout)")
    args = ap.parse_args(argv)
    path = newest_suite(args.scheduled)
    if path is None:
        print(f"regression-notice: no suite file in {args.scheduled}", file=sys.stderr)
        return 2
    try:
        summaries = json.loads(path.read_text() or "[]")
    except (OSError, json.JSONDecodeError) as exc:
        print(f"regression-notice: {path}: not readable JSON ({exc})", file=sys.stderr)
        return 2
    if not isinstance(summaries, list):
        print(f"regression-notice: {path}: expected a list of summaries", file=sys.stderr)
        return 2
    regressed, text = notice(summaries, path.name)
    if args.out:
        args.out.write_text(text)
    else:
        sys.stderr.write(text)
    print(f"regressed={'true' if regressed else 'false'}")
    print(f"drills={len(summaries)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
