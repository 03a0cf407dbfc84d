"""A principal's SCRAM password rotated on every cluster while its clients run.

The order makes a crash at any step something `finish` (called by `riftdrill heal`) completes:

1. the new password is written to users/<principal>.password.pending (0600);
2. every cluster's SCRAM-SHA-512 credential of the principal is upserted to it
   (AlterUserScramCredentials, as the super user); brokers apply it from the metadata log;
3. the principal's password file, client file and Java .properties are swapped to it, each
   one an atomic rename (credentials.write_secret);
4. the pending file goes.

A session already logged in stays in: the brokers' SASL listener makes every session log in
again within `REAUTH_MS` (connections.max.reauth.ms, KIP-368, in the kafka template), so a
client still holding the old password is refused within that time, and one that follows its
client file (the load's users do, load/users.py) logs in with the new one.

Only principals all of whose clients follow the client file rotate: the load's. The brokers',
MirrorMaker 2's and Connect's logins are in configuration files their JVMs read at start; the
verifier's reader reads its file once per verification.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from riftdrill.errors import FaultError, SetupError
from riftdrill.inventory import Inventory, Role
from riftdrill.security import acls, credentials
from riftdrill.security.client import ClientSecurity, client_security

ROTATABLE: tuple[Role, ...] = ("load",)
# Every session on the brokers' client listener logs in again within this (kafka template).
REAUTH_MS = 30_000
SCRAM_ITERATIONS = 4096  # what kafka-storage --add-scram uses by default


def pending_file(s: credentials.Secrets, principal: str) -> Path:
    return s.password_file(principal).with_name(f"{principal}.password.pending")


def rotatable(inv: Inventory, role: str) -> Role:
    """`role`, when its password can rotate on this deploy; else FaultError in one line."""
    if not inv.security.enabled:
        raise FaultError("rotating a password needs SASL: this lab was deployed with security "
                         f"{inv.security.mode}; deploy with SECURITY=sasl-tls "
                         "(`make deploy SECURITY=sasl-tls`)")
    if inv.engine != "kafka":
        raise FaultError(f"credential rotation needs AlterUserScramCredentials, which "
                         f"{inv.engine} does not serve; rotate on a kafka lab")
    r = next((r for r in acls.ROLES if r == role), None)
    if r is None:
        raise FaultError(f"unknown role {role!r}; roles are: {', '.join(acls.ROLES)}")
    if r not in ROTATABLE:
        raise FaultError(f"role {r}'s login is in configuration files its processes read at "
                         f"start, so a rotation would lock them out; rotate "
                         f"{' or '.join(ROTATABLE)} (its clients follow their client file)")
    return r


def begin(s: credentials.Secrets, principal: str) -> str:
    """Step 1: a new password in the pending file (an earlier pending one is kept: a crashed
    rotation may already have given it to some cluster)."""
    pending = pending_file(s, principal)
    if pending.exists():
        return pending.read_text().strip()
    password = secrets.token_urlsafe(24)
    credentials.write_secret(pending, password.encode())
    return password


@dataclass(frozen=True)
class Rotation:
    """What a rotation did: when the first upsert was sent and when the last was answered."""

    principal: str
    clusters: int
    sent_ns: int
    answered_ns: int


def upsert(inv: Inventory, principal: str, password: str, timeout_s: float = 30) -> Rotation:
    """Step 2: every cluster's credential of `principal` set to `password`, as the super user."""
    from confluent_kafka.admin import (  # type: ignore[attr-defined]
        ScramCredentialInfo,
        ScramMechanism,
        UserScramCredentialUpsertion,
    )

    admin = client_security(inv.security, "broker")
    upsertion = UserScramCredentialUpsertion(
        principal, ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, SCRAM_ITERATIONS),
        password.encode())
    sent_ns = time.time_ns()
    bootstraps = acls.cluster_bootstraps(inv)
    for bootstrap in bootstraps:
        client = acls.admin_client(bootstrap, admin)
        futures = client.alter_user_scram_credentials([upsertion],
                                                      request_timeout=timeout_s)
        try:
            for fut in futures.values():
                fut.result()
        except Exception as exc:
            raise SetupError(f"cluster at {bootstrap} refused the new SCRAM credential of "
                             f"{principal} ({exc}); `riftdrill heal` tries again") from None
    return Rotation(principal, len(bootstraps), sent_ns, time.time_ns())


def swap(s: credentials.Secrets, principal: str, password: str) -> None:
    """Steps 3 and 4: the principal's files name the new password, then the pending file goes."""
    credentials.write_secret(s.password_file(principal), password.encode())
    client_file = s.client_file(principal)
    data = json.loads(client_file.read_text())
    data["password"] = password
    credentials.write_secret(client_file, json.dumps(data, indent=1).encode() + b"\n")
    if client_file.with_suffix(".properties").exists():  # a Java tool's copy (java_config_file)
        ClientSecurity.read(client_file).java_config_file()
    pending_file(s, principal).unlink(missing_ok=True)


def pending_principals(s: credentials.Secrets) -> list[str]:
    """Principals whose rotation began and did not finish."""
    users = s.root / "users"
    return sorted(p.name.removesuffix(".password.pending")
                  for p in users.glob("*.password.pending")) if users.is_dir() else []


def login_refused(bootstrap: str, sec: ClientSecurity, timeout_s: float = 15) -> str | None:
    """None when `sec` logs in at `bootstrap` (metadata answered), else why not: the
    authentication failure librdkafka reported, or that nothing answered within timeout_s."""
    from confluent_kafka.admin import AdminClient

    errors: list[Any] = []
    conf: dict[str, Any] = {"bootstrap.servers": bootstrap, "log_level": 0,
                            "error_cb": errors.append, **sec.librdkafka()}
    client = AdminClient(conf)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            client.list_topics(timeout=1)
            return None
        except Exception:  # KafkaException: timed out; the reason comes through error_cb
            client.poll(0)
            refused = [e for e in errors if e.name() in ("_AUTHENTICATION",
                                                         "SASL_AUTHENTICATION_FAILED")]
            if refused:
                return str(refused[0].str())
    return f"no answer within {timeout_s:.0f} s"


def prove(inv: Inventory, principal_sec: ClientSecurity, old_password: str,
          timeout_s: float = 30) -> str:
    """The rotation in force on every cluster: the new password logs in and the old one is
    refused (each asked again until the brokers applied the change, at most timeout_s); one
    line saying so, or SetupError naming the cluster where it is not."""
    old = replace(principal_sec, password=old_password)
    bootstraps: Sequence[str] = acls.cluster_bootstraps(inv)
    for bootstrap in bootstraps:
        deadline = time.monotonic() + timeout_s
        new_refused = login_refused(bootstrap, principal_sec)
        while new_refused is not None and time.monotonic() < deadline:
            time.sleep(0.5)
            new_refused = login_refused(bootstrap, principal_sec)
        if new_refused is not None:
            raise SetupError(f"cluster at {bootstrap} does not take {principal_sec.principal}'s "
                             f"new password ({new_refused}); `riftdrill heal` sets it again")
        while login_refused(bootstrap, old, timeout_s=5) is None:
            if time.monotonic() > deadline:
                raise SetupError(f"cluster at {bootstrap} still takes "
                                 f"{principal_sec.principal}'s old password; `riftdrill heal` "
                                 "sets the new one again")
            time.sleep(0.5)
    return (f"new SCRAM credential of {principal_sec.principal} logs in and the old one is "
            f"refused on {len(bootstraps)} cluster(s)")
