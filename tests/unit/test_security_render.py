"""The broker template with security on and off, MirrorMaker 2's config, the storage format:
one template for the lab and the clouds (test_node_layout holds Terraform to the same)."""

from __future__ import annotations

import dataclasses
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

from riftdrill import paths
from riftdrill.engines import kafka
from riftdrill.engines.templates import templates_dir
from riftdrill.errors import SetupError
from riftdrill.inventory import Security
from riftdrill.security import credentials
from riftdrill.security.client import client_security

NODE = kafka.KafkaNode(name="aws-1", node_id=101, cloud="aws", cluster="main",
                       address="198.18.1.11", port=9092, controller_port=9093,
                       roles=["broker", "controller"], voters="101@198.18.1.11:9093",
                       settings=kafka.KafkaSettings(3, 2))
SECRETS = "/lab/.riftdrill/secrets"


def _props(text: str) -> dict[str, str]:
    return dict(ln.split("=", 1) for ln in text.splitlines() if ln and not ln.startswith("#"))


def test_security_off_is_plaintext_without_an_authorizer() -> None:
    p = _props(kafka.render_properties(NODE, "/data"))
    assert p["listeners"] == "PLAINTEXT://198.18.1.11:9092,CONTROLLER://198.18.1.11:9093"
    assert p["listener.security.protocol.map"] == "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT"
    assert p["inter.broker.listener.name"] == "PLAINTEXT"
    assert p["authorizer.class.name"] == "" and p["super.users"] == ""
    # the security settings left name the SASL_SSL listener, which does not exist here
    assert p["listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config"] == ""
    assert p["listener.name.sasl_ssl.ssl.keystore.location"] == ""


def test_sasl_tls_secures_every_listener_and_turns_the_authorizer_on() -> None:
    node = dataclasses.replace(NODE, security="sasl-tls", secrets_dir=SECRETS)
    text = kafka.render_properties(node, "/data")
    p = _props(text)
    assert p["listeners"] == "SASL_SSL://198.18.1.11:9092,CONTROLLER://198.18.1.11:9093"
    assert p["advertised.listeners"] == "SASL_SSL://198.18.1.11:9092,CONTROLLER://198.18.1.11:9093"
    assert p["listener.security.protocol.map"] == "CONTROLLER:SSL,SASL_SSL:SASL_SSL"
    assert p["inter.broker.listener.name"] == "SASL_SSL"
    assert p["sasl.mechanism.inter.broker.protocol"] == "SCRAM-SHA-512"
    assert p["listener.name.sasl_ssl.sasl.enabled.mechanisms"] == "SCRAM-SHA-512"
    assert p["authorizer.class.name"] == "org.apache.kafka.metadata.authorizer.StandardAuthorizer"
    assert p["super.users"] == "User:broker"
    for listener in ("sasl_ssl", "controller"):
        assert p[f"listener.name.{listener}.ssl.keystore.type"] == "PEM"
        assert p[f"listener.name.{listener}.ssl.keystore.location"] == f"{SECRETS}/brokers/aws-1.pem"
        assert p[f"listener.name.{listener}.ssl.truststore.location"] == f"{SECRETS}/ca.pem"
    assert p["listener.name.controller.ssl.client.auth"] == "required"
    # CN=broker,OU=aws-1,O=riftdrill is the principal broker
    rule = p["listener.name.controller.ssl.principal.mapping.rules"].split(",DEFAULT")[0]
    pattern, repl = rule.removeprefix("RULE:").rstrip("/").split("/")
    assert re.sub(pattern, repl.replace("$1", r"\1"), "CN=broker,OU=aws-1,O=riftdrill") == "broker"
    # the brokers' login is read from the secrets by the file config provider: no password
    assert p["config.providers"] == "file"
    assert p["listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config"] == (
        f"${{file:{SECRETS}/broker-jaas.properties:sasl.jaas.config}}")
    assert "password" not in text


