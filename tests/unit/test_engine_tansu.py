"""Engine tansu: its environment from the shared template, and the conditional-write probe."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from moto.server import ThreadedMotoServer

from riftdrill.engines import tansu
from riftdrill.engines.templates import templates_dir
from riftdrill.errors import LabError

NODE = tansu.TansuNode(name="aws-1", cloud="aws", cluster="main", address="198.18.1.11", port=9092,
                       bucket="riftdrill-aws-data", s3_endpoint="http://198.18.1.5:9000")


def test_env_points_the_broker_at_its_bucket() -> None:
    env = tansu.render_env(NODE)
    assert env["STORAGE_ENGINE"] == "s3://riftdrill-aws-data/"
    assert env["LISTENER_URL"] == env["ADVERTISED_LISTENER_URL"] == "tcp://198.18.1.11:9092"
    assert env["AWS_ENDPOINT"] == "http://198.18.1.5:9000"
    assert env["AWS_ALLOW_HTTP"] == "true"
    assert "AWS_SECRET_ACCESS_KEY" not in env  # credentials never go through templates


def test_non_durable_storage_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A template edited to memory:// would ack records a restart loses: refused, not run."""
    real = (templates_dir() / "tansu" / "broker.env.tftpl").read_text()
    (tmp_path / "tansu").mkdir()
    (tmp_path / "tansu" / "broker.env.tftpl").write_text(real.replace("s3://", "memory://"))
    monkeypatch.setattr(tansu, "templates_dir", lambda: tmp_path)
    with pytest.raises(LabError, match="not durable"):
        tansu.render_env(NODE)


@pytest.fixture()
def s3_server() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    boto3.client("s3", endpoint_url=endpoint, aws_access_key_id="k", aws_secret_access_key="s",
                 region_name="us-east-1").create_bucket(Bucket="probe-bucket")
    yield endpoint
    server.stop()


def test_conditional_writes_are_probed_on_a_real_s3_server(s3_server: str) -> None:
    tansu.check_conditional_writes(s3_server, "probe-bucket", "k", "s")  # moto honours If-None-Match


def test_unreachable_store_is_one_clear_error() -> None:
    with pytest.raises(LabError, match="cannot probe conditional writes"):
        tansu.check_conditional_writes("http://127.0.0.1:9", "b", "k", "s")


def test_a_broker_that_came_up_in_memory_is_refused() -> None:
    tansu.check_durable("aws-1", "tansu broker 0.6.0\nstorage: s3://riftdrill-aws-data/ [\"dynostore\"]")
    with pytest.raises(LabError, match="non-durable"):
        tansu.check_durable("aws-1", "tansu broker 0.6.0\nstorage: memory://tansu/ [\"dynostore\"]")
    with pytest.raises(LabError, match="no storage line"):
        tansu.check_durable("aws-1", "tansu broker 0.6.0\n")
