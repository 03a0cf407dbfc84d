"""A client's failure to get in, as one line naming the principal and the fix.

librdkafka reports why it could not connect through its error callback (the request itself
only times out), Java clients in their exceptions' names; both are read here, and whatever is
not a security failure is left to the caller (None).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from riftdrill.errors import AuthenticationError, AuthorizationError, SecurityError, TlsError
from riftdrill.security.client import ClientSecurity

FIX_DEPLOY = "deploy again (`make deploy`) to make the secrets and the inventory agree"
# Broker error names (librdkafka's KafkaError.name(), Kafka's Errors) of a missing ACL, and
# what the principal was denied.
DENIED = {
    "TOPIC_AUTHORIZATION_FAILED": "a topic", "GROUP_AUTHORIZATION_FAILED": "a consumer group",
    "CLUSTER_AUTHORIZATION_FAILED": "a cluster operation",
    "TRANSACTIONAL_ID_AUTHORIZATION_FAILED": "a transactional id",
}
JAVA_DENIED = {
    "TopicAuthorizationException": "TOPIC_AUTHORIZATION_FAILED",
    "GroupAuthorizationException": "GROUP_AUTHORIZATION_FAILED",
    "ClusterAuthorizationException": "CLUSTER_AUTHORIZATION_FAILED",
    "TransactionalIdAuthorizationException": "TRANSACTIONAL_ID_AUTHORIZATION_FAILED",
}


def _who(sec: ClientSecurity) -> str:
    return f"principal {sec.principal!r}" if sec.enabled else "a plaintext client"


def _text(error: Any) -> tuple[str, str]:
    """(name, text) of a librdkafka KafkaError, or of any other error or message."""
    name = error.name() if callable(getattr(error, "name", None)) else ""
    text = error.str() if callable(getattr(error, "str", None)) else str(error)
    return str(name), str(text)


def authorization(name: str, sec: ClientSecurity, what: str = "") -> AuthorizationError | None:
    """A broker's *_AUTHORIZATION_FAILED for this client (None: another error)."""
    denied = DENIED.get(name)
    if denied is None:
        return None
    target = f" ({what})" if what else ""
    if not sec.enabled:
        return AuthorizationError(
            f"the cluster denied {denied}{target} to an unauthenticated client ({name}): it "
            f"runs security sasl-tls but the inventory says off; {FIX_DEPLOY}")
    return AuthorizationError(
        f"principal {sec.principal!r} is not allowed {denied}{target} ({name}): `riftdrill "
        "acls` lists what it may do (docs/security.md); use a name its ACLs cover")


def security_failure(errors: Iterable[Any], sec: ClientSecurity,
                     bootstrap: str) -> SecurityError | None:
    """The first authentication, TLS or authorization failure among a client's errors."""
    said = [_text(e) for e in errors]
    # A broker that hung up on the first request looks like a TLS listener to a plaintext
    # client, unless brokers were also refusing connections or not answering: then it is down.
    down = any(re.search(r"Connection refused|[Tt]imed out|Host is unreachable", t) for _, t in said)
    for name, text in said:
        found = _classify(name, text, sec, bootstrap, hung_up_means_tls=not down)
        if found is not None:
            return found
    return None


def _classify(name: str, text: str, sec: ClientSecurity, bootstrap: str,
              hung_up_means_tls: bool = True) -> SecurityError | None:
    if name in DENIED:
        return authorization(name, sec)
    for exception, error_name in JAVA_DENIED.items():
        if exception in text:
            return authorization(error_name, sec)
    if (name in ("_AUTHENTICATION", "SASL_AUTHENTICATION_FAILED")
            or "SaslAuthenticationException" in text or "SASL authentication error" in text):
        if not sec.enabled:
            return AuthenticationError(f"{bootstrap} asked a plaintext client to authenticate; "
                                       f"{FIX_DEPLOY}")
        return AuthenticationError(
            f"{bootstrap} refused principal {sec.principal!r}'s password (SASL {sec.mechanism} "
            f"authentication failed): the password in {sec.file or 'its client file'} is not "
            f"the cluster's; {FIX_DEPLOY}")
    if sec.enabled and re.search(r"connecting to a PLAINTEXT|SSL handshake failed: Disconnected"
                                 r"|wrong version number|Unsupported or unrecognized SSL", text):
        return TlsError(f"{bootstrap} does not speak TLS to {_who(sec)}: the cluster runs "
                        f"without security while the inventory says sasl-tls; {FIX_DEPLOY}")
    if name == "_SSL" or "SSLHandshakeException" in text or "SSL handshake failed" in text:
        reason = _ssl_reason(text)
        if not sec.enabled:
            return TlsError(f"TLS handshake with {bootstrap} failed ({reason}); {FIX_DEPLOY}")
        return TlsError(
            f"TLS handshake of {_who(sec)} with {bootstrap} failed ({reason}): the broker's "
            f"certificate must be signed by {sec.ca_cert} and valid now; {FIX_DEPLOY}")
    if not sec.enabled and ("connecting to a SSL listener" in text
                            or "connecting to a SASL listener" in text
                            # what this librdkafka logs: the broker hung up on its first request
                            or (hung_up_means_tls and "Disconnected" in text
                                and "state APIVERSION_QUERY" in text)):
        return TlsError(
            f"{bootstrap} hung up on a plaintext client at its first request: the cluster "
            f"speaks TLS (security sasl-tls) while the inventory says off; {FIX_DEPLOY}")
    return None


def _ssl_reason(text: str) -> str:
    # librdkafka says "certificate verify failed" for a foreign and an expired certificate alike.
    for pattern, reason in ((r"certificate has expired|CertificateExpiredException|expired",
                             "certificate expired"),
                            (r"certificate verify failed|unable to find valid certification path"
                             r"|PKIX", "the broker's certificate could not be verified: foreign or "
                                       "expired"),
                            (r"IP address mismatch|hostname mismatch|No subject alternative",
                             "certificate does not name the broker's address")):
        if re.search(pattern, text):
            return reason
    return text.strip().splitlines()[0][:160] if text.strip() else "no reason given"
