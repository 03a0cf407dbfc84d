"""A Terraform module's variables and outputs, read from its `terraform fmt`-formatted .tf files.

No HCL library is installed (and none is needed): `terraform fmt` puts every top-level block's
closing brace in column 0 and every attribute of a block at two spaces, which is what
tests/unit/test_infra_static.py's reference check relies on too. Used by
`tools/tf_docs.py` (the README tables) and `riftdrill cloud cost-estimate` (the modules' default
instance types and counts).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from riftdrill.errors import ValidationError

_BLOCK = r'^{kind} "([^"]+)" \{{\n(.*?)^\}}'


@dataclass(frozen=True)
class Variable:
    name: str
    type: str  # the type expression as written, on one line
    default: str | None  # the default expression as written; None: required
    description: str

    @property
    def required(self) -> bool:
        return self.default is None


@dataclass(frozen=True)
class Output:
    name: str
    description: str


def _strip_comments(text: str) -> str:
    return "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))


def module_text(root: Path) -> str:
    """Every .tf file of the module directory, comment lines left out, in name order."""
    files = sorted(root.glob("*.tf"))
    if not files:
        raise ValidationError(f"{root}: no .tf files (is it a Terraform module directory?)")
    return "\n".join(_strip_comments(p.read_text()) for p in files)


def blocks(text: str, kind: str) -> dict[str, str]:
    """`kind "name" { ... }` bodies of formatted text (closing brace at column 0)."""
    return dict(re.findall(_BLOCK.format(kind=kind), text, re.M | re.S))


def _attribute(body: str, name: str) -> str | None:
    """The expression of a two-space-indented attribute, joined onto one line when it spans
    several (an object type or a map default ends at the next line back at two spaces)."""
    lines = body.splitlines()
    for i, line in enumerate(lines):
        m = re.match(rf"^  {name}\s*=\s*(.*)$", line)
        if not m:
            continue
        expr = [m.group(1).rstrip()]
        if expr[0].endswith(("{", "[", "(")):
            for nxt in lines[i + 1:]:
                expr.append(nxt.strip())
                if re.match(r"^  [\]})]", nxt):
                    break
        return _one_line(expr)
    return None


def _one_line(parts: list[str]) -> str:
    """Lines of one expression as one line: members of a multi-line object/list joined with
    ", ", alignment spaces squeezed."""
    text = ""
    for part in (re.sub(r"\s+", " ", p).rstrip(",") for p in parts if p):
        if text and not text.endswith(("{", "[", "(")) and not part.startswith(("}", "]", ")")):
            text += ", "
        text += part
    return text


def _string(expr: str | None) -> str:
    if expr is None:
        return ""
    if expr.startswith('"'):
        try:
            value = json.loads(expr)  # HCL's plain string escapes are JSON's
        except json.JSONDecodeError:
            return expr.strip('"')
        return str(value)
    return expr


def variables(root: Path) -> list[Variable]:
    """The module's input variables, in the order the files declare them."""
    return [Variable(name=name, type=_attribute(body, "type") or "any",
                     default=_attribute(body, "default"),
                     description=_string(_attribute(body, "description")))
            for name, body in blocks(module_text(root), "variable").items()]


def outputs(root: Path) -> list[Output]:
    return [Output(name=name, description=_string(_attribute(body, "description")))
            for name, body in blocks(module_text(root), "output").items()]


def string_default(root: Path, name: str) -> str:
    """The default of a string variable (e.g. an instance type); a clear error otherwise."""
    found = {v.name: v for v in variables(root)}.get(name)
    if found is None or found.default is None or not found.default.startswith('"'):
        raise ValidationError(f"{root}: variable {name!r} has no string default")
    return _string(found.default)


def number_default(root: Path, name: str) -> int:
    found = {v.name: v for v in variables(root)}.get(name)
    if found is None or found.default is None or not re.fullmatch(r"\d+", found.default):
        raise ValidationError(f"{root}: variable {name!r} has no whole-number default")
    return int(found.default)
