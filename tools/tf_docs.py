#!/usr/bin/env python3
"""Inputs and outputs tables of a Terraform module's README, generated from its .tf files.

    python3 tools/tf_docs.py [--check] [DIR ...]

terraform-docs style: the tables live between `<!-- BEGIN_TF_DOCS -->` and `<!-- END_TF_DOCS -->`
in DIR/README.md and are rewritten from variables.tf / outputs.tf (every .tf of DIR), read with
riftdrill.cloud.tfconfig (the `terraform fmt` layout test_infra_static.py relies on too). A
README without the markers has its hand-written `## Inputs` ... `## Outputs` tables replaced by
the marked block, or the block appended. Without DIR: every module, env and example under
infra/ that has a README.md. --check writes nothing and exits 1 naming each stale README
(tests/unit/test_tf_docs.py runs it); a DIR without README.md is an error (exit 2): write its
title and purpose first.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))  # this checkout's riftdrill, whatever is installed

from riftdrill.cloud import tfconfig  # noqa: E402
from riftdrill.errors import RiftdrillError  # noqa: E402

BEGIN = "<!-- BEGIN_TF_DOCS -->"
END = "<!-- END_TF_DOCS -->"
MAX_TYPE = 40  # longer types (objects) show their head; the full one is in variables.tf
MAX_DEFAULT = 60


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _type(expr: str) -> str:
    if len(expr) <= MAX_TYPE:
        return f"`{expr}`"
    return f"`{expr.split('(', 1)[0]}`"


def _default(expr: str | None) -> str:
    if expr is None:
        return "required"
    if len(expr) > MAX_DEFAULT:
        return "see variables.tf"
    return f"`{expr}`"


def tables(root: Path) -> str:
    """The marked block: `## Inputs` and `## Outputs` tables of the module at root."""
    lines = [BEGIN, "## Inputs", ""]
    variables = tfconfig.variables(root)
    if variables:
        lines += ["| Name | Type | Default | Description |", "| --- | --- | --- | --- |"]
        lines += [f"| `{v.name}` | {_cell(_type(v.type))} | {_cell(_default(v.default))} | "
                  f"{_cell(v.description)} |" for v in variables]
    else:
        lines.append("No inputs.")
    lines += ["", "## Outputs", ""]
    outputs = tfconfig.outputs(root)
    if outputs:
        lines += ["| Name | Description |", "| --- | --- |"]
        lines += [f"| `{o.name}` | {_cell(o.description)} |" for o in outputs]
    else:
        lines.append("No outputs.")
    return "\n".join([*lines, END])


_HAND_WRITTEN = re.compile(r"^## Inputs\n.*?^## Outputs\n(?:\n|\|[^\n]*\n|No outputs\.\n)*",
                           re.M | re.S)


def render(readme: str, block: str) -> str:
    """The README with its block (re)placed."""
    if BEGIN in readme and END in readme:
        head, rest = readme.split(BEGIN, 1)
        return head + block + rest.split(END, 1)[1]
    if _HAND_WRITTEN.search(readme):
        replaced = _HAND_WRITTEN.sub(lambda _: block + "\n", readme, count=1)
        return replaced.replace(END + "\n", END + "\n\n").rstrip("\n") + "\n"
    return readme.rstrip("\n") + "\n\n" + block + "\n"


def default_dirs(infra: Path) -> list[Path]:
    found = [*infra.glob("modules/*"), *infra.glob("envs/*"), *infra.glob("examples/*")]
    return sorted(d for d in found if (d / "README.md").is_file() and any(d.glob("*.tf")))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("dirs", nargs="*", type=Path, help="module directories (default: infra/*/*)")
    ap.add_argument("--check", action="store_true", help="write nothing; exit 1 if a README is stale")
    args = ap.parse_args(argv)
    dirs = args.dirs or default_dirs(ROOT / "infra")
    stale: list[str] = []
    for d in dirs:
        readme = d / "README.md"
        if not readme.is_file():
            print(f"tf_docs: {readme} does not exist; write its title and purpose, then run again",
                  file=sys.stderr)
            return 2
        try:
            block = tables(d)
        except RiftdrillError as exc:
            print(f"tf_docs: {exc}", file=sys.stderr)
            return 2
        old = readme.read_text()
        new = render(old, block)
        if new != old:
            stale.append(str(readme.relative_to(ROOT) if readme.is_relative_to(ROOT) else readme))
            if not args.check:
                readme.write_text(new)
    if args.check and stale:
        print(f"tf_docs: stale tables in {', '.join(stale)}; run `python3 tools/tf_docs.py`",
              file=sys.stderr)
        return 1
    for name in stale:
        print(f"tf_docs: wrote {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
