"""The one redaction step (`riftdrill.redact`): literal secrets of the deployment, credential
patterns, lines and files, the sweep of a run directory, and the secrets directory."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from riftdrill.redact import (
    MIN_LITERAL_CHARS,
    PATTERNS_ONLY,
    Redactor,
    Secret,
    redact,
    redact_mapping,
    secrets_in_dir,
)

SECRET = "s3cr3t-Of-The-Lab"
KNOWN = Redactor([Secret("object-store secret key (lab S3)", SECRET)])
PEM = ["-----BEGIN PRIVATE KEY-----\n", "MIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n",
       "BKcwggSjAgEAAoIBAQC7VJTUt9Us8cKj\n", "-----END PRIVATE KEY-----\n"]


def test_a_literal_secret_is_replaced_by_its_kind_wherever_it_is() -> None:
    out = KNOWN.text(f"connecting with {SECRET}, url=http://x/?k={SECRET}")
    assert SECRET not in out
    assert out.count("***object-store secret key (lab S3)***") == 2


def test_a_literal_is_found_escaped_inside_a_json_string() -> None:
    value = 'pa"ss\\word-9'
    text = json.dumps({"note": f"the key is {value}"})
    assert json.dumps(value)[1:-1] in text  # as JSON writes it
    out = Redactor([Secret("sasl password", value)]).text(text)
    assert json.dumps(value)[1:-1] not in out and json.loads(out)["note"].startswith("the key is ")


def test_a_literal_too_short_to_replace_safely_is_left_to_the_patterns() -> None:
    short = "x" * (MIN_LITERAL_CHARS - 1)
    r = Redactor([Secret("pin", short), Secret("sasl password", "long-enough-pw")])
    assert r.kinds == ["sasl password"]
    assert r.text(f"plain {short}") == f"plain {short}"
    assert r.text(f"password={short}") == "password=***"


def test_a_secrets_repr_never_shows_its_value() -> None:
    s = Secret("sasl password", SECRET)
    assert SECRET not in repr(s) and SECRET not in str(s) and "sasl password" in repr(s)


@pytest.mark.parametrize(("line", "hidden"), [
    ("ssl.key.password = hunter22-pw", "hunter22-pw"),
    ("  sasl.jaas.config = org.apache.kafka.common.security.plain.PlainLoginModule required "
     'username="alice" password="jaas-pw-9";', "jaas-pw-9"),
    ('"sasl.jaas.config": "org.apache...PlainLoginModule required username=\\"a\\" '
     'password=\\"jaas-pw-9\\";"', "jaas-pw-9"),
    ("AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG", "wJalrXUtnFEMI"),
    ('{"secretAccessKey": "wJalrXUtnFEMI"}', "wJalrXUtnFEMI"),
    ("s3proxy.credential=lab-credential-1", "lab-credential-1"),
    ("key id AKIAIOSFODNN7EXAMPLE in use", "AKIAIOSFODNN7EXAMPLE"),
    ("GOOG1EXAMPLEHMACACCESSIDXYZ", "GOOG1EXAMPLEHMAC"),
    ("Authorization: Bearer abc.def-ghi", "abc.def-ghi"),
    ("token ya29.a0AfH6SMBx", "a0AfH6SMBx"),
    ("postgresql://hub:pg-pass-7@198.18.1.21/postgres", "pg-pass-7"),
    (PEM[0].strip() + r"\n" + PEM[1].strip() + r"\n" + PEM[3].strip(), "MIIEvQIBADAN"),
])
def test_what_looks_like_a_credential_is_masked(line: str, hidden: str) -> None:
    out = redact(f"before {line} after")
    assert hidden not in out and "***" in out and out.startswith("before ")


@pytest.mark.parametrize("line", [
    "\tssl.truststore.password = null",  # Kafka's config dump: nothing set
    "\tdelegation.token.max.lifetime.ms = 604800000",  # a number after a secret's name
    "[2026-12-02 18:41:44 DEBUG] [secret:79] Loading secrets...",  # chaostoolkit's own log
    '"database.password": ""',  # the lab's connectors: no password
    "Registering periodic task expireDelegationTokens to run every 3600000 ms",
    "GET http://198.18.1.5:9000/bucket 200",
    # an HDR histogram: base64 may spell a secret's name before its padding
    '{"ack_latency_us": "HISTFAAAAPB4nDWPsUoDQRCGb+aSecrEtoKeN/Ig=", "e2e": 1}',
    '{"hist": "HISTFAAAA+X9tOKeNabc=", "n": 2}',
])
def test_ordinary_text_passes_unchanged(line: str) -> None:
    assert KNOWN.text(line) == line


def test_json_stays_json_after_text_redaction() -> None:
    data = {"password": "p4ssw0rd!", "nested": {"client_secret": "abc", "note": "ok"},
            "sasl.jaas.config": 'x required password="y-9";', "empty_token": "", "n": None}
    out = KNOWN.text(json.dumps(data, indent=2))
    back = json.loads(out)
    assert back["password"] == "***" and back["nested"]["client_secret"] == "***"
    assert back["sasl.jaas.config"] == "***" and back["nested"]["note"] == "ok"
    assert back["empty_token"] == "" and back["n"] is None


def test_mapping_masks_secret_named_keys_and_redacts_every_string() -> None:
    data = {"hmac_secret": "x", "nested": [{"password": "p", "region": "eu-west-1"}],
            "note": f"key AKIAIOSFODNN7EXAMPLE and {SECRET}", "count": 3, "token": None,
            "secrets": {"a": {"type": "env", "key": "PASSWORD"}}}
    assert KNOWN.mapping(data) == {
        "hmac_secret": "***", "nested": [{"password": "***", "region": "eu-west-1"}],
        "note": "key ***AWS-KEY-ID*** and ***object-store secret key (lab S3)***", "count": 3,
        "token": None, "secrets": "***"}
    assert redact_mapping({"password": "p"}) == {"password": "***"}
    # a partition's label is not a setting, whatever its topic is called
    assert redact_mapping({"drill-x-credential-rotate[0]": 2637, "sasl.password": "p"}) == {
        "drill-x-credential-rotate[0]": 2637, "sasl.password": "***"}


def test_a_pem_block_over_several_lines_becomes_one_masked_line() -> None:
    lines = ["a line\n", "key: " + PEM[0], *PEM[1:], "after the key\n"]
    out = list(PATTERNS_ONLY.lines(lines))
    assert out == ["a line\n", "key: ***PRIVATE KEY***\n", "after the key\n"]


def test_copy_lines_streams_bytes_and_keeps_what_is_not_utf8(tmp_path: Path) -> None:
    # a PEM block across a batch boundary of byte_lines, and bytes that are not UTF-8
    lines = [b"line %d\n" % i for i in range(254)] + [p.encode() for p in PEM]
    lines += [b"\xff\xfe not utf-8 \xc3\n", f"{SECRET} again\n".encode()] * 300
    consumed: list[int] = []

    def source() -> object:
        for i, line in enumerate(lines):
            consumed.append(i)
            yield line

    dest = tmp_path / "copy.log"
    KNOWN.copy_lines(source(), dest)  # type: ignore[arg-type]
    data = dest.read_bytes()
    assert b"MIIEvQ" not in data and SECRET.encode() not in data
    assert b"line 253\n***PRIVATE KEY***\n\xff\xfe not utf-8 \xc3\n" in data
    assert data.count(b"***object-store secret key (lab S3)*** again\n") == 300
    assert len(consumed) == len(lines) and not list(tmp_path.glob("*.tmp"))


def test_write_json_redacts_and_writes_valid_json(tmp_path: Path) -> None:
    path = KNOWN.write_json(tmp_path / "x.json", {"reason": f"auth failed for {SECRET}",
                                                  "password": 1234})
    assert json.loads(path.read_text()) == {
        "reason": "auth failed for ***object-store secret key (lab S3)***", "password": "***"}
    assert not list(tmp_path.glob("*.tmp"))


def test_a_failed_write_leaves_neither_a_torn_file_nor_a_tmp(tmp_path: Path) -> None:
    dest = tmp_path / "copy.log"
    dest.write_text("before\n")

    def broken() -> object:
        yield b"one\n"
        raise OSError("disk gone")

    with pytest.raises(OSError):
        KNOWN.copy_lines(broken(), dest)  # type: ignore[arg-type]
    assert dest.read_text() == "before\n" and not list(tmp_path.glob("*.tmp"))


def test_sweep_rewrites_only_what_holds_a_secret_and_leaves_ledgers_alone(tmp_path: Path) -> None:
    run = tmp_path / "run"
    (run / "load" / "ledgers").mkdir(parents=True)
    clean = run / "load" / "summary.json"
    clean.write_text('{"acked": 10}\n')
    chaos_log = run / "chaos.log"
    chaos_log.write_text("x\n" * 5000 + f"[DEBUG] configuration: secret={SECRET}\n")
    journal = run / "journal.json"
    journal.write_text(json.dumps({"secrets": {"k": SECRET}, "status": "completed"}, indent=2))
    ledger = run / "load" / "ledgers" / "aws-p0.rdl"
    ledger.write_bytes(b"RDL1" + SECRET.encode() + b"\x00" * 60)  # binary: never rewritten
    plot = run / "plots" / "x.png"
    plot.parent.mkdir()
    plot.write_bytes(b"\x89PNG" + SECRET.encode())
    (run / "link.log").symlink_to(tmp_path / "elsewhere.log")
    (tmp_path / "elsewhere.log").write_text(SECRET)
    before = os.stat(clean)

    changed = KNOWN.sweep(run)

    assert sorted(changed) == sorted([chaos_log, journal])
    assert SECRET not in chaos_log.read_text() and chaos_log.read_text().startswith("x\nx\n")
    assert json.loads(journal.read_text())["status"] == "completed"  # still JSON
    assert os.stat(clean).st_ino == before.st_ino  # untouched, not rewritten
    assert SECRET.encode() in ledger.read_bytes() and SECRET.encode() in plot.read_bytes()
    assert (tmp_path / "elsewhere.log").read_text() == SECRET  # a symlink is not followed
    assert KNOWN.sweep(run) == []  # idempotent


def test_a_swept_file_keeps_its_inode_so_a_live_appender_goes_on_writing_to_it(
        tmp_path: Path) -> None:
    log = tmp_path / "chaos.log"
    with open(log, "a") as appender:  # chaos's log handler, still open after the sweep
        appender.write(f"configuration loaded: {SECRET}\n" + "x" * 1000 + "\n")
        appender.flush()
        inode = os.stat(log).st_ino
        assert KNOWN.sweep(tmp_path) == [log]
        appender.write("Experiment ended with status: completed\n")
    text = log.read_text()
    assert os.stat(log).st_ino == inode and SECRET not in text
    assert text.endswith("x\nExperiment ended with status: completed\n")
    assert not list(tmp_path.glob("*.redacting"))


def test_sweep_finds_a_secret_on_a_line_across_its_read_blocks(tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch
                                                               ) -> None:
    from riftdrill import redact as redact_mod

    monkeypatch.setattr(redact_mod, "_BLOCK_BYTES", 64)
    path = tmp_path / "long.log"
    path.write_text("a" * 100 + "\n" + "b" * 50 + SECRET + "c" * 80 + "\n" + "tail")
    assert KNOWN.redact_file(path)
    assert SECRET not in path.read_text() and path.read_text().endswith("tail")


def test_secrets_in_dir_reads_passwords_keys_and_properties(tmp_path: Path) -> None:
    d = tmp_path / "secrets"
    (d / "tls").mkdir(parents=True)
    (d / "sasl-admin.password").write_text("admin-sasl-pw\n")
    (d / "tls" / "broker.key").write_text("".join(PEM))
    (d / "client.properties").write_text("# a comment\nsasl.username=alice\n"
                                         'sasl.password = "client-pw-1"\n')
    # a Java tool's copy: only the JAAS line is secret; protocol, mechanism and the store's
    # type and path are named in every deploy log
    (d / "load.properties").write_text(
        "security.protocol=SASL_SSL\nsasl.mechanism=SCRAM-SHA-512\n"
        'sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required '
        'username="load" password="load-pw-1";\nssl.truststore.type=PEM\n'
        "ssl.truststore.location=/x/.riftdrill/secrets/ca.pem\n"
        "aws.ssl.keystore.location=/x/k.pem\n")
    found = secrets_in_dir(d)
    by_kind: dict[str, list[str]] = {}
    for s in found:
        by_kind.setdefault(s.kind, []).append(s.value)
    assert by_kind == {
        "secret file client.properties": ["alice", "client-pw-1"],
        "secret file load.properties": [
            'org.apache.kafka.common.security.scram.ScramLoginModule required username="load" '
            'password="load-pw-1";'],
        "secret file sasl-admin.password": ["admin-sasl-pw"],
        "secret file tls/broker.key": [PEM[1].strip(), PEM[2].strip()]}
    assert secrets_in_dir(tmp_path / "none") == []


def test_the_guard_redacts_through_the_one_module() -> None:
    from riftdrill import guard

    assert guard.redact is redact and guard.redact_mapping is redact_mapping
