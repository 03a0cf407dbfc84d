"""The deploy's certificate authority and secrets: chains verify, SANs name the brokers, only
their owner reads the files, and a finished deploy keeps the secrets its cluster runs on."""

from __future__ import annotations

import json
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from riftdrill.errors import SetupError
from riftdrill.security import credentials, pki


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _certs(pem: bytes) -> list[x509.Certificate]:
    return x509.load_pem_x509_certificates(pem)


def test_a_broker_certificate_chains_to_the_deploy_authority_and_names_its_addresses() -> None:
    ca = pki.new_ca()
    broker = pki.issue(ca, "broker", unit="aws-1", sans=["198.18.1.11", "aws-1"], server=True)
    cert = broker.certificate
    cert.verify_directly_issued_by(ca.certificate)  # raises unless the CA signed it
    assert pki.sans_of(cert) == ["198.18.1.11", "aws-1"]
    ips = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert [str(ip) for ip in ips.get_values_for_type(x509.IPAddress)] == ["198.18.1.11"]
    # The brokers' principal mapping reads the CN: CN=broker,OU=aws-1,O=riftdrill -> broker
    assert cert.subject.rfc4514_string() == "CN=broker,OU=aws-1,O=riftdrill"
    usage = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert {ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH} <= set(usage)
    assert ca.certificate.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert not cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca


def test_a_foreign_authority_does_not_sign_this_deploys_certificates() -> None:
    ours, theirs = pki.new_ca(), pki.new_ca()
    cert = pki.issue(ours, "load").certificate
    with pytest.raises(InvalidSignature):  # same name, another key
        cert.verify_directly_issued_by(theirs.certificate)


def test_validity_starts_a_little_in_the_past_and_lasts_the_days_asked() -> None:
    now = datetime(2030, 1, 1, tzinfo=UTC)
    cert = pki.issue(pki.new_ca(now=now), "verifier", days=2, now=now).certificate
    assert cert.not_valid_before_utc == now - timedelta(minutes=5)
    assert cert.not_valid_after_utc == now - timedelta(minutes=5) + timedelta(days=2)
    client = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(client) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "verifier"


def test_the_secrets_are_their_owners_only(tmp_path: Path) -> None:
    root = tmp_path / ".riftdrill" / "secrets"
    store = credentials.create(root)
    files = [p for p in root.rglob("*") if p.is_file()]
    dirs = [root, *(p for p in root.rglob("*") if p.is_dir())]
    assert files and all(_mode(f) == 0o600 for f in files), {f.name: oct(_mode(f)) for f in files}
    assert all(_mode(d) == 0o700 for d in dirs)
    assert sorted(p.name for p in (root / "users").iterdir()) == sorted(
        f"{p}.password" for p in credentials.PRINCIPALS.values())
    assert store.complete(credentials.PRINCIPALS)
    # the brokers' own login, for the file config provider: the broker principal's password
    jaas = store.broker_jaas.read_text()
    assert jaas.startswith("sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule")
    assert f'password="{store.password("broker")}"' in jaas
    path = credentials.issue_broker(store, "gcp-2", ["198.18.2.12", "gcp-2"])
    assert path == root / "brokers" / "gcp-2.pem" and _mode(path) == 0o600
    pem = path.read_bytes()
    assert pem.startswith(b"-----BEGIN PRIVATE KEY-----")  # Kafka's PEM keystore: key first
    leaf, ca = _certs(pem)
    leaf.verify_directly_issued_by(ca)
    assert ca == store.ca().certificate and pki.sans_of(leaf) == ["198.18.2.12", "gcp-2"]


def test_an_existing_file_is_rewritten_0600_whatever_its_mode(tmp_path: Path) -> None:
    path = tmp_path / "d" / "x.properties"
    path.parent.mkdir()
    path.write_text("old")
    path.chmod(0o644)
    credentials.write_secret(path, b"new")
    assert path.read_bytes() == b"new" and _mode(path) == 0o600


def test_each_principal_gets_a_client_file_and_only_the_verifier_a_certificate(tmp_path: Path) -> None:
    store = credentials.create(tmp_path / "s")
    for role, principal in credentials.PRINCIPALS.items():
        data = json.loads(store.client_file(principal).read_text())
        assert data["principal"] == principal and data["password"] == store.password(principal)
        assert data["ca_cert"] == str(store.ca_cert) and data["mechanism"] == "SCRAM-SHA-512"
        assert bool(data["client_keystore"]) == (role in credentials.CERTIFICATE_CLIENTS)
    key_and_cert = store.client_keystore("verifier").read_bytes()
    assert b"PRIVATE KEY" in key_and_cert
    _certs(key_and_cert)[0].verify_directly_issued_by(store.ca().certificate)


def test_a_new_lab_gets_new_secrets_and_a_running_one_keeps_its_own(tmp_path: Path) -> None:
    root = tmp_path / "s"
    first = credentials.prepare(root, fresh=True)
    password = first.password("load")
    kept = credentials.prepare(root, fresh=False)  # a deploy finishing the running lab
    assert kept.password("load") == password
    assert credentials.prepare(root, fresh=True).password("load") != password
    (root / "users" / "load.password").unlink()  # half a directory is made anew
    assert credentials.prepare(root, fresh=False).password("load") != password
    pairs = credentials.scram_credentials(credentials.Secrets(root))
    assert [p for p, _ in pairs] == list(credentials.PRINCIPALS.values())
    assert all(len(pw) >= 32 and set(pw) <= set(
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") for _, pw in pairs)


def test_a_missing_secret_is_one_line_naming_the_fix(tmp_path: Path) -> None:
    with pytest.raises(SetupError, match=r"make deploy"):
        credentials.Secrets(tmp_path / "none").password("load")
