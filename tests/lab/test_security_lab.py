"""Security sasl-tls in the lab (docs/security.md): `riftdrill deploy --security sasl-tls`
builds the stretched kafka lab with TLS on every listener, SCRAM-SHA-512 and ACLs per
principal. A plaintext client and a wrong password are refused, the load principal produces,
the verifier principal cannot (an authorization error), the controllers take only the deploy's
certificates, the secrets stay 0600 and out of the inventory and the run, a short drill
passes end to end (load, fences, verifier, timeline, report) as its principals, and the ACL
drill (`acl-revoke`, by hand and as a drill) refuses the load's sends and gives them back.

The default lab is this one (DEFAULT_SECURITY), so the module runs with the other tests on it;
its fixture deploys it secured all the same (a no-op on the default lab), so the module also
runs alone on a lab deployed with security off.
"""

from __future__ import annotations

import json
import stat
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from riftdrill import inventory
from riftdrill.chaos import kraft
from riftdrill.deploy import DEFAULT_SECURITY
from riftdrill.errors import AuthenticationError, AuthorizationError, SecurityError
from riftdrill.inventory import Inventory
from riftdrill.load import kafka
from riftdrill.load.fence import write_fences
from riftdrill.security import acls as acls_mod
from riftdrill.security import credentials
from riftdrill.security.client import OFF, ClientSecurity, client_security
from tests.conftest import ROOT, riftdrill
from tests.lab.test_drills_lab import SHORT, assert_passed_without_loss, drill

pytestmark = pytest.mark.lab

SHAPE = ["--engine", "kafka", "--topology", "stretched", "--brokers-per-cloud", "2",
         "--wan", "inter-region"]


@pytest.fixture(scope="module")
def secured(lab_session: None) -> Iterator[Inventory]:
    riftdrill("deploy", *SHAPE, "--security", "sasl-tls", "--json", timeout=900)
    inv = inventory.load(ROOT / ".riftdrill" / "inventory.json")
    assert inv.security.mode == "sasl-tls"
    yield inv
    if DEFAULT_SECURITY != "sasl-tls":
        riftdrill("deploy", *SHAPE, "--security", DEFAULT_SECURITY, "--json", timeout=900,
                  check=False)


# A client of its own per call, in a process of its own: a plaintext client refused by a TLS
# listener left confluent-kafka with a TypeError pending (SystemError at the test's return,
# under pytest only), so each client here is a program apart, as applications are.
_PRODUCE = """
import json, sys
from confluent_kafka import Producer
conf, topic, timeout_s = json.load(sys.stdin)
out = []
producer = Producer({**conf, "acks": "all", "log_level": 2,
                     "message.timeout.ms": int(timeout_s * 1000)})
producer.produce(topic, b"x", on_delivery=lambda err, msg: out.append(err and err.name()))
producer.flush(timeout_s + 5)
print(json.dumps(out))
"""


def _produce(bootstrap: str, topic: str, sec: ClientSecurity,
             timeout_s: float = 15) -> list[str | None]:
    """Delivery error names of one record (None: acked); the settings go on stdin."""
    conf = {"bootstrap.servers": bootstrap, **sec.librdkafka()}
    proc = subprocess.run([sys.executable, "-c", _PRODUCE], input=json.dumps([conf, topic, timeout_s]),
                          capture_output=True, text=True, timeout=timeout_s + 30, check=True)
    result: list[str | None] = json.loads(proc.stdout.splitlines()[-1])
    return result


def _passwords(inv: Inventory) -> list[str]:
    store = credentials.Secrets(Path(inv.security.secrets_dir))
    return [store.password(p) for p in inv.security.principals.values()]


def test_the_secrets_are_the_owners_and_stay_out_of_the_inventory(secured: Inventory) -> None:
    root = Path(secured.security.secrets_dir)
    assert root == ROOT / ".riftdrill" / "secrets"
    assert stat.S_IMODE(root.stat().st_mode) == 0o700
    files = [p for p in root.rglob("*") if p.is_file()]
    assert files and all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in files)
    assert sorted(secured.security.principals) == sorted(credentials.PRINCIPALS)
    text = (ROOT / ".riftdrill" / "inventory.json").read_text()
    for password in _passwords(secured):
        assert password not in text
    # The brokers' configs name paths only; their logs hide what Kafka logs of a password.
    for b in secured.brokers:
        config = (ROOT / ".riftdrill" / "lab" / "config" / f"broker-{b.name}.properties").read_text()
        assert "password" not in config and "SASL_SSL://" in config
    logs = "".join(p.read_text(errors="replace")
                   for p in (ROOT / ".riftdrill" / "lab" / "logs").glob("broker-*"))
    for password in _passwords(secured):
        assert password not in logs
    acls = json.loads(riftdrill("acls", "--json").stdout)
    assert acls["security"] == "sasl-tls" and set(acls["acls"]) == {"load", "verifier", "mirrormaker"}


