"""A refused client is one line naming the principal and the fix; and the verifier's raw
sockets log in with SCRAM-SHA-512 as Kafka's brokers check it."""

from __future__ import annotations

import base64
import hashlib
import hmac
import struct
from typing import Any

import pytest

from riftdrill.errors import AuthenticationError, AuthorizationError, SecurityError, TlsError
from riftdrill.security import scram
from riftdrill.security.client import OFF, ClientSecurity
from riftdrill.security.diagnose import authorization, security_failure

LOAD = ClientSecurity(principal="load", password="pw", ca_cert="/s/ca.pem",
                      file="/s/clients/load.json")
BOOT = "198.18.1.11:9092"


class FakeKafkaError:
    """The two methods of confluent_kafka.KafkaError the diagnosis reads."""

    def __init__(self, name: str, text: str) -> None:
        self._name, self._text = name, text

    def name(self) -> str:
        return self._name

    def str(self) -> str:
        return self._text


def _one(errors: list[Any], sec: ClientSecurity = LOAD) -> SecurityError:
    found = security_failure(errors, sec, BOOT)
    assert found is not None
    assert "\n" not in str(found) and found.exit_code == 2
    return found


def test_a_wrong_password_names_the_principal_and_its_file() -> None:
    err = _one([FakeKafkaError("_ALL_BROKERS_DOWN", "1/1 brokers are down"), FakeKafkaError(
        "_AUTHENTICATION", "sasl_ssl://198.18.1.11:9092/bootstrap: SASL authentication error: "
        "Authentication failed during authentication due to invalid credentials with SASL "
        "mechanism SCRAM-SHA-512")])
    assert isinstance(err, AuthenticationError)
    assert "principal 'load'" in str(err) and "/s/clients/load.json" in str(err)
    assert "make deploy" in str(err)
    java = _one(["org.apache.kafka.common.errors.SaslAuthenticationException: Authentication failed"])
    assert isinstance(java, AuthenticationError)


def test_a_foreign_or_expired_certificate_is_a_tls_error_naming_the_authority() -> None:
    err = _one([FakeKafkaError("_SSL", "SSL handshake failed: error:0A000086:SSL routines::"
                               "certificate verify failed: broker certificate could not be "
                               "verified (after 7ms in state SSL_HANDSHAKE)")])
    assert isinstance(err, TlsError)
    assert "foreign or expired" in str(err) and "/s/ca.pem" in str(err)
    expired = _one(["javax.net.ssl.SSLHandshakeException: PKIX path validation failed: "
                    "java.security.cert.CertificateExpiredException: NotAfter: ..."])
    assert "certificate expired" in str(expired)


def test_plaintext_and_tls_disagreeing_is_named_either_way() -> None:
    plaintext = _one(["FAIL [rdkafka#producer-15] 127.0.0.1:39092/bootstrap: Disconnected: "
                      "connection closed by peer: receive 0 after POLLIN (after 5ms in state "
                      "APIVERSION_QUERY)"], OFF)
    assert isinstance(plaintext, TlsError) and "plaintext client" in str(plaintext)
    # a broker that is down, not a TLS listener: not a security failure
    assert security_failure(["... Disconnected ... in state APIVERSION_QUERY",
                             "Connect to ipv4#198.18.1.12:9092 failed: Connection refused"],
                            OFF, BOOT) is None
    secured = _one([FakeKafkaError("_SSL", "SSL handshake failed: Disconnected: SSL connection")])
    assert "does not speak TLS" in str(secured)


def test_a_missing_acl_names_the_principal_and_what_it_was_denied() -> None:
    err = _one([FakeKafkaError("TOPIC_AUTHORIZATION_FAILED", "Broker: Topic authorization failed")])
    assert isinstance(err, AuthorizationError)
    assert "principal 'load'" in str(err) and "a topic" in str(err) and "riftdrill acls" in str(err)
    for name, what in (("GROUP_AUTHORIZATION_FAILED", "consumer group"),
                       ("CLUSTER_AUTHORIZATION_FAILED", "cluster operation"),
                       ("TRANSACTIONAL_ID_AUTHORIZATION_FAILED", "transactional id")):
        assert what in str(_one([FakeKafkaError(name, "")]))
    java = _one(["org.apache.kafka.common.errors.TopicAuthorizationException: Not authorized to "
                 "access topics: [payments]"])
    assert "TOPIC_AUTHORIZATION_FAILED" in str(java)
    denied = authorization("TOPIC_AUTHORIZATION_FAILED", LOAD, "creating topic 'payments'")
    assert denied is not None and "creating topic 'payments'" in str(denied)
    assert authorization("NOT_LEADER_OR_FOLLOWER", LOAD) is None


