"""One function gives a principal's client settings, for librdkafka and for Java clients; with
security off there is nothing to merge and every client is configured as before."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from riftdrill.errors import RiftdrillError, SetupError
from riftdrill.hub import connect
from riftdrill.inventory import Security
from riftdrill.security import credentials
from riftdrill.security.client import OFF, ClientSecurity, client_security


@pytest.fixture
def secured(tmp_path: Path) -> Security:
    store = credentials.create(tmp_path / "secrets")
    return Security(mode="sasl-tls", secrets_dir=str(store.root), ca_cert=str(store.ca_cert),
                    principals=credentials.PRINCIPALS)


def test_security_off_resolves_to_nothing_to_merge() -> None:
    sec = client_security(Security(), "load")
    assert sec is OFF and not sec.enabled and sec.protocol == "PLAINTEXT"
    assert sec.librdkafka() == {} and sec.java() == {} and sec.java_properties() == ""
    assert sec.ssl_context() is None and sec.file == ""
    assert ClientSecurity.read("") is OFF  # a child process given no client file


def test_librdkafka_settings_of_a_principal(secured: Security) -> None:
    load = client_security(secured, "load")
    password = credentials.Secrets(Path(secured.secrets_dir)).password("load")
    assert load.librdkafka() == {
        "security.protocol": "SASL_SSL", "sasl.mechanisms": "SCRAM-SHA-512",
        "sasl.username": "load", "sasl.password": password, "ssl.ca.location": secured.ca_cert}
    assert password not in repr(load)  # a logged ClientSecurity shows no password
    assert load.file == str(Path(secured.secrets_dir) / "clients" / "load.json")
    assert ClientSecurity.read(load.file) == load  # what a child process reads back


def test_java_settings_of_a_principal_with_and_without_a_prefix(secured: Security) -> None:
    mm = client_security(secured, "mirrormaker")
    password = credentials.Secrets(Path(secured.secrets_dir)).password("mirrormaker")
    java = mm.java()
    assert java == {
        "security.protocol": "SASL_SSL", "sasl.mechanism": "SCRAM-SHA-512",
        "sasl.jaas.config": "org.apache.kafka.common.security.scram.ScramLoginModule required "
                            f'username="mirrormaker" password="{password}";',
        "ssl.truststore.type": "PEM", "ssl.truststore.location": secured.ca_cert}
    assert set(mm.java("aws.")) == {f"aws.{k}" for k in java}
    assert mm.java_properties().splitlines()[0] == "security.protocol=SASL_SSL"


def test_a_java_tool_gets_its_settings_in_a_file_only_its_owner_reads(secured: Security) -> None:
    load = client_security(secured, "load")
    path = load.java_config_file()
    assert path == Path(load.file).with_suffix(".properties")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_text() == load.java_properties()
    with pytest.raises(SetupError):
        ClientSecurity(principal="x", password="y").java_config_file()  # no client file


def test_only_the_verifier_presents_a_certificate(secured: Security) -> None:
    verifier = client_security(secured, "verifier")
    assert verifier.client_keystore.endswith("clients/verifier.pem")
    assert client_security(secured, "load").client_keystore == ""
    ctx = verifier.ssl_context()
    assert ctx is not None and ctx.check_hostname  # the broker's address is checked


def test_a_role_the_inventory_does_not_name_is_one_line(secured: Security) -> None:
    partial = secured.model_copy(update={"principals": {"broker": "broker"}})
    with pytest.raises(RiftdrillError, match="no principal for role 'load'"):
        client_security(partial, "load")


def test_the_connect_worker_passes_its_principal_to_every_client(secured: Security) -> None:
    sec = client_security(secured, "connect")
    worker = connect.ConnectWorker(name="connect-aws", cloud="aws", address="198.18.1.31",
                                   bootstrap="198.18.1.11:9092", replication_factor=3,
                                   security=sec)
    props = connect.worker_properties(worker, plugin_path=[Path("/p")])
    for prefix in ("", "producer.", "consumer.", "admin."):
        assert props[f"{prefix}security.protocol"] == "SASL_SSL"
        assert 'username="connect"' in props[f"{prefix}sasl.jaas.config"]
    plain = connect.worker_properties(
        connect.ConnectWorker(name="connect-aws", cloud="aws", address="198.18.1.31",
                              bootstrap="198.18.1.11:9092", replication_factor=3),
        plugin_path=[Path("/p")])
    assert not any("security" in k or "sasl" in k or "ssl" in k for k in plain)