def test_a_plaintext_client_is_refused(secured: Inventory) -> None:
    bootstrap = secured.bootstrap("aws")
    with pytest.raises((SecurityError, kafka.UnreachableError)):
        kafka.check_reachable(bootstrap, security=OFF)
    assert _produce(bootstrap, "riftdrill-security", OFF, timeout_s=8) != [None]


def test_a_wrong_password_is_refused(secured: Inventory) -> None:
    load = client_security(secured.security, "load")
    wrong = ClientSecurity(**{**load.__dict__, "password": "not-" + load.password})
    with pytest.raises(AuthenticationError, match="principal 'load'"):
        kafka.check_reachable(secured.bootstrap("aws"), security=wrong)


def test_a_wrong_password_in_the_load_is_one_line_and_exit_2(secured: Inventory) -> None:
    """The CLI reaches the cluster first in the load's preflight: one line naming the principal."""
    path = Path(client_security(secured.security, "load").file)
    original = path.read_bytes()
    try:
        data = json.loads(original)
        credentials.write_secret(path, json.dumps({**data, "password": "wrong"}).encode())
        proc = riftdrill("load", "--duration", "2", "--rate", "10", "--json", check=False)
    finally:
        credentials.write_secret(path, original)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    line = proc.stderr.strip().splitlines()[-1]
    assert "principal 'load'" in line and "password" in line


def test_the_load_principal_produces_and_the_verifier_cannot(secured: Inventory) -> None:
    bootstrap = secured.bootstrap("aws")
    load = client_security(secured.security, "load")
    verifier = client_security(secured.security, "verifier")
    topic = f"riftdrill-security-{uuid.uuid4().hex[:6]}"
    kafka.ensure_topic(bootstrap, topic, 3, 3, security=load)
    assert _produce(bootstrap, topic, load) == [None]
    assert _produce(bootstrap, topic, verifier) == ["TOPIC_AUTHORIZATION_FAILED"]
    with pytest.raises(AuthorizationError, match="principal 'verifier'"):
        write_fences(bootstrap, [topic], 10, security=verifier)
    with pytest.raises(AuthorizationError, match="principal 'load'"):
        kafka.ensure_topic(bootstrap, f"payments-{uuid.uuid4().hex[:6]}", 1, 3, security=load)


def test_the_controllers_take_only_the_deploys_certificates(secured: Inventory) -> None:
    controllers = [(b.address, b.controller_port or 0) for b in secured.brokers
                   if "controller" in b.roles]
    verifier = client_security(secured.security, "verifier")
    quorum = kraft.describe_quorum(controllers, 5, verifier.ssl_context())
    assert quorum.leader in {b.id for b in secured.brokers}
    no_certificate = client_security(secured.security, "load").ssl_context()
    with pytest.raises(kraft.QuorumError):
        kraft.describe_quorum_at(*controllers[0], 5, tls=no_certificate)
    with pytest.raises(kraft.QuorumError):
        kraft.describe_quorum_at(*controllers[0], 5)  # plaintext


