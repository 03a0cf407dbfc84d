"""A created topic is ready only when its partitions have leaders (load/kafka.py): CI once read
a watermark right after CreateTopics and was told the partition was unknown."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from riftdrill.errors import RiftdrillError
from riftdrill.load import kafka


@dataclass
class _Partition:
    leader: int


@dataclass
class _Topic:
    partitions: dict[int, _Partition]
    error: Any = None


@dataclass
class _Metadata:
    topics: dict[str, _Topic]


@dataclass
class _Admin:
    """Answers list_topics from a script of leader lists, the last one forever."""

    script: list[list[int]]
    asked: int = 0
    topics: list[str] = field(default_factory=list)

    def list_topics(self, topic: str, timeout: float) -> _Metadata:
        leaders = self.script[min(self.asked, len(self.script) - 1)]
        self.asked += 1
        self.topics.append(topic)
        return _Metadata({topic: _Topic({i: _Partition(x) for i, x in enumerate(leaders)})})


def test_it_waits_until_every_partition_has_a_leader() -> None:
    admin = _Admin([[], [1, -1, 2], [1, 3, 2]])
    kafka.await_leaders(admin, "t", 3, timeout_s=10)  # type: ignore[arg-type]
    assert admin.asked == 3 and set(admin.topics) == {"t"}


def test_partitions_that_never_get_a_leader_are_one_clear_error() -> None:
    admin = _Admin([[1, -1]])
    with pytest.raises(RiftdrillError, match=r"had no leaders after 0 s.*riftdrill status"):
        kafka.await_leaders(admin, "t", 2, timeout_s=0.3)  # type: ignore[arg-type]
    assert admin.asked >= 2
