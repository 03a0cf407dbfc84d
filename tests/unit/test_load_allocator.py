"""The load processes' C allocator: resolved once, refused with a fix when it cannot be had."""

from __future__ import annotations

from pathlib import Path

import pytest

from riftdrill.errors import ValidationError
from riftdrill.load import allocator
from riftdrill.load.spec import LoadSpec


def test_auto_takes_jemalloc_when_found_and_glibc_when_not(tmp_path: Path) -> None:
    lib = tmp_path / "x86_64-linux-gnu" / "libjemalloc.so.2"
    lib.parent.mkdir()
    lib.write_bytes(b"")
    found = (str(tmp_path / "*-linux-gnu" / "libjemalloc.so.2"),)
    missing = (str(tmp_path / "none" / "libjemalloc.so.2"),)
    assert allocator.resolve("auto", found) == allocator.Allocator("jemalloc", str(lib))
    assert allocator.resolve("auto", missing) == allocator.GLIBC
    assert allocator.resolve("glibc", found) == allocator.GLIBC


def test_jemalloc_asked_for_and_missing_names_make_setup() -> None:
    with pytest.raises(ValidationError, match=r"not installed; run `make setup`") as e:
        allocator.resolve("jemalloc", ("/nonexistent/libjemalloc.so.2",))
    assert e.value.exit_code == 2 and "\n" not in str(e.value)


def test_an_unknown_allocator_is_refused_in_the_spec() -> None:
    with pytest.raises(ValidationError, match=r"invalid allocator: 'tcmalloc' must be one of "
                                              r"auto, jemalloc, glibc"):
        LoadSpec(rate_per_s=10, duration_s=5, allocator="tcmalloc")
    with pytest.raises(ValidationError, match=r"--allocator auto"):
        allocator.resolve("tcmalloc")


def test_the_preload_goes_in_front_of_one_already_set() -> None:
    jem = allocator.Allocator("jemalloc", "/lib/libjemalloc.so.2")
    assert jem.env({"PATH": "/bin"}) == {"PATH": "/bin", "LD_PRELOAD": "/lib/libjemalloc.so.2"}
    assert jem.env({"LD_PRELOAD": "/x.so"})["LD_PRELOAD"] == "/lib/libjemalloc.so.2 /x.so"
    assert allocator.GLIBC.env({"PATH": "/bin"}) == {"PATH": "/bin"}
