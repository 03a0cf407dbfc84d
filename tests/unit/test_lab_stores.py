"""The lab's object-store servers: which process plays which API, and a clear line when missing."""

from __future__ import annotations

from pathlib import Path

import pytest

from riftdrill.errors import SetupError
from riftdrill.lab import stores


def spec(**kw: object) -> stores.StoreSpec:
    base: dict[str, object] = {"name": "aws-s3", "cloud": "aws", "namespace": "rd-aws", "api": "s3",
                               "address": "198.18.1.5", "port": 9000, "buckets": ["b"]}
    return stores.StoreSpec(**{**base, **kw})  # type: ignore[arg-type]


def test_s3proxy_serves_s3_on_its_atomic_filesystem_backend(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("RIFTDRILL_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("RIFTDRILL_HOME", str(tmp_path / "home"))
    libs = stores.s3proxy_libs()
    libs.mkdir(parents=True)
    (libs / f"s3proxy-{stores.S3PROXY_VERSION}.jar").write_bytes(b"")
    argv = stores.argv(spec(server="s3proxy"))
    assert "org.gaul.s3proxy.Main" in argv
    conf = Path(argv[argv.index("--properties") + 1]).read_text()
    assert "jclouds.provider=filesystem-nio2" in conf
    # the server itself listens behind its weather proxy (lab/storeweather.py)
    assert "s3proxy.endpoint=http://198.18.1.5:29000" in conf


def test_missing_s3proxy_says_make_setup(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("RIFTDRILL_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("RIFTDRILL_HOME", str(tmp_path / "home"))
    with pytest.raises(SetupError, match="make setup"):
        stores.argv(spec(server="s3proxy"))


def test_gcs_store_s3_interop_endpoint_is_a_second_server_on_its_address() -> None:
    gcs = spec(name="gcp-gcs", cloud="gcp", namespace="rd-gcp", api="gcs", address="198.18.2.5",
               port=4443, s3_port=9000, server="s3proxy")
    interop = gcs.s3_interop()
    assert interop is not None and (interop.api, interop.address, interop.port) == ("s3", "198.18.2.5", 9000)
    assert interop.server == "s3proxy" and interop.proc_name == "store-gcp-gcs-s3"
    assert spec().s3_interop() is None
