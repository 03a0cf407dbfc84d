"""The run context: which run directory a drill writes to, which process owns its faults, and
the clock its fault windows are stamped with.

It is passed explicitly to what needs it. Inside a Chaos Toolkit run it travels in the
experiment's `configuration` under the keys `run_dir` (str, "" = not set) and `owner_pid`
(int, 0 = not set): `riftdrill drill` passes them with `chaos run --var`, and under a stock
`chaos run` the riftdrill control fills them before any activity runs. Activities that need it
take `configuration` as their last argument and call `RunContext.from_configuration`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

RUN_DIR_KEY = "run_dir"
OWNER_PID_KEY = "owner_pid"
KEYS = (RUN_DIR_KEY, OWNER_PID_KEY)  # configuration keys that are run context, not parameters


@dataclass(frozen=True)
class RunContext:
    run_dir: Path
    owner_pid: int
    clock_ns: Callable[[], int] = field(default=time.time_ns, compare=False, repr=False)

    @classmethod
    def from_configuration(cls, configuration: Mapping[str, Any] | None) -> RunContext | None:
        """The context carried by a Chaos Toolkit configuration; None when it has no run_dir."""
        if not configuration:
            return None
        run_dir = str(configuration.get(RUN_DIR_KEY) or "")
        if not run_dir:
            return None
        # `chaos run --var owner_pid=123` gives a string; the experiment's default is an int
        try:
            owner_pid = int(configuration.get(OWNER_PID_KEY) or 0)
        except (TypeError, ValueError):
            owner_pid = 0
        return cls(run_dir=Path(run_dir), owner_pid=owner_pid)

    def to_vars(self) -> dict[str, str]:
        """The `chaos run --var key=value` items that carry this context into a run."""
        return {RUN_DIR_KEY: str(self.run_dir), OWNER_PID_KEY: str(self.owner_pid)}

    def var_args(self) -> list[str]:
        """`to_vars()` as `chaos run` arguments: ["--var", "run_dir=...", "--var", ...]."""
        args: list[str] = []
        for key, value in self.to_vars().items():
            args += ["--var", f"{key}={value}"]
        return args
