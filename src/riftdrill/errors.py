"""Errors a user can cause. The CLI prints them as one line and exits 2."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pydantic


def first_error(exc: pydantic.ValidationError, top: str = "(top level)") -> str:
    """`where: why` of a pydantic error's first problem, for a one-line message (`top`: where,
    when it is the document itself; "" leaves the place out)."""
    err = exc.errors()[0]
    where = ".".join(str(p) for p in err["loc"]) or top
    return f"{where}: {err['msg']}" if where else str(err["msg"])


class RiftdrillError(Exception):
    """A problem the user can fix; the message names the problem and the fix."""

    exit_code = 2


class NotDeployedError(RiftdrillError):
    """No inventory: nothing has been deployed."""


class SetupError(RiftdrillError):
    """A tool or artifact that `make setup` installs is missing or broken."""


class LabError(RiftdrillError):
    """The local lab cannot be built or changed as asked."""


class FaultError(RiftdrillError):
    """A fault primitive cannot be applied to the named target."""


class ValidationError(RiftdrillError):
    """A parameter is out of range or of the wrong kind."""


class SecurityError(RiftdrillError):
    """A cluster refused a client: its credentials, its TLS handshake or its ACLs."""


class AuthenticationError(SecurityError):
    """SASL authentication failed: a wrong or unknown principal's password."""


class TlsError(SecurityError):
    """The TLS handshake failed: a foreign or expired certificate, or a plaintext client."""


class AuthorizationError(SecurityError):
    """A principal was denied an operation: it has no ACL for it."""


class StateError(RiftdrillError):
    """Terraform state riftdrill would not see, or would lose: a second backend, state left
    where the configured backend does not look."""
