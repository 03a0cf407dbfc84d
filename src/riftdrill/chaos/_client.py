"""Tiny Kafka client steps run inside a cloud's namespace by the probes:

    python -m riftdrill.chaos._client produce BOOTSTRAP TOPIC DEADLINE_S [SECURITY_FILE]
        exit 0 = acked
    python -m riftdrill.chaos._client reach BOOTSTRAP TIMEOUT_S [SECURITY_FILE]
        exit 0 = metadata

SECURITY_FILE: the principal's client file (security/client.py), when security is on.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

from riftdrill.security.client import OFF, ClientSecurity


def _quiet() -> logging.Logger:
    log = logging.getLogger("riftdrill.chaos.client")
    log.propagate = False
    log.addHandler(logging.NullHandler())
    return log


def produce(bootstrap: str, topic: str, deadline_s: float, security: ClientSecurity = OFF) -> bool:
    from confluent_kafka import Producer

    p = Producer({"bootstrap.servers": bootstrap, "acks": "all", "logger": _quiet(),
                  "message.timeout.ms": max(1000, int(deadline_s * 1000)),
                  **security.librdkafka()})
    out: list[Any] = []
    p.produce(topic, b"probe", on_delivery=lambda err, msg: out.append(err))
    p.flush(deadline_s + 1)
    return bool(out) and out[0] is None


def reach(bootstrap: str, timeout_s: float, security: ClientSecurity = OFF) -> bool:
    from riftdrill.load.kafka import check_reachable

    try:
        check_reachable(bootstrap, timeout_s, security=security)
    except Exception:
        return False
    return True


def main(argv: list[str]) -> int:
    if argv[:1] == ["produce"] and len(argv) in (4, 5):
        security = ClientSecurity.read(argv[4] if len(argv) == 5 else "")
        return 0 if produce(argv[1], argv[2], float(argv[3]), security) else 1
    if argv[:1] == ["reach"] and len(argv) in (3, 4):
        security = ClientSecurity.read(argv[3] if len(argv) == 4 else "")
        return 0 if reach(argv[1], float(argv[2]), security) else 1
    print("usage: python -m riftdrill.chaos._client produce|reach ...", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