def test_a_rotation_under_load_costs_no_send_and_every_client_follows(secured: Inventory) -> None:
    """The scram-rotate drill: a short drill end to end (load, fences, verifier, timeline,
    report) with every client as its principal, during which the load principal's password
    changes and every session must log in again with the new one (the brokers ask within
    30 s; the hold outlasts that)."""
    store = credentials.Secrets(Path(secured.security.secrets_dir))
    before = {p: store.password(p) for p in secured.security.principals.values()}
    rc, summary = drill("scram-rotate", *SHORT)
    assert_passed_without_loss(rc, summary, "rotate_scram")
    assert summary["sends"]["failed"] == 0, summary["sends"]["errors_by_code"]
    [window] = summary["fault_windows"]
    assert "old one is refused" in (window.get("confirmed_by") or "")
    after = {p: store.password(p) for p in secured.security.principals.values()}
    load = secured.security.principal("load")
    assert [p for p in before if before[p] != after[p]] == [load]  # only the load's changed
    assert client_security(secured.security, "load").password == after[load]
    run = ROOT / "results" / "runs" / summary["run_id"]
    logs = "".join(p.read_text(errors="replace") for p in run.rglob("*.log"))
    assert "log in with the new one" in logs  # the load followed its client file
    # so did the runner's fences at the end (refused with the old password, they left every
    # consumer reading on for its whole fence wait)
    fences = json.loads((run / "load" / "fences.json").read_text())
    assert "error" not in fences and fences["offsets"], fences
    timeline = (run / "cluster.jsonl").read_text().splitlines()
    assert any(json.loads(line).get("quorum") for line in timeline)  # over the controllers' TLS
    everything = "".join(p.read_text(errors="replace") for p in run.rglob("*")
                         if p.is_file() and p.suffix in (".json", ".jsonl", ".log", ".md", ".txt"))
    for password in {*before.values(), *after.values()}:
        assert password not in everything  # no secret in the run's results and logs, old or new
    # A client still holding the old password is refused now
    old = ClientSecurity(**{**client_security(secured.security, "load").__dict__,
                            "password": before[load]})
    with pytest.raises(AuthenticationError, match="principal 'load'"):
        kafka.check_reachable(secured.bootstrap("aws"), security=old)


# A producer that never re-reads its client file: its session logged in with the old password.
_STALE = """
import json, sys, time
from confluent_kafka import Producer
conf, topic, run_s = json.load(sys.stdin)
errors, failed, acked = [], [], []
def on_delivery(err, msg):
    (failed if err else acked).append(err.name() if err else time.time())
producer = Producer({**conf, "acks": "all", "log_level": 0, "message.timeout.ms": 8000,
                     "error_cb": lambda e: errors.append(e.name())})
producer.produce(topic, b"first", on_delivery=on_delivery)
producer.flush(20)
print(json.dumps({"ready": bool(acked)}), flush=True)
end = time.monotonic() + run_s
while time.monotonic() < end:
    producer.produce(topic, b"x", on_delivery=on_delivery)
    producer.poll(0.5)
producer.flush(15)
print(json.dumps({"errors": sorted(set(errors)), "failed": failed, "acked": len(acked)}))
"""


