"""One document model, two renderings: Markdown (plots as PNG files beside it) and self-contained
HTML (plots inlined as data: URIs, inline CSS and JS, nothing fetched)."""

from __future__ import annotations

import base64
import html
from dataclasses import dataclass, field

from riftdrill.report.plots import Plot


@dataclass
class Para:
    text: str
    css: str = ""  # "pass" | "fail" | "note"


@dataclass
class Bullets:
    items: list[str]


@dataclass
class Table:
    headers: list[str]
    rows: list[list[str]]
    sort_keys: list[list[str | float | None]] | None = None  # per cell, for sortable tables
    links: dict[tuple[int, int], str] = field(default_factory=dict)  # (row, col) -> href
    sortable: bool = False
    id: str = ""


@dataclass
class Image:
    plot: Plot


Block = Para | Bullets | Table | Image


@dataclass
class Section:
    title: str
    blocks: list[Block]
    css: str = ""  # "headline": the HTML draws the section as a box


@dataclass
class Document:
    title: str
    subtitle: str
    sections: list[Section]


# ---- Markdown ------------------------------------------------------------------------------

def _md_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def to_markdown(doc: Document, plot_dir: str = "plots") -> str:
    out = [f"# {doc.title}", "", doc.subtitle, ""]
    for sec in doc.sections:
        out += [f"## {sec.title}", ""]
        for b in sec.blocks:
            if isinstance(b, Para):
                out += [f"**{b.text}**" if b.css in ("pass", "fail") else b.text, ""]
            elif isinstance(b, Bullets):
                out += [f"- {item}" for item in b.items] + [""]
            elif isinstance(b, Table):
                out.append("| " + " | ".join(_md_cell(h) for h in b.headers) + " |")
                out.append("|" + "---|" * len(b.headers))
                for r, row in enumerate(b.rows):
                    cells = [f"[{_md_cell(c)}]({b.links[(r, i)]})" if (r, i) in b.links
                             else _md_cell(c) for i, c in enumerate(row)]
                    out.append("| " + " | ".join(cells) + " |")
                out.append("")
            else:
                out += [f"![{b.plot.title}]({plot_dir}/{b.plot.name}.png)", ""]
    return "\n".join(out).rstrip() + "\n"


# ---- HTML ----------------------------------------------------------------------------------

CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:2em auto;
max-width:1100px;padding:0 1em;color:#222}
h1{font-size:1.6em;margin-bottom:.2em}h2{margin-top:1.6em;border-bottom:1px solid #ddd}
.sub{color:#666;margin-top:0}
table{border-collapse:collapse;margin:.6em 0;font-size:13px}
th,td{border:1px solid #ddd;padding:3px 8px;text-align:left;vertical-align:top}
th{background:#f4f4f4}th.sort{cursor:pointer;user-select:none}
th.sort:after{content:" \\2195";color:#aaa}th.asc:after{content:" \\2191";color:#222}
th.desc:after{content:" \\2193";color:#222}
.pass{color:#1a7f37;font-weight:600}.fail{color:#cf222e;font-weight:600}.note{color:#666}
img.plot{max-width:100%;border:1px solid #eee;margin:.5em 0;display:block}
code{background:#f4f4f4;padding:0 3px}
section.headline{border:2px solid #444;border-radius:6px;padding:.2em 1em .6em;margin:1em 0;
background:#fafafa}section.headline h2{margin-top:.4em}
"""

# Click a header to sort by it; a second click reverses. Numbers sort as numbers (data-sort).
SORT_JS = """
document.querySelectorAll('table.sortable').forEach(function (table) {
  table.querySelectorAll('th').forEach(function (th, col) {
    th.classList.add('sort');
    th.addEventListener('click', function () {
      var asc = !th.classList.contains('asc');
      table.querySelectorAll('th').forEach(function (h) { h.classList.remove('asc', 'desc'); });
      th.classList.add(asc ? 'asc' : 'desc');
      var body = table.tBodies[0];
      var rows = Array.prototype.slice.call(body.rows);
      function key(row) {
        var cell = row.cells[col];
        var v = cell.hasAttribute('data-sort') ? cell.getAttribute('data-sort') : cell.textContent;
        var n = parseFloat(v);
        return (v !== '' && !isNaN(n) && isFinite(v)) ? n : v.toLowerCase();
      }
      rows.sort(function (a, b) {
        var x = key(a), y = key(b);
        if (typeof x !== typeof y) { x = String(x); y = String(y); }
        return (x < y ? -1 : x > y ? 1 : 0) * (asc ? 1 : -1);
      });
      rows.forEach(function (r) { body.appendChild(r); });
    });
  });
});
"""


def _e(text: str) -> str:
    return html.escape(text, quote=True)


def _html_table(t: Table) -> str:
    cls = ' class="sortable"' if t.sortable else ""
    tid = f' id="{_e(t.id)}"' if t.id else ""
    out = [f"<table{cls}{tid}><thead><tr>"
           + "".join(f"<th>{_e(h)}</th>" for h in t.headers) + "</tr></thead><tbody>"]
    for r, row in enumerate(t.rows):
        cells = []
        for i, c in enumerate(row):
            key = t.sort_keys[r][i] if t.sort_keys else None
            attr = f' data-sort="{_e(str(key))}"' if key is not None else ""
            css = ' class="pass"' if c == "pass" else ' class="fail"' if c == "FAIL" else ""
            body = f'<a href="{_e(t.links[(r, i)])}">{_e(c)}</a>' if (r, i) in t.links else _e(c)
            cells.append(f"<td{attr}{css}>{body}</td>")
        out.append("<tr>" + "".join(cells) + "</tr>")
    out.append("</tbody></table>")
    return "\n".join(out)


def to_html(doc: Document) -> str:
    parts = [f"<h1>{_e(doc.title)}</h1>", f'<p class="sub">{_e(doc.subtitle)}</p>']
    has_sortable = False
    for sec in doc.sections:
        if sec.css:
            parts.append(f'<section class="{_e(sec.css)}" id="{_e(sec.css)}">')
        parts.append(f"<h2>{_e(sec.title)}</h2>")
        for b in sec.blocks:
            if isinstance(b, Para):
                css = f' class="{b.css}"' if b.css else ""
                parts.append(f"<p{css}>{_e(b.text)}</p>")
            elif isinstance(b, Bullets):
                parts.append("<ul>" + "".join(f"<li>{_e(i)}</li>" for i in b.items) + "</ul>")
            elif isinstance(b, Table):
                has_sortable = has_sortable or b.sortable
                parts.append(_html_table(b))
            else:
                data = base64.b64encode(b.plot.png).decode("ascii")
                # what the figure draws (x axis, clouds, fault windows), for readers and checks
                meta = "".join(f' data-{_e(k)}="{_e(v)}"' for k, v in sorted(b.plot.meta.items()))
                parts.append(f'<img class="plot" id="plot-{_e(b.plot.name)}" alt="{_e(b.plot.title)}"'
                             f'{meta} src="data:image/png;base64,{data}">')
        if sec.css:
            parts.append("</section>")
    script = f"<script>{SORT_JS}</script>" if has_sortable else ""
    # An inline empty favicon: the browser would otherwise request /favicon.ico (a console error).
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<title>{_e(doc.title)}</title><link rel=\"icon\" href=\"data:,\">"
            f"<style>{CSS}</style></head><body>\n" + "\n".join(parts) + f"\n{script}</body></html>\n")
