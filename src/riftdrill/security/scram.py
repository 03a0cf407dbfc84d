"""SCRAM-SHA-512 (RFC 5802), the client's side, for riftdrill's own Kafka sockets.

The verifier's fast reader (verify/fetch.py) speaks Kafka on a plain socket; on a secured
cluster it logs in like any client: SaslHandshake, then these three messages in
SaslAuthenticate requests (`authenticate`, with the socket's request function).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import struct
from collections.abc import Callable
from dataclasses import dataclass, field

API_SASL_HANDSHAKE, API_SASL_AUTHENTICATE = 17, 36
MECHANISM = "SCRAM-SHA-512"


class ScramError(Exception):
    """The server refused the login, or answered what SCRAM does not allow."""


def _h(data: bytes) -> bytes:
    return hashlib.sha512(data).digest()


def _hmac(key: bytes, data: bytes) -> bytes:
    return hmac.new(key, data, hashlib.sha512).digest()


def _fields(message: str) -> dict[str, str]:
    return dict(part.split("=", 1) for part in message.split(",") if "=" in part)


def _saslname(name: str) -> str:
    return name.replace("=", "=3D").replace(",", "=2C")


@dataclass
class ScramClient:
    username: str
    password: str
    nonce: str = field(default_factory=lambda: base64.b64encode(os.urandom(24)).decode())
    _first_bare: str = ""
    _server_signature: bytes = b""

    def first(self) -> bytes:
        self._first_bare = f"n={_saslname(self.username)},r={self.nonce}"
        return ("n,," + self._first_bare).encode()

    def final(self, server_first: bytes) -> bytes:
        text = server_first.decode()
        f = _fields(text)
        if "e" in f:
            raise ScramError(f"server refused: {f['e']}")
        nonce, salt, iterations = f.get("r", ""), f.get("s", ""), int(f.get("i", "0"))
        if not nonce.startswith(self.nonce) or not salt or iterations < 1:
            raise ScramError("server-first-message is not SCRAM")
        salted = hashlib.pbkdf2_hmac("sha512", self.password.encode(), base64.b64decode(salt),
                                     iterations)
        client_key = _hmac(salted, b"Client Key")
        without_proof = f"c=biws,r={nonce}"  # biws: base64 of the gs2 header "n,,"
        auth_message = f"{self._first_bare},{text},{without_proof}".encode()
        signature = _hmac(_h(client_key), auth_message)
        proof = bytes(a ^ b for a, b in zip(client_key, signature, strict=True))
        self._server_signature = _hmac(_hmac(salted, b"Server Key"), auth_message)
        return f"{without_proof},p={base64.b64encode(proof).decode()}".encode()

    def verify(self, server_final: bytes) -> None:
        f = _fields(server_final.decode())
        if "e" in f:
            raise ScramError(f"server refused: {f['e']}")
        if base64.b64decode(f.get("v", "")) != self._server_signature:
            raise ScramError("the server's signature is wrong: not the cluster we know")


Request = Callable[[int, int, bytes], memoryview | bytes]


def _bytes(value: bytes) -> bytes:
    return struct.pack(">i", len(value)) + value


def _string(value: str) -> bytes:
    raw = value.encode()
    return struct.pack(">h", len(raw)) + raw


def authenticate(request: Request, username: str, password: str) -> None:
    """Log in on a fresh connection: SaslHandshake v1, then SaslAuthenticate v0 three times
    (non-flexible versions, like the reader's other requests). ScramError when refused."""
    view = bytes(request(API_SASL_HANDSHAKE, 1, _string(MECHANISM)))
    (error,) = struct.unpack_from(">h", view)
    if error != 0:
        raise ScramError(f"SaslHandshake error {error}: the broker does not offer {MECHANISM}")
    client = ScramClient(username, password)
    server_first = _authenticate(request, client.first())
    server_final = _authenticate(request, client.final(server_first))
    client.verify(server_final)


def _authenticate(request: Request, payload: bytes) -> bytes:
    view = bytes(request(API_SASL_AUTHENTICATE, 0, _bytes(payload)))
    error, msg_len = struct.unpack_from(">hh", view)
    pos = 4
    message = view[pos:pos + msg_len].decode(errors="replace") if msg_len > 0 else ""
    pos += max(msg_len, 0)
    if error != 0:
        raise ScramError(f"SASL authentication failed ({message or f'error {error}'})")
    (size,) = struct.unpack_from(">i", view, pos)
    return view[pos + 4:pos + 4 + size] if size > 0 else b""