def test_a_client_that_keeps_the_old_password_is_refused_once_its_session_ends(
        secured: Inventory) -> None:
    """What the scram-rotate drill's contract stands on: without following its client
    file, a producer logged in before the rotation loses its session within the brokers'
    re-authentication interval and its sends fail, so the drill can fail."""
    from riftdrill.security.rotation import REAUTH_MS

    bootstrap = secured.bootstrap("aws")
    conf = {"bootstrap.servers": bootstrap, **client_security(secured.security, "load").librdkafka()}
    topic = f"riftdrill-stale-{uuid.uuid4().hex[:6]}"
    kafka.ensure_topic(bootstrap, topic, 3, 3, security=client_security(secured.security, "load"))
    proc = subprocess.Popen([sys.executable, "-c", _STALE], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.write(json.dumps([conf, topic, REAUTH_MS / 1000 + 15]))
    proc.stdin.close()
    try:
        assert json.loads(proc.stdout.readline()) == {"ready": True}
        riftdrill("fault", "rotate-scram", "load", "--json")
        out = json.loads(proc.stdout.read().splitlines()[-1])
    finally:
        proc.kill()
        riftdrill("fault", "finish-rotation", "load", "--json", check=False)
    assert out["failed"], out  # its sends failed once its session ended
    assert "_AUTHENTICATION" in out["errors"], out  # refused when it logged in again
    assert out["acked"] > 0  # before the session ended it still wrote


# The ACL drill (issue 17 item 3) runs here, on this module's one secured deploy: a fixture of
# module scope imported into another module would deploy the secured lab a second time.
AUTHORIZATION_ERRORS = {"TOPIC_AUTHORIZATION_FAILED", "CLUSTER_AUTHORIZATION_FAILED",
                        "TRANSACTIONAL_ID_AUTHORIZATION_FAILED"}


def _listed_acls(inv: Inventory) -> set[tuple[str, str, str, str, str]]:
    """What the cluster itself lists (DescribeAcls as the super user), not the plan."""
    admin = acls_mod.admin_client(inv.bootstrap("aws"), client_security(inv.security, "broker"))
    return acls_mod._listed(admin)


def _load_writes(inv: Inventory) -> set[tuple[str, str, str, str, str]]:
    rules = acls_mod.writes_of(acls_mod.inventory_plan(inv)["load"])
    return {acls_mod._key(b) for b in acls_mod.bindings(rules)}


def test_a_revoke_by_hand_refuses_the_load_and_heal_gives_its_writes_back(
        secured: Inventory) -> None:
    bootstrap = secured.bootstrap("aws")
    load = client_security(secured.security, "load")
    topic = f"riftdrill-acl-{uuid.uuid4().hex[:6]}"
    kafka.ensure_topic(bootstrap, topic, 3, 3, security=load)
    writes = _load_writes(secured)
    assert writes and writes <= _listed_acls(secured)
    out = json.loads(riftdrill("fault", "revoke-acl", "load", "--json").stdout)
    assert (out["fault"]["kind"], out["fault"]["target"]) == ("revoke_acl", "load")
    try:
        assert not writes & _listed_acls(secured)
        assert _produce(bootstrap, topic, load) == ["TOPIC_AUTHORIZATION_FAILED"]
    finally:
        healed = json.loads(riftdrill("heal", "--json").stdout)["healed"]
    assert [(f["kind"], f["target"]) for f in healed] == [("revoke_acl", "load")]
    assert writes <= _listed_acls(secured)
    assert _produce(bootstrap, topic, load) == [None]


def test_acl_revoke_drill_refuses_sends_loses_none_and_recovers(secured: Inventory) -> None:
    rc, summary = drill("acl-revoke", "--var", "hold_s=10", *SHORT)
    assert rc == 0 and summary["verdict"]["passed"], summary["verdict"]["reasons"]
    assert summary["verify"]["passed"] and summary["verify"]["counts"]["lost"] == 0
    errors = summary["sends"]["errors_by_code"]
    assert errors and set(errors) <= AUTHORIZATION_ERRORS, errors  # refused, nothing else
    assert sum(errors.values()) > 0 and summary["sends"]["acked"] > 1000
    [window] = summary["fault_windows"]
    assert (window["kind"], window["target"]) == ("revoke_acl", "load")
    assert window["end_s"] > window["start_s"]
    assert "gone" in (window.get("confirmed_by") or "")
    assert window["healed_by"] == "drill" and "listed" in (window.get("end_confirmed_by") or "")
    recovery = summary["recovery"]
    assert recovery["worst_time_to_first_ack_s"] is not None
    assert all(v is not None for v in recovery["time_to_first_ack_s"].values())
    assert set(recovery["time_to_first_ack_s"]) == {"aws", "gcp"}
    assert recovery["worst_partition_unavailability_s"] is not None
    # after the drill: nothing recorded, and the cluster lists the load's writes again
    assert inventory.load(ROOT / ".riftdrill" / "inventory.json").faults == []
    assert _load_writes(secured) <= _listed_acls(secured)
    plan = json.loads(riftdrill("acls", "--json").stdout)["acls"]["load"]
    assert {"write", "idempotent-write"} <= {a["operation"] for a in plan}


# A cross-section of the matrix, cheap enough for every CI run: a write path, a transaction, a
# group, admin, and every security cell (the whole matrix: `make compat`, results/compat/).
COMPAT_SAMPLE = ["produce-acks-all", "transaction-commit", "rebalance-cooperative",
                 "admin-configs", "acl-admin", "acl-enforcement", "sasl-scram", "tls", "quotas"]


def test_compat_cells_pass_with_both_clients_as_the_deploys_principals(secured: Inventory) -> None:
    args = [a for w in COMPAT_SAMPLE for a in ("--only", w)]
    out = riftdrill("compat", *args, "--json", timeout=600, check=False)
    assert out.returncode == 0, out.stdout + out.stderr
    (m,) = json.loads(out.stdout)["matrices"]
    assert (m["engine"], m["security"]) == ("kafka", "sasl-tls")
    assert {c["client"] for c in m["clients"]} == {"librdkafka", "java"}
    got = {(c["workflow"], c["client"]): c["status"] for c in m["cells"]}
    want = {(w, client): "pass" for w in COMPAT_SAMPLE for client in ("librdkafka", "java")}
    want[("quotas", "librdkafka")] = "unavailable"  # librdkafka has no client-quota API
    assert got == want, [c for c in m["cells"] if c["status"] != want[(c["workflow"], c["client"])]]
    assert json.loads(out.stdout)["written"] == []  # a partial run never overwrites the matrix
