"""`python -m riftdrill.chaos EXP [--var k=v]`: the drill command without the main CLI."""

import sys

from riftdrill.chaos.cli import drill_app
from riftdrill.errors import RiftdrillError

try:
    drill_app(standalone_mode=False)
except RiftdrillError as exc:
    print(f"riftdrill: error: {exc}", file=sys.stderr)
    sys.exit(exc.exit_code)
