"""Redaction: what riftdrill writes under results/ and .riftdrill/logs holds no credential.

One step, two kinds of knowledge (`Redactor`):
- the literal values of the deployment's own secrets (`Secret`: a kind and a value): what the
  target's driver knows it uses (`drivers.known_secrets`: the lab's object-store secret key) and
  every file under .riftdrill/secrets/ (`secrets_in_dir`: SASL passwords, TLS private keys),
  resolved once per command and passed down; each value becomes `***<kind>***`;
- what a credential looks like anywhere (`PATTERNS`, `_KEY_VALUE`): `password=...`,
  `"secret_key": "..."`, `sasl.jaas.config`, PEM private key blocks, AWS / GCS key ids, OAuth and
  bearer tokens, a URL's user:password; the value becomes `***` (quotes kept: JSON stays JSON).

Where it happens: files riftdrill writes whole go through `write_text` / `write_json`
(summary.json, verify.json, control.json, journal.json, compare.json); logs are redacted line by
line while they are copied or pumped (`copy_lines`, `lines`: a broker's log into a run, chaos's
output, Terraform's log); what other programs write into a run directory (chaos's log and
journal, Locust's CSVs, the load processes' logs and files) is redacted in place by `sweep` when
the part of the run they own has ended. Binary ledgers (`*.rdl`, `*.rdc`: 64-byte crc'd entries
after a header riftdrill builds from the load's spec: topic, cluster, contract, bootstrap; no
credential in either) and PNG plots (drawn from redacted figures) are left alone
(`BINARY_SUFFIXES`): rewriting a ledger would break it.

Cheap by construction: a regex reads a text only when a plain substring search (C speed, where a
case-insensitive regex reads a few MB/s) found what it cannot match without: a literal secret, a
pattern's hint, a secret's name. `sweep` searches a file in 1 MiB blocks and reads only the lines
around a hit; a file with nothing to hide is read once and left as it is.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

MASK = "***"
# A literal shorter than this is not replaced: it would shred ordinary text ("lab", "kafka"), and
# a value that short protects nothing. The patterns still hide it after `password=`.
MIN_LITERAL_CHARS = 6
# Left alone by `sweep`: binary ledgers hold no credential (module docstring); plots are images.
# never swept: ledgers, plots, and gzipped logs (redacted line by line before compression)
BINARY_SUFFIXES = frozenset({".rdl", ".rdc", ".png", ".gz"})
_BLOCK_BYTES = 1 << 20  # how much of a file `sweep` searches at once
_BATCH_LINES = 256  # how many lines a copy searches at once

_PEM_BEGIN = re.compile(r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----")
_PEM_END = re.compile(r"-----END [A-Z0-9 ]*PRIVATE KEY-----")
_PEM_LABEL = "***PRIVATE KEY***"

# What a credential looks like, wherever it turns up in a message or a log line; each pattern
# after the lowercase substrings it cannot match without.
PATTERNS: tuple[tuple[tuple[str, ...], re.Pattern[str], str], ...] = (
    (("private key",), re.compile(r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----.*?"
                                  r"-----END [A-Z0-9 ]*PRIVATE KEY-----", re.S), _PEM_LABEL),
    (("akia", "asia", "agpa", "aida", "aroa", "anpa"),
     re.compile(r"\b(?:AKIA|ASIA|AGPA|AIDA|AROA|ANPA)[A-Z0-9]{16}\b"), "***AWS-KEY-ID***"),
    (("goog",), re.compile(r"\bGOOG[0-9A-Z]{20,}\b"), "***HMAC-ID***"),
    (("ya29.",), re.compile(r"\bya29\.[0-9A-Za-z_\-.]+"), "***OAUTH-TOKEN***"),
    (("bearer",), re.compile(r"(?i)\b(bearer)\s+[0-9A-Za-z_\-.=/+]+"), r"\1 ***"),
    # a URL's user:password; the scheme starts a word (linear on long runs of letters)
    (("://",), re.compile(r"(?<![\w+.\-])([A-Za-z][\w+.\-]{0,30}://)[^/\s:@\"']+:[^/\s@\"']+@"),
     r"\1***:***@"),
)

# Names that say a value is a credential: keys of a mapping, or words before `=` / `:` in text.
_SECRET_NAME = (r"secret|passw(?:or)?d|token|preshared|private_?key|session_?key|access_?key|"
                r"credential|jaas")
_NAME_WORDS = ("secret", "passw", "token", "preshared", "private_key", "privatekey", "session_key",
               "sessionkey", "access_key", "accesskey", "credential", "jaas")  # (lowercase)
_SECRET_KEY = re.compile(rf"(?i){_SECRET_NAME}")
# A mapping key is a setting's name (`sasl.password`, `secret_access_key`), not a label built
# from a name: a partition's "<topic>[3]" keeps its figures when the topic says "credential".
_SETTING_NAME = re.compile(r"[A-Za-z0-9_.\-]+")
# The name is a whole word, at most 64 characters either side of the secret word, never inside a
# run of base64 (`+`, `/` before it): an HDR histogram's base64 can spell `...tOKeN=`.
# Its value: quoted (kept quoted, so JSON stays JSON), else a bare word; not null/true/false, a
# bare number (Kafka's `delegation.token.max.lifetime.ms = 604800000`) or an opening { or [ (a
# JSON object or list: its own keys are looked at).
_VALUE = (r"\"(?:[^\"\\\n]|\\.)*\"|'[^'\n]*'"
          r"|(?!(?:null|none|true|false)\b)(?![\[{])(?![\d.\-]+(?:[\s,;&}\]\"']|$))"
          r"[^\s,;&}\]\"']+")
_KEY_VALUE = re.compile(
    rf"(?i)(?<![A-Za-z0-9_.\-+/])([A-Za-z0-9_.\-]{{0,64}}(?:{_SECRET_NAME})[A-Za-z0-9_.\-]{{0,64}}"
    rf"[\"']?\s*[=:]\s*)({_VALUE})")

# What `sweep` searches a block for (lowercased) before it reads any of its lines.
_HINTS_B = tuple(sorted({h.encode() for hints, _, _ in PATTERNS for h in hints}
                        | {w.encode() for w in _NAME_WORDS}))


@dataclass
class _Pem:
    inside: bool = False  # within a multi-line PEM private key block


def _secret_key(key: str) -> bool:
    return bool(_SECRET_KEY.search(key)) and _SETTING_NAME.fullmatch(key) is not None


def _key_value(m: re.Match[str]) -> str:
    value = m.group(2)
    if value in ('""', "''"):
        return m.group(0)  # an empty value hides nothing (the lab's connectors: no password)
    quote = value[0] if value[0] in "\"'" else ""
    return f"{m.group(1)}{quote}{MASK}{quote}"


@dataclass(frozen=True)
class Secret:
    """One literal secret of the deployment. Its repr never shows the value."""

    kind: str  # what it is, for messages and the mask: "object-store secret key (lab S3)"
    value: str = field(repr=False)


class Redactor:
    """Literal secrets and credential patterns, applied to text, mappings, lines and files.
    `Redactor()` knows no literal: the patterns alone (`PATTERNS_ONLY`)."""

    def __init__(self, secrets: Iterable[Secret] = ()) -> None:
        kinds: dict[str, str] = {}
        for s in secrets:
            if len(s.value) < MIN_LITERAL_CHARS:
                continue
            # as written, and escaped inside a JSON string
            for form in (s.value, json.dumps(s.value)[1:-1]):
                kinds.setdefault(form, s.kind.replace('"', "'").replace("\\", "/"))
        self._kinds = kinds
        self._literal_bytes = tuple(v.encode("utf-8", "surrogateescape") for v in kinds)
        # longest first: a secret that contains another is replaced whole
        self._literal = (re.compile("|".join(re.escape(v) for v in
                                             sorted(kinds, key=len, reverse=True)))
                         if kinds else None)

    @property
    def kinds(self) -> list[str]:
        """The kinds of literal secrets it replaces (never their values)."""
        return sorted(set(self._kinds.values()))

    def text(self, text: str) -> str:
        """`text` with every literal secret and anything that looks like a credential masked."""
        if self._literal is not None and any(v in text for v in self._kinds):
            text = self._literal.sub(lambda m: f"{MASK}{self._kinds[m.group(0)]}{MASK}", text)
        low = text.lower()
        for hints, pattern, repl in PATTERNS:
            if any(h in low for h in hints):
                text = pattern.sub(repl, text)
        if any(w in low for w in _NAME_WORDS):
            text = _KEY_VALUE.sub(_key_value, text)
        return text

    def mapping(self, data: Any) -> Any:
        """A copy of JSON-like `data`: values under secret-named keys are *** (None and "" stay),
        every string is redacted as text."""
        if isinstance(data, Mapping):
            return {k: MASK if _secret_key(str(k)) and v not in (None, "")
                    else self.mapping(v) for k, v in data.items()}
        if isinstance(data, list | tuple):
            return [self.mapping(v) for v in data]
        if isinstance(data, str):
            return self.text(data)
        return data

    def lines(self, lines: Iterable[str]) -> Iterator[str]:
        """Each line redacted; a PEM private key block over several lines becomes one masked line
        (a block that never ends hides the rest)."""
        return self._lines(lines, _Pem())

    def _lines(self, lines: Iterable[str], pem: _Pem) -> Iterator[str]:
        for line in lines:
            if pem.inside:
                end = _PEM_END.search(line)
                if end is not None:
                    pem.inside = False
                    if line[end.end():].strip():  # the masked line ended with its own newline
                        yield self.text(line[end.end():])
                continue
            begin = _PEM_BEGIN.search(line)
            if begin is not None and _PEM_END.search(line, begin.end()) is None:
                pem.inside = True
                yield self.text(line[:begin.start()]) + _PEM_LABEL + "\n"
                continue
            yield self.text(line)

    def hides_something(self, line: str) -> bool:
        """Whether `lines` would change this line (or the block it starts)."""
        return _PEM_BEGIN.search(line) is not None or self.text(line) != line

    def byte_lines(self, lines: Iterable[bytes]) -> Iterator[bytes]:
        """`lines` for bytes, _BATCH_LINES at a time: a batch without a hint or a literal secret
        passes whole; what is not UTF-8 passes unchanged (surrogateescape)."""
        pem = _Pem()
        batch: list[bytes] = []
        for line in lines:
            batch.append(line)
            if len(batch) == _BATCH_LINES:
                yield from self._byte_batch(batch, pem)
                batch = []
        yield from self._byte_batch(batch, pem)

    def _byte_batch(self, batch: list[bytes], pem: _Pem) -> Iterator[bytes]:
        joined = b"".join(batch)
        if not pem.inside and not self._hinted(joined):
            yield joined
            return
        for line in self._lines((b.decode("utf-8", "surrogateescape") for b in batch), pem):
            yield line.encode("utf-8", "surrogateescape")

    def _hinted(self, block: bytes) -> bool:
        """Whether `block` holds a hint of a pattern or a literal secret (substring search)."""
        low = block.lower()
        return any(h in low for h in _HINTS_B) or any(v in block for v in self._literal_bytes)

    def copy_lines(self, lines: Iterable[bytes], dest: Path) -> None:
        """`lines` redacted into `dest` as they come (a log can be large), tmp + rename."""
        _replace(dest, lambda out: out.writelines(self.byte_lines(lines)))

    def write_text(self, path: Path, text: str) -> Path:
        """`text` redacted into `path`, tmp + rename."""
        redacted = "".join(self.lines(text.splitlines(keepends=True))).encode()
        _replace(path, lambda out: out.write(redacted))
        return path

    def write_json(self, path: Path, data: Any, indent: int | None = 2) -> Path:
        """JSON-like `data` redacted as a mapping (always valid JSON) into `path`."""
        return self.write_text(path, json.dumps(self.mapping(data), indent=indent, default=str)
                               + "\n")

    def redact_file(self, path: Path) -> bool:
        """Redact one file in place, streamed; rewritten only when something changed (True).
        The file keeps its inode: a process still appending to it (chaos logs its last lines
        after the riftdrill control swept the run) goes on appending to the redacted file."""
        if not self._needs_redaction(path):
            return False
        tmp = path.with_name(path.name + ".redacting")
        try:
            with open(path, "rb") as f, open(tmp, "w+b") as out:
                out.writelines(self.byte_lines(f))
                read_to = f.tell()
                with open(path, "r+b") as dst:
                    dst.seek(read_to)
                    out.writelines(self.byte_lines(dst.read().splitlines(keepends=True)))
                    out.seek(0)
                    dst.seek(0)
                    shutil.copyfileobj(out, dst)
                    dst.truncate()
        finally:
            tmp.unlink(missing_ok=True)
        return True

    def sweep(self, root: Path) -> list[Path]:
        """Redact every file under `root` in place but BINARY_SUFFIXES and symlinks; the files
        that changed. A file that cannot be read or replaced is skipped, never raised."""
        changed: list[Path] = []
        for path in sorted(root.rglob("*")):
            if path.suffix in BINARY_SUFFIXES or path.is_symlink() or not path.is_file():
                continue
            try:
                if self.redact_file(path):
                    changed.append(path)
            except OSError:
                continue
        return changed

    def _needs_redaction(self, path: Path) -> bool:
        with open(path, "rb") as f:
            carry = b""
            while True:
                block = f.read(_BLOCK_BYTES)
                if not block:
                    return bool(carry) and self._block_needs(carry)
                block = carry + block
                cut = block.rfind(b"\n") + 1  # whole lines: no secret spans a line break
                if cut == 0:
                    carry = block
                    continue
                if self._block_needs(block[:cut]):
                    return True
                carry = block[cut:]

    def _block_needs(self, block: bytes) -> bool:
        """Whether the whole lines of `block` hold anything to hide; only lines with a hint or
        a literal secret (found by substring search) are read."""
        if not self._hinted(block):
            return False
        low = block.lower()
        starts: set[int] = set()
        for haystack, needles in ((low, _HINTS_B), (block, self._literal_bytes)):
            for needle in needles:
                at = haystack.find(needle)
                while at != -1:
                    starts.add(block.rfind(b"\n", 0, at) + 1)
                    line_end = block.find(b"\n", at)
                    if line_end == -1:
                        break
                    at = haystack.find(needle, line_end)
        for start in sorted(starts):
            end = block.find(b"\n", start)
            line = block[start:] if end == -1 else block[start:end + 1]
            if self.hides_something(line.decode("utf-8", "surrogateescape")):
                return True
        return False


def _replace(path: Path, write: Callable[[BinaryIO], object]) -> None:
    """`path` replaced whole by what `write` writes (no torn file, no tmp file left behind)."""
    tmp = path.with_name(path.name + ".tmp")
    try:
        with open(tmp, "wb") as out:
            write(out)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


PATTERNS_ONLY = Redactor()


def redact(text: str) -> str:
    """`text` with anything that looks like a credential replaced by *** (patterns only)."""
    return PATTERNS_ONLY.text(text)


def redact_mapping(data: Any) -> Any:
    """A copy of JSON-like `data` whose secret-named keys are *** and strings are redacted."""
    return PATTERNS_ONLY.mapping(data)


_NAMED_VALUE = re.compile(r"[\w.\-]+\s*[=:]\s*(.+)$")
# Settings a client file holds beside its credentials that are not secret, and that every log
# of the deploy names: the protocol, the mechanism, a store's type and where it is on disk.
# (A Java tool's copy, `<principal>.properties`, made the CA's path and "SASL_SSL" count as
# secrets found in terraform's log.)
_NOT_SECRET_KEY = re.compile(r"(^|\.)(security\.protocol|sasl\.mechanism|"
                             r"ssl\.(trust|key)store\.(type|location))\s*[=:]")


def secrets_in_dir(directory: Path) -> list[Secret]:
    """Every secret kept in a file under `directory` (.riftdrill/secrets/), named by its file: a
    PEM file gives each line of its base64 body, a one-line file its value (a password), a
    `name=value` or `name: value` line its value, any other line itself. No directory: none."""
    found: list[Secret] = []
    if not directory.is_dir():
        return found
    for path in sorted(p for p in directory.rglob("*") if p.is_file()):
        try:
            text = path.read_text(errors="surrogateescape")
        except OSError:
            continue
        kind = f"secret file {path.relative_to(directory)}"
        lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
        pem = any(ln.startswith("-----BEGIN") for ln in lines)
        for line in lines:
            if pem or len(lines) == 1:
                value = "" if line.startswith("-----") else line
            elif _NOT_SECRET_KEY.search(line):
                continue
            else:
                named = _NAMED_VALUE.match(line)
                value = named.group(1).strip("\"'") if named else line
            if value and not value.startswith("#"):
                found.append(Secret(kind, value))
    return found
