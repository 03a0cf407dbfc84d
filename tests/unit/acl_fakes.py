"""A fake Kafka Admin API for the ACL drill's unit tests: the cluster's ACLs are a dict.

It fakes the boundary (`security.acls.admin_client`), not the subject: `apply_acls`,
`faults.sync_acls` and the fault primitives run for real against it. `on_change` lets a test
check what was on disk when the cluster was changed (record-before-apply).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from riftdrill.inventory import Inventory, Security
from riftdrill.security import acls, credentials
from riftdrill.security.client import ClientSecurity

Key = tuple[str, str, str, str, str]


class Answered:
    """A future that already has its answer."""

    def __init__(self, value: Any = None, exc: BaseException | None = None) -> None:
        self.value, self.exc = value, exc

    def result(self, timeout: float | None = None) -> Any:
        if self.exc is not None:
            raise self.exc
        return self.value


def key(binding: Any) -> Key:
    return acls._key(binding)


@dataclass
class FakeCluster:
    """One cluster's ACLs (by key) and every Admin API call made to it."""

    bindings: dict[Key, Any] = field(default_factory=dict)
    calls: list[str] = field(default_factory=list)
    clients: list[tuple[str, str]] = field(default_factory=list)  # (bootstrap, principal)
    on_change: Callable[[str], None] | None = None
    fail_create: bool = False

    def seed(self, rules: Iterable[acls.Acl]) -> None:
        for b in acls.bindings(rules):
            self.bindings[key(b)] = b

    def principal_ops(self, principal: str) -> set[tuple[str, str, str]]:
        """(resource type, name, operation) of every ACL of `principal`."""
        return {(k[0], k[1], k[4]) for k in self.bindings if k[3] == f"User:{principal}"}


class FakeAdmin:
    def __init__(self, cluster: FakeCluster) -> None:
        self.cluster = cluster

    def describe_acls(self, _filter: Any, request_timeout: float = 0) -> Answered:
        self.cluster.calls.append("describe")
        return Answered(list(self.cluster.bindings.values()))

    def create_acls(self, bindings: list[Any], request_timeout: float = 0) -> dict[Any, Answered]:
        self.cluster.calls.append(f"create {len(bindings)}")
        if self.cluster.on_change is not None:
            self.cluster.on_change("create")
        out = {}
        for b in bindings:
            if self.cluster.fail_create:
                from confluent_kafka import KafkaException

                out[b] = Answered(exc=KafkaException("SECURITY_DISABLED"))
                continue
            self.cluster.bindings[key(b)] = b
            out[b] = Answered()
        return out

    def delete_acls(self, filters: list[Any], request_timeout: float = 0) -> dict[Any, Answered]:
        self.cluster.calls.append(f"delete {len(filters)}")
        if self.cluster.on_change is not None:
            self.cluster.on_change("delete")
        out = {}
        for f in filters:
            gone = self.cluster.bindings.pop(key(f), None)
            out[f] = Answered([gone] if gone is not None else [])
        return out


def secure(inv: Inventory, secrets_dir: Path) -> Inventory:
    """`inv` deployed with security sasl-tls, the broker's client file written (a fake
    password: nothing here connects)."""
    secrets = credentials.Secrets(secrets_dir)
    for principal in credentials.PRINCIPALS.values():
        credentials.write_secret(secrets.client_file(principal), json.dumps({
            "principal": principal, "password": "not-a-secret", "ca_cert": str(secrets.ca_cert),
            "mechanism": credentials.SCRAM_MECHANISM, "client_keystore": ""}).encode())
    return inv.model_copy(update={"security": Security(
        mode="sasl-tls", secrets_dir=str(secrets_dir), ca_cert=str(secrets.ca_cert),
        principals=credentials.PRINCIPALS)})


def fake_clusters(monkeypatch: pytest.MonkeyPatch,
                  seed: Iterable[acls.Acl] = ()) -> dict[str, FakeCluster]:
    """Every Admin client riftdrill makes for ACLs talks to the fake cluster of its bootstrap
    string (one per cluster of the inventory), which starts with the ACLs of `seed` (what the
    deploy's `ready` created)."""
    clusters: dict[str, FakeCluster] = {}
    rules = list(seed)

    def admin_client(bootstrap: str, admin: ClientSecurity) -> FakeAdmin:
        if bootstrap not in clusters:
            clusters[bootstrap] = FakeCluster()
            clusters[bootstrap].seed(rules)
        cluster = clusters[bootstrap]
        cluster.clients.append((bootstrap, admin.principal))
        return FakeAdmin(cluster)

    monkeypatch.setattr(acls, "admin_client", admin_client)
    return clusters
