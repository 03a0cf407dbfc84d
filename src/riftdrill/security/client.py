"""A principal's client settings: the one place a client learns how to connect.

`client_security(inv.security, role)` resolves them once, from the inventory's security (a lab
component gets the same block in its spec) and the secrets directory;
callers pass the `ClientSecurity` down and each client merges its settings for its kind:
`librdkafka()` into a confluent-kafka config, `java()` / `java_properties()` into a Java
client's (MirrorMaker 2, Connect workers, kafka-producer-perf-test). A process started by
another takes the principal's client file (`file`, 0600 in the secrets directory) as an
argument instead: no secret on a command line or in the environment.

With security off it is `OFF`: every method returns nothing to merge, and clients connect in
plain text exactly as before.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from riftdrill.errors import SetupError
from riftdrill.inventory import Role, Security
from riftdrill.security import credentials

if TYPE_CHECKING:
    import ssl


@dataclass(frozen=True)
class ClientSecurity:
    principal: str = ""  # "" = security off
    password: str = field(default="", repr=False)
    ca_cert: str = ""  # PEM of the authority that signed the brokers' certificates
    mechanism: str = credentials.SCRAM_MECHANISM
    client_keystore: str = ""  # key + certificate for the controllers' listener ("" = none)
    file: str = ""  # the client file this was read from: what a child process is given

    @property
    def enabled(self) -> bool:
        return bool(self.principal)

    @property
    def protocol(self) -> str:
        return "SASL_SSL" if self.enabled else "PLAINTEXT"

    def librdkafka(self) -> dict[str, str]:
        """confluent-kafka settings to merge into a client's config ({} when off)."""
        if not self.enabled:
            return {}
        return {"security.protocol": "SASL_SSL", "sasl.mechanisms": self.mechanism,
                "sasl.username": self.principal, "sasl.password": self.password,
                "ssl.ca.location": self.ca_cert}

    def java(self, prefix: str = "") -> dict[str, str]:
        """A Java client's settings, each key after `prefix` ("" when off)."""
        if not self.enabled:
            return {}
        settings = {"security.protocol": "SASL_SSL", "sasl.mechanism": self.mechanism,
                    "sasl.jaas.config": credentials.jaas_config(self.principal, self.password),
                    "ssl.truststore.type": "PEM", "ssl.truststore.location": self.ca_cert}
        return {f"{prefix}{k}": v for k, v in settings.items()}

    def java_properties(self, prefix: str = "") -> str:
        """`java()` as lines of a .properties file."""
        return "".join(f"{k}={v}\n" for k, v in self.java(prefix).items())

    def java_config_file(self) -> Path:
        """`java_properties()` in a file beside the client file (0600), for a Java tool that
        takes its client settings as a file (kafka-producer-perf-test --producer.config)."""
        if not self.file:
            raise SetupError(f"principal {self.principal or '(none)'} has no client file to "
                             "put its Java settings beside")
        path = Path(self.file).with_suffix(".properties")
        credentials.write_secret(path, self.java_properties().encode())
        return path

    def ssl_context(self) -> ssl.SSLContext | None:
        """TLS for a raw socket (the verifier's reader, the quorum probe): trusts only the
        deploy's authority, checks the address, presents the client certificate if any."""
        if not self.enabled:
            return None
        import ssl  # here: a Locust process must import ssl only after gevent patched it

        ctx = ssl.create_default_context(cafile=self.ca_cert)
        if self.client_keystore:
            ctx.load_cert_chain(self.client_keystore)
        return ctx

    @classmethod
    def read(cls, path: str | Path) -> ClientSecurity:
        """A client file (`file`), as a child process reads the one it was given; "" is OFF."""
        if not str(path):
            return OFF
        try:
            data = json.loads(Path(path).read_text())
        except (OSError, ValueError) as exc:
            raise SetupError(f"client security file {path} is unreadable ({exc}); deploy again "
                             "(`make deploy`)") from None
        return cls(**{**data, "file": str(path)})

    def reread(self) -> ClientSecurity:
        """These settings as the client file has them now (a rotation swaps its password);
        themselves without a file, or when the file cannot be read now."""
        if not self.file:
            return self
        try:
            return ClientSecurity.read(self.file)
        except SetupError:
            return self


OFF = ClientSecurity()


def _mtime_ns(path: str) -> int:
    try:
        return Path(path).stat().st_mtime_ns
    except OSError:
        return 0


FOLLOW_CHECK_S = 1.0  # how often a long-running client looks at its client file


@dataclass
class Follower:
    """A long-running client's view of its client file, which a rotation
    (security/rotation.py) swaps: `changed()` is the new settings once the file names another
    password, else None. A client gives them to librdkafka with set_sasl_credentials (used at
    its next login; the sessions it has stay until the brokers ask them to log in again)."""

    current: ClientSecurity
    _seen_ns: int = -1

    def changed(self) -> ClientSecurity | None:
        if not self.current.file:
            return None
        now = _mtime_ns(self.current.file)
        if now == self._seen_ns:
            return None
        self._seen_ns = now
        sec = self.current.reread()  # swapped by a rename: never half written
        if sec.password == self.current.password:  # the same, or unreadable now
            return None
        self.current = sec
        return sec


def client_security(sec: Security, role: Role) -> ClientSecurity:
    """The client settings of `role`'s principal on the deployed clusters (`sec`: the
    inventory's security), from the client file the deploy wrote (credentials.create); OFF when
    security is off."""
    if not sec.enabled:
        return OFF
    return ClientSecurity.read(credentials.Secrets(Path(sec.secrets_dir)).client_file(
        sec.principal(role)))
