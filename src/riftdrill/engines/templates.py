"""A `${name}` renderer for the broker templates in infra/templates/.

The same files are rendered by Terraform's templatefile() for cloud-init, so templates may use
only plain `${name}` substitutions (no directives); both renderers then agree byte for byte.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

from riftdrill.errors import RiftdrillError

_PLACEHOLDER = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def render_text(text: str, values: Mapping[str, object], source: str = "template") -> str:
    missing = sorted({m for m in _PLACEHOLDER.findall(text) if m not in values})
    if missing:
        raise RiftdrillError(f"{source} needs values for: {', '.join(missing)}")
    return _PLACEHOLDER.sub(lambda m: str(values[m.group(1)]), text)


def render(template_path: Path, values: Mapping[str, object]) -> str:
    return render_text(template_path.read_text(), values, source=str(template_path))


def templates_dir() -> Path:
    from riftdrill.paths import project_root

    return project_root() / "infra" / "templates"
