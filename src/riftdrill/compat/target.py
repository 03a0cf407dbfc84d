"""What a compat client talks to: resolved once from its arguments and passed to every workflow."""

from __future__ import annotations

from dataclasses import dataclass

from riftdrill.security.client import OFF, ClientSecurity


class Unavailable(Exception):
    """The client has no API for the workflow, or the deploy lacks what it needs."""


class Failed(Exception):
    """The workflow ran and the engine did not behave as Kafka does."""


@dataclass(frozen=True)
class CompatTarget:
    bootstrap: str
    # The principal every workflow runs as (the deploy's super user when security is on: the
    # matrix asks what the engine implements; the security cells test what it enforces).
    admin: ClientSecurity = OFF
    # A principal with no write ACL (the verifier's): acl-enforcement writes as it.
    limited: ClientSecurity = OFF
    nonce: str = ""
    timeout_s: float = 20.0

    @property
    def client_conf(self) -> dict[str, str]:
        """What every librdkafka client of a workflow merges in: the admin principal's settings."""
        return self.admin.librdkafka()

    @property
    def secured(self) -> bool:
        return self.admin.enabled and self.limited.enabled

    def name(self, workflow: str, client: str, suffix: str = "") -> str:
        base = f"compat-{workflow}-{client}-{self.nonce}"
        return f"{base}-{suffix}" if suffix else base
