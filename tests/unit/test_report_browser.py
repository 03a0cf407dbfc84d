"""The HTML reports in a real headless browser (Debian chromium, installed by `make setup`):
every page loads without console errors or external requests, every plot decodes to a non-empty
image, the index sorts when a header is clicked. Screenshots are kept in the pytest tmp dir
(path printed), or in $RIFTDRILL_ARTIFACTS when set."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from riftdrill.redact import PATTERNS_ONLY
from riftdrill.report.browser import Browser, check_page
from riftdrill.report.compare import build_compare, write_compare
from riftdrill.report.cost import load_prices
from riftdrill.report.render import render_all
from riftdrill.report.runs import load_run
from tests.fixtures.report.build import build_results

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> Path:
    res = tmp_path_factory.mktemp("results")
    runs = build_results(res)
    write_compare(build_compare("sever-engines", [load_run(r) for r in runs]), res, PATTERNS_ONLY)
    render_all(res, load_prices(ROOT / "prices.yaml"))
    return res


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with Browser() as b:
        yield b


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    env = os.environ.get("RIFTDRILL_ARTIFACTS")
    out = Path(env) if env else tmp_path_factory.mktemp("screenshots")
    out.mkdir(parents=True, exist_ok=True)
    print(f"report screenshots: {out}")
    return out


def test_every_page_loads_clean_with_plots(results: Path, browser: Browser, shots: Path) -> None:
    pages = [results / "index.html", *sorted(results.glob("*/*/report.html"))]
    assert len(pages) == 4  # index, two runs, one comparison
    for page in pages:
        check = check_page(browser, page, shots / f"{page.parent.name}.png")
        assert check.console_errors == [], (page, check.console_errors)
        assert check.external == [], (page, check.external)
        assert check.tables >= 1
        if page.name == "report.html":
            assert check.images, page
        for img in check.images:
            assert img["complete"] and img["width"] >= 400 and img["height"] >= 100, (page, img)
        assert check.screenshot is not None and check.screenshot.stat().st_size > 10_000
    run_page = check_page(browser, results / "runs" / "20260528T212710Z-sever-link-lossy" /
                          "report.html")
    assert {i["id"] for i in run_page.images} == {"plot-timeline", "plot-percentiles", "plot-lag",
                                                  "plot-verify"}


def test_index_sorts_on_header_click(results: Path, browser: Browser) -> None:
    browser.open(results / "index.html")
    lost_col = "Array.from(document.querySelectorAll('#runs th')).findIndex(t => t.textContent == 'lost')"
    column = (f"Array.from(document.querySelectorAll('#runs tbody tr'))"
              f".map(r => r.cells[{lost_col}].textContent).join(',')")
    click = f"document.querySelectorAll('#runs th')[{lost_col}].click()"
    browser.evaluate(click)
    assert browser.evaluate(column) == "0,5"
    browser.evaluate(click)
    assert browser.evaluate(column) == "5,0"
    assert browser.console_errors() == []


def test_the_check_sees_errors_and_broken_plots(tmp_path: Path, browser: Browser) -> None:
    """The check is not vacuous: a script error, a console.error and an undecodable plot show."""
    page = tmp_path / "bad.html"
    page.write_text('<!DOCTYPE html><html><head><link rel="icon" href="data:,"><title>bad</title>'
                    '</head><body><img class="plot" id="plot-x" src="data:image/png;base64,AAAA">'
                    '<script>console.error("boom"); undefinedFunction();</script></body></html>')
    check = check_page(browser, page)
    assert any("boom" in e for e in check.console_errors)
    assert any("undefinedFunction" in e for e in check.console_errors)
    assert check.images == [{"id": "plot-x", "complete": True, "width": 0, "height": 0}]


def test_chromium_is_installed_by_setup() -> None:
    assert shutil.which("chromium") or Path("/usr/bin/chromium").exists(), (
        "chromium missing: make setup runs scripts/setup/browser.sh")


def test_the_timeline_draws_one_series_per_cloud_and_shades_the_fault(results: Path,
                                                                       browser: Browser) -> None:
    """In the page as a reader sees it: the timeline's clouds and fault window (data-*), and its
    pixels: the shaded window and each cloud's colour are drawn."""
    from riftdrill.report.browser import blend, plot_pixels, rgb
    from riftdrill.report.plots import CLOUD_COLORS, FAULT_ALPHA, FAULT_COLOR

    browser.open(results / "runs" / "20260528T212710Z-sever-link-lossy" / "report.html")
    assert browser.evaluate("document.querySelector('section.headline h2').textContent") == (
        "Headline")
    out = plot_pixels(browser, "plot-timeline", {
        "shade": blend(FAULT_COLOR, FAULT_ALPHA), "aws": rgb(CLOUD_COLORS["aws"]),
        "gcp": rgb(CLOUD_COLORS["gcp"])})
    assert out is not None
    assert out["data"] == {"x": "seconds from fault start", "series": "aws,gcp",
                           "faultWindows": "0.000:15.000"}
    counts = out["counts"]
    assert counts["shade"] > 5000, counts  # three panels' 15 s of shading
    assert counts["aws"] > 300 and counts["gcp"] > 300, counts
    assert plot_pixels(browser, "plot-nothing", {"x": (0, 0, 0)}) is None
