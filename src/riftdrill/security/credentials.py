"""The deploy's secrets: one directory (0700) of files only their owner reads (0600).

    ca.pem, ca.key                  the certificate authority of this deploy
    brokers/<node>.pem              a broker's key and certificate chain (its PEM keystore)
    users/<principal>.password      a principal's SCRAM-SHA-512 password
    clients/<principal>.pem         a client certificate (the verifier's, for the controllers)
    clients/<principal>.json        a principal's client file (security/client.py reads it)
    broker-jaas.properties          the brokers' own SCRAM login (FileConfigProvider reads it)

Made by the deploy before the brokers start, removed by destroy; the inventory names only the
directory and the principals. A broker's certificate is issued when the broker is built (lab
component `broker`), from its own addresses.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, get_args

from riftdrill.errors import SetupError
from riftdrill.inventory import Role

if TYPE_CHECKING:  # imported where used: clients (Locust processes too) need none of it
    from riftdrill.security import pki

ROLES: tuple[Role, ...] = get_args(Role)
# Principal names are the roles' names: User:load, User:verifier, ... (Terraform's
# infra/envs/local lists the same roles for the inventory).
PRINCIPALS: dict[Role, str] = {role: role for role in ROLES}
# Who gets a client certificate besides the brokers: the controllers' listener authenticates by
# certificate only (SCRAM credentials live in the metadata the controllers serve), and the
# broker timeline asks the controllers for the quorum as the verifier.
CERTIFICATE_CLIENTS: tuple[Role, ...] = ("verifier",)
SCRAM_MECHANISM = "SCRAM-SHA-512"
SCRAM_LOGIN_MODULE = "org.apache.kafka.common.security.scram.ScramLoginModule"


def write_secret(path: Path, data: bytes) -> None:
    """Write `data` readable by its owner only, atomically; the directories above are 0700."""
    for parent in reversed(path.parents):
        if not parent.exists():
            parent.mkdir(mode=0o700)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)  # an older tmp file keeps its mode through O_CREAT
        os.write(fd, data)
    finally:
        os.close(fd)
    os.replace(tmp, path)


def jaas_config(principal: str, password: str) -> str:
    """A Java client's SCRAM login (sasl.jaas.config); passwords here are URL-safe base64."""
    return f'{SCRAM_LOGIN_MODULE} required username="{principal}" password="{password}";'


@dataclass(frozen=True)
class Secrets:
    """The secrets directory of one deploy."""

    root: Path

    @property
    def ca_cert(self) -> Path:
        return self.root / "ca.pem"

    @property
    def ca_key(self) -> Path:
        return self.root / "ca.key"

    @property
    def broker_jaas(self) -> Path:
        return self.root / "broker-jaas.properties"

    def password_file(self, principal: str) -> Path:
        return self.root / "users" / f"{principal}.password"

    def keystore(self, node: str) -> Path:
        return self.root / "brokers" / f"{node}.pem"

    def client_keystore(self, principal: str) -> Path:
        return self.root / "clients" / f"{principal}.pem"

    def client_file(self, principal: str) -> Path:
        return self.root / "clients" / f"{principal}.json"

    def ca(self) -> pki.Issued:
        from riftdrill.security import pki

        return pki.Issued(key_pem=self._read(self.ca_key), cert_pem=self._read(self.ca_cert))

    def password(self, principal: str) -> str:
        return self._read(self.password_file(principal)).decode().strip()

    def complete(self, principals: Mapping[Role, str]) -> bool:
        files = [self.ca_cert, self.ca_key, self.broker_jaas,
                 *(self.password_file(p) for p in principals.values()),
                 *(self.client_file(p) for p in principals.values()),
                 *(self.client_keystore(principals[r]) for r in CERTIFICATE_CLIENTS)]
        return all(f.exists() for f in files)

    def _read(self, path: Path) -> bytes:
        try:
            return path.read_bytes()
        except OSError as exc:
            raise SetupError(f"the deploy's secret {path} is unreadable ({exc.strerror}); "
                             "deploy again (`make deploy`) to make new ones") from None


def create(root: Path, principals: Mapping[Role, str] = PRINCIPALS) -> Secrets:
    """New secrets: a new authority, a password per principal, the client certificates. What
    was there before goes (its certificates and passwords belong to the torn-down cluster)."""
    from riftdrill.security import pki

    shutil.rmtree(root, ignore_errors=True)
    s = Secrets(root)
    ca = pki.new_ca()
    write_secret(s.ca_key, ca.key_pem)
    write_secret(s.ca_cert, ca.cert_pem)
    for principal in principals.values():
        write_secret(s.password_file(principal), secrets.token_urlsafe(24).encode())
    broker = principals["broker"]
    write_secret(s.broker_jaas, f"sasl.jaas.config={jaas_config(broker, s.password(broker))}\n"
                 .encode())
    for role in CERTIFICATE_CLIENTS:
        client = pki.issue(ca, principals[role], client=True)
        write_secret(s.client_keystore(principals[role]), client.key_pem + client.cert_pem)
    for role, principal in principals.items():
        # The fields of security/client.py's ClientSecurity, which reads the file.
        keystore = s.client_keystore(principal) if role in CERTIFICATE_CLIENTS else None
        write_secret(s.client_file(principal), json.dumps({
            "principal": principal, "password": s.password(principal),
            "ca_cert": str(s.ca_cert), "mechanism": SCRAM_MECHANISM,
            "client_keystore": str(keystore) if keystore else ""}, indent=1).encode() + b"\n")
    return s


def prepare(root: Path, fresh: bool, principals: Mapping[Role, str] = PRINCIPALS) -> Secrets:
    """The deploy's secrets: new ones for a new cluster (`fresh`), else the running cluster's
    (its SCRAM credentials were made from them), made anew only when some are missing."""
    s = Secrets(root)
    return create(root, principals) if fresh or not s.complete(principals) else s


def issue_broker(s: Secrets, node: str, sans: Sequence[str], principal: str = "broker") -> Path:
    """The node's PEM keystore: a certificate for its addresses (server: clients verify it;
    client: it dials the other brokers and the controllers), signed by the deploy's authority."""
    from riftdrill.security import pki

    ca = s.ca()
    issued = pki.issue(ca, principal, unit=node, sans=sans, server=True, client=True)
    path = s.keystore(node)
    write_secret(path, pki.keystore_pem(issued, ca))
    return path


def scram_credentials(s: Secrets, principals: Mapping[Role, str] = PRINCIPALS) -> list[tuple[str, str]]:
    """(principal, password) of every principal, for `kafka-storage format --add-scram`."""
    return [(p, s.password(p)) for p in principals.values()]
