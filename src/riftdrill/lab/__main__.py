"""`python -m riftdrill.lab up|down <component>`: what Terraform's provisioners run.

Kept free of the CLI's heavier imports: Terraform starts one of these per component.
"""

from __future__ import annotations

import json
import os
import sys

from riftdrill.errors import RiftdrillError
from riftdrill.lab.components import ACTIONS


def main(argv: list[str]) -> int:
    if argv[:1] == ["roundtrip"] and len(argv) in (3, 4):
        # A produce/consume round trip from wherever this runs (e.g. inside a cloud namespace);
        # the 4th argument is the principal's client file when security is on.
        from riftdrill.lab.health import round_trip
        from riftdrill.security.client import ClientSecurity

        try:
            security = ClientSecurity.read(argv[3] if len(argv) == 4 else "")
            took = round_trip(argv[1], int(argv[2]), security=security)
            print(f"round trip via {argv[1]}: {took:.3f}s")
        except Exception as exc:
            print(f"riftdrill: round trip via {argv[1]} failed: {exc}", file=sys.stderr)
            return 2
        return 0
    if len(argv) != 2 or tuple(argv) not in ACTIONS:
        kinds = sorted({k for _, k in ACTIONS})
        print(f"usage: python -m riftdrill.lab up|down {{{','.join(kinds)}}} "
              "(spec as JSON in RIFTDRILL_SPEC)", file=sys.stderr)
        return 2
    try:
        spec = json.loads(os.environ.get("RIFTDRILL_SPEC", "{}"))
        ACTIONS[(argv[0], argv[1])](spec)
    except RiftdrillError as exc:
        print(f"riftdrill: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
