"""The HTML report in a real browser: Debian's chromium driven by Playwright, the page opened from ``file://``
and from a local static server (``http.server``).

Records: the committed reference record (SST-2, standard × PWWS) plus a tiny real grid run here (SST-2 and
SNLI, standard × {PWWS, DeepWordBug} × seeds 0–1, with USE similarity). Every expected value below is computed
directly from the record files (JSON / JSONL, the paper's CSV), not through the report code.

Chromium: ``.ci/run`` installs it (apt-get) and sets ``RIFT_BENCH_REQUIRE_BROWSER=1``, so in CI a missing
browser fails the test. Elsewhere (a developer machine without ``/usr/bin/chromium``) the test is skipped with
the command that installs it. Playwright's own browser download is never used.
"""

from __future__ import annotations

import csv
import functools
import http.server
import json
import os
import shutil
import statistics
import threading
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest

from bench.cli import main

REPO = Path(__file__).resolve().parent.parent
# the standard × PWWS slice of the committed reference records (one record), kept at its place in a results folder
REFERENCE_SLICE = Path("sst2") / "minilm-l6" / "standard" / "pwws"
REFERENCE = REPO / "results" / "reference" / "records" / REFERENCE_SLICE
PAPER_CSV = REPO / "results" / "paper" / "dong2021_accuracy_under_attack.csv"
CHROMIUM = Path("/usr/bin/chromium")
# a closed network: no background fetches, updates, sync or first-run pages
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run"]
TINY = ["--set", "n_train=64", "--set", "n_dev=16", "--set", "n_test=8", "--set", "epochs=1"]
HOSTILE = '<img src=x onerror="window.__pwned=1"><script>window.__pwned=1</script>'


def _required() -> bool:
    return bool(os.environ.get("RIFT_BENCH_REQUIRE_BROWSER") or os.environ.get("CI"))


def _unavailable(reason: str):
    message = (f"{reason}: the browser test needs Debian's chromium (`apt-get install -y chromium`, "
               "/usr/bin/chromium) and the Python package playwright (the `test` extra)")
    if _required():
        pytest.fail(message + " — required here (CI / RIFT_BENCH_REQUIRE_BROWSER)", pytrace=False)
    pytest.skip(message)


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    """A chromium context with a fresh profile, launched from /usr/bin/chromium."""
    if not CHROMIUM.exists():
        _unavailable(f"{CHROMIUM} is missing")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("playwright is not installed")
    profile = tmp_path_factory.mktemp("chromium-profile")
    with sync_playwright() as p:
        context = p.chromium.launch_persistent_context(str(profile), executable_path=str(CHROMIUM), headless=True,
                                                       args=FLAGS, viewport={"width": 1400, "height": 1000})
        yield context
        context.close()


def _read_records(results: Path) -> list[tuple[dict, Path]]:
    return [(json.loads(p.read_text()), p) for p in sorted(results.rglob("*.json")) if not p.name.endswith(".failed.json")]


