"""Facts about the machine a figure was measured on, recorded next to the figure."""

from __future__ import annotations

import os
import platform
from pathlib import Path
from typing import Any


def host_facts() -> dict[str, Any]:
    mem_kib = 0
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            mem_kib = int(line.split()[1])
    return {"cores": os.cpu_count(), "memory_gib": round(mem_kib / 2**20, 1),
            "kernel": platform.release(), "python": platform.python_version(),
            "load_average": os.getloadavg()}
