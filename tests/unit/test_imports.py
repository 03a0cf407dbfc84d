"""Only Locust's own processes may import locust: its gevent monkey-patching breaks ssl
(RecursionError in boto3 and friends) in a process that imported ssl before it."""

from __future__ import annotations

import subprocess
import sys


def test_cli_drills_and_load_control_do_not_import_locust() -> None:
    code = (
        "import sys\n"
        "import riftdrill.cli, riftdrill.load.runner, riftdrill.chaos.runner, riftdrill.chaos.actions\n"
        "import riftdrill.verify.verifier, riftdrill.report.render, riftdrill.compare, riftdrill.bench\n"
        "riftdrill.load.runner.locustfile_path()\n"
        "bad = sorted(m for m in ('locust', 'gevent') if m in sys.modules)\n"
        "assert not bad, bad\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