def _examples(record_file: Path) -> list[dict]:
    return [json.loads(line) for line in record_file.with_suffix(".examples.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    """results/ (the reference record, copied, plus a tiny real grid) and site/ = `bench report --format html`."""
    root = tmp_path_factory.mktemp("browser")
    results = root / "results"
    shutil.copytree(REFERENCE, results / REFERENCE_SLICE)
    argv = ["run", "--datasets", "sst2", "snli", "--models", "minilm-l6", "--methods", "standard", "--attacks", "pwws",
            "deepwordbug", "--seeds", "0", "1", "--scale", "smoke", *TINY, "--similarity", "--results", str(results),
            "--cache", str(root / "cache")]
    assert main(argv) == 0
    assert main(["report", "--format", "html", "--results", str(results), "--compare", "paper",
                 "--out", str(root / "site")]) == 0
    return root


def _groups(results: Path) -> dict[tuple, list[dict]]:
    """Records grouped like leaderboard entries: (dataset, model, scale + overrides, method)."""
    out: dict[tuple, list[dict]] = {}
    for record, _ in _read_records(results):
        cell = record["cell"]
        key = (cell["dataset"], cell["model"], cell["scale"], json.dumps(sorted(cell["overrides"])), cell["method"])
        out.setdefault(key, []).append(record)
    return out


def _mean(values: list[float]) -> float:
    return statistics.mean(values)


class Watch:
    """Console errors, page errors, failed requests and every requested URL of a page."""

    def __init__(self, page):
        self.errors: list[str] = []
        self.urls: list[str] = []
        page.on("console", lambda m: self.errors.append(f"console: {m.text}") if m.type == "error" else None)
        page.on("pageerror", lambda e: self.errors.append(f"page error: {e}"))
        page.on("requestfailed", lambda r: self.errors.append(f"request failed: {r.url}"))
        page.on("request", lambda r: self.urls.append(r.url))


def _check_loaded(page, watch: Watch, origin: str) -> None:
    assert watch.errors == [], watch.errors
    outside = [u for u in watch.urls if not u.startswith((origin, "data:"))]
    assert watch.urls and outside == [], outside
    images = page.eval_on_selector_all("img", "els => els.map(e => [e.getAttribute('src'), e.complete, e.naturalWidth])")
    assert images and all(done and width > 0 for _, done, width in images), images


def _ids(path: Path, cache: dict) -> set[str]:
    if path not in cache:
        import re

        cache[path] = set(re.findall(r'\bid="?([^"\s>]+)', path.read_text(encoding="utf-8")))
    return cache[path]


def _check_links(page, cache: dict) -> int:
    """Every link is relative and resolves: the file exists, and a #fragment names an element of its page."""
    here = Path(unquote(urlparse(page.url).path))
    hrefs = page.eval_on_selector_all("a[href]", "els => els.map(e => [e.getAttribute('href'), e.href])")
    for raw, absolute in hrefs:
        assert "://" not in raw and not raw.startswith("//"), f"not an internal link: {raw}"
        url = urlparse(absolute)
        target = Path(unquote(url.path))
        assert target.exists(), f"{raw} (from {here.name}) → {target} does not exist"
        if url.fragment:
            assert url.fragment in _ids(target, cache), f"{raw}: no element with id {url.fragment!r} in {target.name}"
    return len(hrefs)


def _column(page, header: str) -> int:
    heads = page.eval_on_selector_all("#leaderboard thead th", "els => els.map(e => e.textContent.trim())")
    return next(i for i, h in enumerate(heads) if h.startswith(header))


def _visible_values(page, index: int) -> list[float | None]:
    return page.eval_on_selector_all(
        "#leaderboard tbody tr:not([hidden])",
        f"rows => rows.map(r => r.cells[{index}].hasAttribute('data-value') ? parseFloat(r.cells[{index}].dataset.value) : null)")


def test_report_in_a_real_browser(browser, site):  # browser first: a missing browser stops before the grid runs
    results, out = site / "results", site / "site"
    shots = Path(os.environ.get("RIFT_BENCH_SCREENSHOTS") or site / "screenshots")
    shots.mkdir(parents=True, exist_ok=True)
    groups = _groups(results)
    ids: dict = {}

    page = browser.new_page()
    watch = Watch(page)
    page.goto((out / "index.html").as_uri())
    _check_loaded(page, watch, "file://")
    assert _check_links(page, ids) > len(groups)
    rows = page.locator("#leaderboard tbody tr")
    assert rows.count() == len(groups) == 3

    # the numbers: mean ± std over seeds of the records' values, computed here from the JSON
    snli = next(g for k, g in groups.items() if k[0] == "snli")
    pwws = [100 * r["metrics"]["accuracy_under_attack"] for r in snli if r["cell"]["attack"] == "pwws"]
    expected = f"{_mean(pwws):.1f} ± {statistics.stdev(pwws):.1f}"
    snli_row = page.locator('#leaderboard tbody tr[data-dataset="snli"]')
    assert expected in snli_row.locator("td").nth(_column(page, "PWWS (%)")).inner_text()

    # sorting: clean accuracy, high to low on the first click, then low to high
    clean = _column(page, "Clean")
    per_group = sorted(_mean([_mean([100 * r["metrics"]["clean_accuracy"] for r in g if r["cell"]["seed"] == s])
                              for s in {r["cell"]["seed"] for r in g}]) for g in groups.values())
    header = page.locator("#leaderboard thead th").nth(clean)
    header.click()
    assert header.get_attribute("aria-sort") == "descending"
    assert _visible_values(page, clean) == pytest.approx(per_group[::-1], abs=1e-4)
    header.click()
    assert _visible_values(page, clean) == pytest.approx(per_group, abs=1e-4)
    # a column with a missing value (the reference cell has no DeepWordBug run): missing sorts last both ways
    dwb = _column(page, "DeepWordBug (%)")
    page.locator("#leaderboard thead th").nth(dwb).click()
    values = _visible_values(page, dwb)
    assert values[-1] is None and values[:-1] == sorted(values[:-1], reverse=True)
    page.locator("#leaderboard thead th").nth(dwb).click()
    values = _visible_values(page, dwb)
    assert values[-1] is None and values[:-1] == sorted(values[:-1])
    # text column: method/dataset names A→Z
    page.locator("#leaderboard thead th").nth(0).click()
    names = page.eval_on_selector_all("#leaderboard tbody tr", "rs => rs.map(r => r.cells[0].textContent)")
    assert names == sorted(names, key=str.lower)

    # filters: a dataset hides the other dataset's rows; an attack hides rows and columns without it
    page.select_option('select[data-filter="dataset"]', "snli")
    visible = page.locator("#leaderboard tbody tr:not([hidden])")
    assert visible.count() == sum(k[0] == "snli" for k in groups) == 1
    assert visible.first.get_attribute("data-dataset") == "snli"
    assert "1 of 3 entries shown" in page.inner_text('[data-count="leaderboard"]')
    page.select_option('select[data-filter="dataset"]', "")
    page.select_option('select[data-filter="attack"]', "deepwordbug")
    assert page.locator("#leaderboard tbody tr:not([hidden])").count() == 2  # the reference row has no DeepWordBug
    assert not page.locator("#leaderboard thead th").nth(_column(page, "PWWS (%)")).is_visible()
    page.select_option('select[data-filter="attack"]', "")

    # the paper's numbers, from its CSV, appear beside ours only when toggled
    with PAPER_CSV.open() as f:
        paper = next(r for r in csv.DictReader(f) if (r["dataset"], r["model"], r["method"], r["attack"])
                     == ("snli", "bert-base-uncased", "standard", "pwws"))
    paper_cell = snli_row.locator("td.paper").first
    assert not paper_cell.is_visible()
    page.check('input[data-toggle="paper"]')
    assert paper_cell.is_visible() and paper_cell.inner_text().startswith(f"{float(paper['mean']):.1f} ± ")
    page.screenshot(path=str(shots / "leaderboard.png"))  # the top of the first page: the leaderboard
    page.screenshot(path=str(shots / "index-full.png"), full_page=True)
    page.uncheck('input[data-toggle="paper"]')

    # an example page, reached by the leaderboard's link for SST-2 (reference row) under PWWS, seed 0
    ref_row = page.locator('#leaderboard tbody tr[data-dataset="sst2"]').filter(has_text="n_train=128")
    ref_row.locator("td").nth(_column(page, "PWWS (%)")).locator("a", has_text="s0").click()
    page.wait_for_load_state()
    _check_loaded_example(page, watch, ids, shots, next(p for r, p in _read_records(results)
                                                          if r["cell_id"] == _reference_id()))

    # the same folder served by a static file server (python -m http.server), from its parent folder
    _served(browser, site)
    page.close()


def _check_loaded_example(page, watch: Watch, ids: dict, shots: Path, record_file: Path) -> None:
    watch.errors.clear()
    assert page.url.endswith(f"examples/{record_file.stem}.html")
    _check_links(page, ids)
    assert watch.errors == [] and all(u.startswith(("file://", "data:")) for u in watch.urls)
    rows = _examples(record_file)
    boxes = page.locator("#examples .ex")
    assert boxes.count() == len(rows)

    # the first success: removed words struck out, substitutes marked, in the order of the changes
    success = sorted((r for r in rows if r["status"] == "success"), key=lambda r: r["uid"])[0]
    box = page.locator(f'#examples .ex[id="{success["uid"]}"]')
    changes = sorted(success["changes"], key=lambda c: c["index"])
    assert box.locator("del").all_inner_texts() == [c["original"] for c in changes]
    assert box.locator("ins").all_inner_texts() == [c["substitute"] for c in changes]
    # the texts shown are the stored texts, character for character (up to spacing at the ends)
    for selector, key in ((".orig", "original"), (".adv", "adversarial")):
        shown = box.locator(selector).inner_text().split(":", 1)[1]
        assert " ".join(shown.split()) == " ".join(success[key].split())
    assert box.locator("del").first.evaluate("e => getComputedStyle(e).textDecorationLine") == "line-through"
    probs = box.locator("table.probs").inner_text()
    assert all(f"{p:.3f}" in probs for p in success["original_probs"] + success["final_probs"])

    # filter by status
    page.select_option('select[data-filter="status"]', "failed")
    shown = page.locator("#examples .ex:not([hidden])")
    assert shown.count() == sum(r["status"] == "failed" for r in rows) > 0
    assert set(shown.evaluate_all("els => els.map(e => e.dataset.status)")) == {"failed"}
    page.select_option('select[data-filter="status"]', "")
    # sort by queries, most first: the order of the JSONL's query counts
    page.select_option("select[data-sort-key]", "queries")
    page.check("input[data-sort-descending]")
    order = page.locator("#examples .ex").evaluate_all("els => els.map(e => e.id)")
    queries = {r["uid"]: r["queries"] for r in rows}
    assert [queries[u] for u in order] == sorted(queries.values(), reverse=True)
    page.uncheck("input[data-sort-descending]")
    page.select_option("select[data-sort-key]", "")
    page.screenshot(path=str(shots / "examples.png"), full_page=False)


def _served(browser, root: Path) -> None:
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args) -> None:
            pass

    handler = functools.partial(Quiet, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        origin = f"http://127.0.0.1:{server.server_address[1]}/"
        page = browser.new_page()
        watch = Watch(page)
        page.goto(origin + "site/index.html")
        _check_loaded(page, watch, origin)
        header = page.locator("#leaderboard thead th").nth(_column(page, "Clean"))
        header.click()  # the script is loaded and runs
        assert header.get_attribute("aria-sort") == "descending"
        page.locator('#leaderboard a[href^="examples/"]').first.click()
        page.wait_for_load_state()
        assert "/site/examples/" in page.url and page.locator("#examples .ex").count() > 0
        assert watch.errors == []
        page.close()
    finally:
        server.shutdown()
        server.server_close()


def test_markup_in_example_text_is_shown_as_text(browser, tmp_path):
    """Adversarial text may contain markup: it is displayed literally, never parsed (a test-fixture copy of the
    reference record whose first example gets markup appended to both texts)."""
    results = tmp_path / "results"
    shutil.copytree(REFERENCE, results / REFERENCE_SLICE)
    (record, path), = _read_records(results)
    rows = _examples(path)
    target = next(r for r in rows if r["status"] == "success")
    target["original"] += HOSTILE
    target["adversarial"] += HOSTILE
    path.with_suffix(".examples.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert main(["report", "--format", "html", "--results", str(results), "--out", str(tmp_path / "site")]) == 0
    page = browser.new_page()
    watch = Watch(page)
    page.goto((tmp_path / "site" / "examples" / f"{path.stem}.html").as_uri())
    box = page.locator(f'#examples .ex[id="{target["uid"]}"]')
    assert HOSTILE in box.locator(".orig").inner_text() and HOSTILE in box.locator(".adv").inner_text()
    assert box.locator("img, script").count() == 0
    assert page.evaluate("window.__pwned") is None
    assert watch.errors == [] and all(u.startswith(("file://", "data:")) for u in watch.urls)
    page.close()


def _reference_id() -> str:
    (record,) = [json.loads(p.read_text()) for p in REFERENCE.glob("*.json")]
    return record["cell_id"]