def test_other_failures_are_left_to_the_caller() -> None:
    assert security_failure([FakeKafkaError("_TRANSPORT", "Broker transport failure"),
                             FakeKafkaError("_TIMED_OUT", "Local: Timed out")], LOAD, BOOT) is None
    assert security_failure([], OFF, BOOT) is None


class ScramServer:
    """The server's side of RFC 5802 (what Kafka's ScramSaslServer computes), for the test."""

    def __init__(self, password: str, iterations: int = 4096) -> None:
        self.salt = b"0123456789abcdef"
        self.iterations = iterations
        salted = hashlib.pbkdf2_hmac("sha512", password.encode(), self.salt, iterations)
        client_key = hmac.new(salted, b"Client Key", hashlib.sha512).digest()
        self.stored_key = hashlib.sha512(client_key).digest()
        self.server_key = hmac.new(salted, b"Server Key", hashlib.sha512).digest()

    def first(self, client_first: bytes) -> tuple[bytes, str, str]:
        bare = client_first.decode().removeprefix("n,,")
        nonce = dict(p.split("=", 1) for p in bare.split(","))["r"] + "srv"
        server_first = f"r={nonce},s={base64.b64encode(self.salt).decode()},i={self.iterations}"
        return server_first.encode(), bare, server_first

    def final(self, client_final: bytes, bare: str, server_first: str) -> bytes:
        without_proof, proof = client_final.decode().rsplit(",p=", 1)
        auth = f"{bare},{server_first},{without_proof}".encode()
        signature = hmac.new(self.stored_key, auth, hashlib.sha512).digest()
        client_key = bytes(a ^ b for a, b in zip(base64.b64decode(proof), signature, strict=True))
        if hashlib.sha512(client_key).digest() != self.stored_key:
            return b"e=invalid-proof"
        return b"v=" + base64.b64encode(hmac.new(self.server_key, auth, hashlib.sha512).digest())


def _kafka(server: ScramServer) -> Any:
    """A broker's SaslHandshake v1 / SaslAuthenticate v0 answers around the SCRAM server."""
    state: dict[str, Any] = {}

    def request(api_key: int, version: int, body: bytes) -> bytes:
        if api_key == scram.API_SASL_HANDSHAKE:
            (n,) = struct.unpack_from(">h", body)
            assert body[2:2 + n] == b"SCRAM-SHA-512" and version == 1
            return struct.pack(">hi", 0, 1) + struct.pack(">h", 13) + b"SCRAM-SHA-512"
        assert api_key == scram.API_SASL_AUTHENTICATE
        (size,) = struct.unpack_from(">i", body)
        payload = body[4:4 + size]
        if "bare" not in state:
            reply, state["bare"], state["first"] = server.first(payload)
        else:
            reply = server.final(payload, state["bare"], state["first"])
            if reply.startswith(b"e="):
                message = b"Authentication failed: Invalid user credentials"
                return struct.pack(">hh", 58, len(message)) + message + struct.pack(">i", -1)
        return struct.pack(">hh", 0, -1) + struct.pack(">i", len(reply)) + reply

    return request


def test_scram_sha_512_logs_in_and_checks_the_servers_signature() -> None:
    scram.authenticate(_kafka(ScramServer("s3cret")), "verifier", "s3cret")
    with pytest.raises(scram.ScramError, match="Invalid user credentials"):
        scram.authenticate(_kafka(ScramServer("other")), "verifier", "s3cret")
    client = scram.ScramClient("verifier", "s3cret")
    server = ScramServer("s3cret")
    first, bare, server_first = server.first(client.first())
    client.final(first)
    with pytest.raises(scram.ScramError, match="signature"):
        client.verify(b"v=" + base64.b64encode(b"x" * 64))  # not the cluster that knows us
    with pytest.raises(scram.ScramError, match="not SCRAM"):
        scram.ScramClient("v", "p").final(b"r=someone-elses-nonce,s=c2FsdA==,i=4096")
    assert bare.startswith("n=verifier,r=") and server_first
