"""Load a report in headless Chromium over the DevTools protocol: console errors, plots, screenshot.

Only file:// pages; the browser runs with networking features off and a fresh profile, and is
killed (by its own pid) when the check ends. Chromium is Debian's `chromium`
(scripts/setup/browser.sh).
"""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from riftdrill.errors import SetupError

CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--hide-scrollbars", "--window-size=1200,900"]

# What the page looks like once loaded: every plot and whether it decoded to a non-empty image.
_PROBE = """(() => {
  const imgs = Array.from(document.querySelectorAll('img.plot')).map(i => ({
    id: i.id, complete: i.complete, width: i.naturalWidth, height: i.naturalHeight}));
  const external = Array.from(document.querySelectorAll('[src],link[href]'))
    .map(e => e.getAttribute('src') || e.getAttribute('href'))
    .filter(u => u && !u.startsWith('data:'));
  return JSON.stringify({title: document.title, images: imgs, external: external,
    tables: document.querySelectorAll('table').length});
})()"""


@dataclass
class PageCheck:
    url: str
    title: str = ""
    console_errors: list[str] = field(default_factory=list)
    images: list[dict[str, Any]] = field(default_factory=list)
    external: list[str] = field(default_factory=list)
    tables: int = 0
    screenshot: Path | None = None


class Browser:
    """One headless Chromium with one page, driven through the DevTools websocket."""

    def __init__(self, binary: str = CHROMIUM) -> None:
        if not Path(binary).exists():
            raise SetupError(f"{binary} is missing: run `make setup` (scripts/setup/browser.sh)")
        import websocket  # websocket-client

        self.profile = tempfile.mkdtemp(prefix="rd-chromium-")
        self.proc = subprocess.Popen(
            [binary, *FLAGS, f"--user-data-dir={self.profile}", "--remote-debugging-port=0",
             "about:blank"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        port_file = Path(self.profile) / "DevToolsActivePort"
        deadline = time.monotonic() + 30
        while not port_file.exists() or not port_file.read_text().strip():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.close()
                raise SetupError("chromium did not start its DevTools endpoint within 30 s")
            time.sleep(0.1)
        port = int(port_file.read_text().split()[0])
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10) as resp:
            targets = json.loads(resp.read())
        page = next(t for t in targets if t.get("type") == "page")
        self.ws = websocket.create_connection(page["webSocketDebuggerUrl"], timeout=30,
                                              suppress_origin=True)
        self._id = 0
        self.events: list[dict[str, Any]] = []
        for domain in ("Page", "Runtime", "Log"):
            self.call(f"{domain}.enable")

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        self._id += 1
        self.ws.send(json.dumps({"id": self._id, "method": method, "params": params}))
        while True:
            msg = json.loads(self.ws.recv())
            if msg.get("id") == self._id:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return dict(msg.get("result", {}))
            self.events.append(msg)

    def wait_event(self, method: str, timeout_s: float = 30) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if any(e.get("method") == method for e in self.events):
                return
            self.ws.settimeout(max(0.1, deadline - time.monotonic()))
            self.events.append(json.loads(self.ws.recv()))
        raise TimeoutError(f"no {method} within {timeout_s} s")

    def console_errors(self) -> list[str]:
        errors = []
        for e in self.events:
            p = e.get("params", {})
            if e.get("method") == "Runtime.exceptionThrown":
                d = p.get("exceptionDetails", {})
                errors.append(f"exception: {d.get('exception', {}).get('description') or d.get('text')}")
            elif e.get("method") == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert"):
                errors.append("console.error: " + " ".join(
                    str(a.get("value", a.get("description", ""))) for a in p.get("args", [])))
            elif e.get("method") == "Log.entryAdded" and p.get("entry", {}).get("level") == "error":
                entry = p["entry"]
                errors.append(f"log: {entry.get('text')} {entry.get('url', '')}".strip())
        return errors

    def evaluate(self, expression: str) -> Any:
        res = self.call("Runtime.evaluate", expression=expression, returnByValue=True,
                        awaitPromise=True)
        if "exceptionDetails" in res:
            raise RuntimeError(f"evaluate failed: {res['exceptionDetails'].get('text')}")
        return res.get("result", {}).get("value")

    def open(self, path: Path) -> None:
        self.events.clear()
        self.call("Page.navigate", url=path.resolve().as_uri())
        self.wait_event("Page.loadEventFired")

    def screenshot(self, out: Path) -> Path:
        data = self.call("Page.captureScreenshot", format="png", captureBeyondViewport=True)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(base64.b64decode(data["data"]))
        return out

    def close(self) -> None:
        ws = getattr(self, "ws", None)
        if ws is not None:
            ws.close()
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        shutil.rmtree(self.profile, ignore_errors=True)

    def __enter__(self) -> Browser:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# One plot's data-* attributes, and how many of its pixels are each of the given colours (the
# PNG drawn on a canvas: data: images do not taint it).
_PIXELS = """((id, colors, tol) => {
  const img = document.getElementById(id);
  if (!img) return JSON.stringify(null);
  const c = document.createElement('canvas');
  c.width = img.naturalWidth; c.height = img.naturalHeight;
  const ctx = c.getContext('2d');
  ctx.drawImage(img, 0, 0);
  const d = ctx.getImageData(0, 0, c.width, c.height).data;
  const counts = {};
  for (const k in colors) counts[k] = 0;
  for (let i = 0; i < d.length; i += 4) {
    for (const k in colors) {
      const w = colors[k];
      if (Math.abs(d[i] - w[0]) <= tol && Math.abs(d[i + 1] - w[1]) <= tol
          && Math.abs(d[i + 2] - w[2]) <= tol) counts[k]++;
    }
  }
  return JSON.stringify({data: Object.assign({}, img.dataset), counts: counts});
})"""


def plot_pixels(browser: Browser, plot_id: str, colors: dict[str, tuple[int, int, int]],
                tolerance: int = 6) -> dict[str, Any] | None:
    """{"data": the plot's data-* attributes, "counts": pixels per colour} of the loaded page's
    image `plot_id` (None when the page has no such image)."""
    expr = f"{_PIXELS}({json.dumps(plot_id)}, {json.dumps(colors)}, {int(tolerance)})"
    out = json.loads(browser.evaluate(expr))
    return out if isinstance(out, dict) else None


def blend(hex_color: str, alpha: float) -> tuple[int, int, int]:
    """`hex_color` at `alpha` over white, as the PNG holds it (a shaded fault window)."""
    rgb = [int(hex_color.lstrip("#")[i:i + 2], 16) for i in (0, 2, 4)]
    r, g, b = (round(255 - alpha * (255 - v)) for v in rgb)
    return r, g, b


def rgb(hex_color: str) -> tuple[int, int, int]:
    return blend(hex_color, 1.0)


def check_page(browser: Browser, page: Path, screenshot: Path | None = None) -> PageCheck:
    """Load `page`, then report its console errors, plots and external references."""
    browser.open(page)
    probe = json.loads(browser.evaluate(_PROBE))
    time.sleep(0.2)  # late console messages (e.g. a failed resource) arrive after load
    browser.evaluate("1")
    result = PageCheck(url=page.resolve().as_uri(), title=probe["title"],
                       console_errors=browser.console_errors(), images=probe["images"],
                       external=probe["external"], tables=probe["tables"])
    if screenshot is not None:
        result.screenshot = browser.screenshot(screenshot)
    return result