def test_every_template_value_comes_from_one_rule() -> None:
    """The template's security placeholders are exactly security_values' keys, on and off."""
    template = (templates_dir() / "kafka" / "server.properties.tftpl").read_text()
    placeholders = set(re.findall(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}", template))
    for mode in ("off", "sasl-tls"):
        values = kafka.template_values(dataclasses.replace(NODE, security=mode, secrets_dir=SECRETS),
                                       "/data")
        assert placeholders == set(values)


def _mirror(security: Any) -> str:
    return kafka.render_mirror(kafka.MirrorSpec(
        name="aws-to-gcp", source_name="aws", source_bootstrap="198.18.1.11:9092",
        target_name="gcp", target_bootstrap="198.18.2.11:9092", topics="drill-.*",
        replication_factor=2, **({"security": security} if security else {})))


def test_mirrormaker_reaches_both_clusters_as_its_principal(tmp_path: Path) -> None:
    store = credentials.create(tmp_path / "s")
    sec = client_security(Security(mode="sasl-tls", secrets_dir=str(store.root),
                                   ca_cert=str(store.ca_cert), principals=credentials.PRINCIPALS),
                          "mirrormaker")
    text = _mirror(sec)
    for alias in ("aws", "gcp"):
        assert f"{alias}.security.protocol = SASL_SSL" in text
        assert f"{alias}.sasl.mechanism = SCRAM-SHA-512" in text
        assert f"{alias}.ssl.truststore.location = {store.ca_cert}" in text
        assert f'{alias}.sasl.jaas.config = ' in text and 'username="mirrormaker"' in text
    assert "security" not in _mirror(None) and "sasl" not in _mirror(None)


def test_a_controller_is_formatted_with_every_principals_scram_credentials(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(paths, "lab_dir", lambda: tmp_path / "lab")
    ran: list[list[str]] = []

    class Done:
        returncode, stdout, stderr = 1, "UserScramCredentialRecord(name='load', salt=...)\nboom", ""

    def fake_run(argv: list[str], **_: Any) -> Done:
        ran.append(argv)
        return Done()

    monkeypatch.setattr(subprocess, "run", fake_run)
    monkeypatch.setattr(kafka, "java_bin", lambda: "java")
    with pytest.raises(SetupError) as refused:
        kafka.format_storage("aws-1", tmp_path / "d", tmp_path / "c", "main",
                             [("broker", "pw1"), ("load", "pw2")])
    argv = ran[0]
    at = argv.index("--ignore-formatted")
    assert argv[at + 1:] == ["--add-scram", "SCRAM-SHA-512=[name=broker,password=pw1]",
                             "--add-scram", "SCRAM-SHA-512=[name=load,password=pw2]"]
    # the tool prints the credentials' salted keys: never repeated in the error
    assert "UserScramCredentialRecord" not in str(refused.value) and "boom" in str(refused.value)
    ran.clear()
    with pytest.raises(SetupError):
        kafka.format_storage("aws-2", tmp_path / "d", tmp_path / "c", "main")
    assert "--add-scram" not in ran[0]  # security off, or a broker-only node: none


def test_prepare_issues_the_nodes_certificate_and_only_controllers_bootstrap_scram(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from riftdrill.security import pki

    monkeypatch.setattr(paths, "lab_dir", lambda: tmp_path / "lab")
    monkeypatch.setattr(kafka, "check_installed", lambda: None)
    monkeypatch.setattr(kafka, "java_bin", lambda: "java")
    formatted: dict[str, list[tuple[str, str]]] = {}
    monkeypatch.setattr(kafka, "format_storage", lambda name, d, c, cl, scram=None:
                        formatted.__setitem__(name, list(scram or [])))
    store = credentials.create(tmp_path / "secrets")
    for name, roles in (("aws-1", ["broker", "controller"]), ("aws-3", ["broker"])):
        node = dataclasses.replace(NODE, name=name, roles=roles, security="sasl-tls",
                                   secrets_dir=str(store.root))
        kafka.prepare(node, sans=[name])
        leaf = pki.Issued(b"", store.keystore(name).read_bytes().split(b"-----END PRIVATE KEY-----\n")[1])
        assert pki.sans_of(leaf.certificate) == ["198.18.1.11", name]
    assert [u for u, _ in formatted["aws-1"]] == list(credentials.PRINCIPALS.values())
    assert formatted["aws-3"] == []
