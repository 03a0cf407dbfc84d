"""results/compat/<engine>.json: one model for the matrix's writer and its readers."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict
from pydantic import ValidationError as PydanticValidationError

from riftdrill.compat.workflows import Client
from riftdrill.errors import first_error

# pass / fail: the workflow ran. unsupported: the engine module declares it (never run).
# unavailable: the client has no API for it, or the deploy lacks what it needs (security off):
# said as such, never counted as a pass.
Status = Literal["pass", "fail", "unsupported", "unavailable"]


class CompatCell(BaseModel):
    model_config = ConfigDict(extra="forbid")
    workflow: str
    client: Client
    status: Status
    detail: str = ""
    duration_s: float = 0.0


class ClientInfo(BaseModel):
    model_config = ConfigDict(extra="forbid")
    client: Client
    version: str


class CompatMatrix(BaseModel):
    model_config = ConfigDict(extra="forbid")
    format: Literal["riftdrill-compat/1"] = "riftdrill-compat/1"
    engine: str
    engine_version: str
    topology: str
    security: str
    created_at: str
    clients: list[ClientInfo]
    cells: list[CompatCell]

    def cell(self, workflow: str, client: Client) -> CompatCell | None:
        for c in self.cells:
            if c.workflow == workflow and c.client == client:
                return c
        return None

    def counts(self, client: Client) -> dict[str, int]:
        out: dict[str, int] = {}
        for c in self.cells:
            if c.client == client:
                out[c.status] = out.get(c.status, 0) + 1
        return out


def load_matrix(path: Path) -> CompatMatrix:
    """A results/compat/<engine>.json file; ValueError naming the file and what is wrong."""
    try:
        return CompatMatrix.model_validate_json(path.read_bytes())
    except OSError as exc:
        raise ValueError(f"{path}: not readable: {exc}") from None
    except PydanticValidationError as exc:
        raise ValueError(f"{path}: {first_error(exc)}") from None
