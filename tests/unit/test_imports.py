"""What riftdrill modules may import.

Only Locust's own processes may import locust: its gevent monkey-patching breaks ssl
(RecursionError in boto3 and friends) in a process that imported ssl before it.

Imports run one way: down the layers of docs/architecture.md ("Layers"). Every module under
src/riftdrill is parsed (ast, nothing imported) and every import of a riftdrill module is
checked, including imports inside functions, under TYPE_CHECKING and
`importlib.import_module("riftdrill...")` with a literal name: a module may import its own
package and any package of a lower layer, never one of its own layer or a higher one.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src"

# Lowest first; each entry is a layer of independent packages or modules under riftdrill.
# Keep in step with docs/architecture.md.
LAYERS: list[tuple[str, ...]] = [
    ("errors", "redact", "fit"),
    ("paths", "host", "guard", "context", "gcpause"),
    ("inventory", "native"),
    ("expiry",),
    ("security",),
    ("engines", "terraform"),
    ("hub",),
    ("lab", "cloud"),
    ("drivers", "deploy"),
    ("faults",),
    ("load",),
    ("verify", "compat"),
    ("chaos",),
    ("report",),
    ("compare", "scale"),
    ("bench",),
    ("cli", "hubcli", "cloudcli"),
    ("__main__", ""),  # entry points: `python -m riftdrill`, the package's Chaos Toolkit hooks
]
RANK = {name: i for i, layer in enumerate(LAYERS) for name in layer}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _unit(module: str) -> str:
    """The layered unit of a riftdrill module: its top-level package or module."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def _imported(tree: ast.AST, module: str, is_package: bool) -> list[tuple[int, str]]:
    """(line, riftdrill module) for every import in the tree."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against this module's package
                base = module.split(".")
                base = base[:len(base) - node.level + (1 if is_package else 0)]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            if target == "riftdrill" or not node.module:  # `from riftdrill import faults`
                found += [(node.lineno, f"{target}.{a.name}") for a in node.names]
            else:
                found.append((node.lineno, target))
        elif (isinstance(node, ast.Call) and node.args
              and isinstance(node.func, ast.Attribute | ast.Name)
              and (node.func.attr if isinstance(node.func, ast.Attribute) else node.func.id)
              == "import_module"
              and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)):
            found.append((node.lineno, node.args[0].value))
    return [(line, name) for line, name in found
            if name == "riftdrill" or name.startswith("riftdrill.")]


def _modules() -> list[Path]:
    return sorted((SRC / "riftdrill").rglob("*.py"))


def test_every_module_is_in_a_layer() -> None:
    missing = sorted({_unit(_module_name(p)) for p in _modules()} - set(RANK))
    assert missing == [], (f"riftdrill.{missing[0]} is in no layer: add it to LAYERS in "
                           "tests/unit/test_imports.py and to docs/architecture.md")


def test_no_import_goes_up_or_sideways() -> None:
    wrong: list[str] = []
    for path in _modules():
        module = _module_name(path)
        me = _unit(module)
        tree = ast.parse(path.read_text(), filename=str(path))
        for line, name in _imported(tree, module, path.name == "__init__.py"):
            other = _unit(name)
            if other == me or me not in RANK or other not in RANK:
                continue  # own package; an unlisted unit fails the test above
            if RANK[other] >= RANK[me]:
                wrong.append(f"{path.relative_to(SRC)}:{line}: {module} imports {name} "
                             f"(layer {RANK[other]} >= its own {RANK[me]})")
    assert wrong == [], "imports against the layers of docs/architecture.md:\n" + "\n".join(wrong)


@pytest.mark.parametrize(("source", "module", "expected"), [
    ("from riftdrill import faults, paths", "riftdrill.chaos.x", ["riftdrill.faults",
                                                                   "riftdrill.paths"]),
    ("def f():\n    from riftdrill.report import cost", "riftdrill.chaos.x",
     ["riftdrill.report"]),
    ("from . import runs", "riftdrill.report.x", ["riftdrill.report.runs"]),
    ("from ..chaos import summary", "riftdrill.report.x", ["riftdrill.chaos"]),
    ("import importlib\nimportlib.import_module('riftdrill.cli')", "riftdrill.load.x",
     ["riftdrill.cli"]),
    ("import json\nfrom typing import Any", "riftdrill.load.x", []),
])
def test_the_checker_sees_every_kind_of_import(source: str, module: str,
                                               expected: list[str]) -> None:
    assert [n for _, n in _imported(ast.parse(source), module, False)] == expected


def test_an_upward_import_is_caught() -> None:
    """What this test exists for: chaos/runner.py once imported report.cost."""
    [(_, name)] = _imported(ast.parse("from riftdrill.report import cost"), "riftdrill.chaos.runner",
                            False)
    assert RANK[_unit(name)] > RANK["chaos"]


def test_cli_drills_and_load_control_do_not_import_locust() -> None:
    code = (
        "import sys\n"
        "import riftdrill.cli, riftdrill.load.runner, riftdrill.chaos.runner, riftdrill.chaos.actions\n"
        "import riftdrill.verify.verifier, riftdrill.report.render, riftdrill.compare, riftdrill.bench\n"
        "riftdrill.load.runner.locustfile_path()\n"
        "bad = sorted(m for m in ('locust', 'gevent') if m in sys.modules)\n"
        "assert not bad, bad\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
