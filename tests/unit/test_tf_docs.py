"""tools/tf_docs.py: the README tables of every Terraform module are generated, and current."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[2]
TOOL = ROOT / "tools" / "tf_docs.py"


def _tool() -> ModuleType:
    spec = importlib.util.spec_from_file_location("tf_docs", TOOL)
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(TOOL), *args], capture_output=True, text=True,
                          timeout=120, cwd=ROOT)


def test_every_readme_table_is_current() -> None:
    res = _run("--check")
    assert res.returncode == 0, res.stderr  # fix: python3 tools/tf_docs.py
    dirs = _tool().default_dirs(ROOT / "infra")
    assert ROOT / "infra" / "modules" / "aws-cluster" in dirs
    assert ROOT / "infra" / "envs" / "aws-gcp" in dirs
    for d in dirs:
        assert "<!-- BEGIN_TF_DOCS -->" in (d / "README.md").read_text(), d


VARIABLES = '''variable "name" {
  description = "Prefix | of names."
  type        = string
}

variable "sizes" {
  description = "Sizes by role."
  type = object({
    broker     = number
    controller = number
  })
  default = {
    broker     = 100
    controller = 20
  }
}

variable "tags" {
  description = "Extra tags."
  type        = map(string)
  default     = {}
}
'''


def _module(tmp_path: Path, readme: str) -> Path:
    (tmp_path / "variables.tf").write_text(VARIABLES)
    (tmp_path / "outputs.tf").write_text(
        'output "id" {\n  description = "The id."\n  value       = "x"\n}\n')
    (tmp_path / "README.md").write_text(readme)
    return tmp_path


def test_a_stale_table_fails_the_check_and_is_regenerated(tmp_path: Path) -> None:
    m = _module(tmp_path, "# m\n\nIntro.\n\n<!-- BEGIN_TF_DOCS -->\nold\n<!-- END_TF_DOCS -->\n\n## More\n")
    res = _run("--check", str(m))
    assert res.returncode == 1 and "README.md" in res.stderr
    assert "old" in (m / "README.md").read_text()  # --check writes nothing
    assert _run(str(m)).returncode == 0
    text = (m / "README.md").read_text()
    assert _run("--check", str(m)).returncode == 0
    assert text.startswith("# m\n\nIntro.\n\n<!-- BEGIN_TF_DOCS -->\n## Inputs\n")
    assert text.endswith("<!-- END_TF_DOCS -->\n\n## More\n")
    assert "| `name` | `string` | required | Prefix \\| of names. |" in text
    # A long type shows its head (the whole type is in variables.tf); a short default in full.
    assert "| `sizes` | `object` | `{broker = 100, controller = 20}` | Sizes by role. |" in text
    assert "| `tags` | `map(string)` | `{}` | Extra tags. |" in text
    assert "| `id` | The id. |" in text


def test_hand_written_tables_are_replaced_and_a_bare_readme_gets_the_block(tmp_path: Path) -> None:
    hand = "# m\n\n## Inputs\n\n| a | b |\n| --- | --- |\n\n## Outputs\n\n| x |\n\n## Notes\n\nkept\n"
    m = _module(tmp_path, hand)
    assert _run(str(m)).returncode == 0
    text = (m / "README.md").read_text()
    assert text.count("## Inputs") == 1 and "| a | b |" not in text
    assert text.endswith("<!-- END_TF_DOCS -->\n\n## Notes\n\nkept\n")
    (m / "README.md").write_text("# m\n\nNo tables yet.\n")
    assert _run(str(m)).returncode == 0
    assert (m / "README.md").read_text().startswith("# m\n\nNo tables yet.\n\n<!-- BEGIN_TF_DOCS -->")


def test_a_module_without_readme_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "main.tf").write_text("")
    res = _run(str(tmp_path))
    assert res.returncode == 2 and len(res.stderr.splitlines()) == 1
    assert not (tmp_path / "README.md").exists()
