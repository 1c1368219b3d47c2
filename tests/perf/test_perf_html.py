"""Benchmark: the HTML report for a 10,000-utterance pair (reported, never asserted on time).

The pair is built from the 42 real test-other references cycled under new ids, with one
random edit per hypothesis, against a baseline edited with another seed, so thousands of
utterances changed (the page's worst case: every changed one carries both alignments).
Reports the seconds `write_html` takes and the file size, which must stay under 10 MB;
then, in the real headless browser when there is one, how long the page takes to open,
filter, sort and turn a page.

Run: .venv/bin/pytest tests/perf/test_perf_html.py --run-perf -q -s
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from pair_reports import META, synthetic, write_pair

from audiogate.results.html import write_html

N = 10_000
MAX_BYTES = 10 * 1024 * 1024


def test_html_for_10000_utterances(tmp_path: Path, references: list[tuple[str, str]],
                                   request: Any) -> None:
    cand, base = synthetic(references, N, seed=0), synthetic(references, N, seed=1)
    written = write_pair(tmp_path / "big", cand, baseline=base)
    chart = written.folder / "audiogate-report.svg"
    started = time.perf_counter()
    page = write_html([written.row], written.folder, META, chart)
    seconds = time.perf_counter() - started
    size = page.stat().st_size
    print(f"\nHTML for {N:,} utterances: {seconds:.2f} s to write, {size / 2**20:.2f} MiB "
          f"(limit {MAX_BYTES / 2**20:.0f} MiB)")
    assert size < MAX_BYTES

    from browser_support import browser_paths

    if None in browser_paths():
        print("no chromium: browser timings skipped")
        return
    browser = request.getfixturevalue("browser")
    _browser_timings(browser, page, written.row.result.pair_id, cand[4321].id)


def _browser_timings(browser: Any, page: Path, pair: str, target: str) -> None:
    """Wall time to open; then each interaction timed inside the page (performance.now()
    around the synchronous click handler / list update, no WebDriver round trip)."""
    from selenium.webdriver.support.ui import WebDriverWait

    started = time.perf_counter()
    browser.get(page.as_uri())
    WebDriverWait(browser, 120, poll_frequency=0.01).until(
        lambda d: d.find_element("tag name", "body").get_attribute("data-ready") == "1")
    opened = time.perf_counter() - started
    timings = browser.execute_script("""
        const section = document.querySelector(`section.pair[data-pair="${arguments[0]}"]`);
        const list = section.querySelector("div.utts").audiogate;
        const time = (f) => { const t = performance.now(); f(); return performance.now() - t; };
        const click = (css) => () => section.querySelector(css).click();
        const out = {};
        out["all 10,000 view"] = time(click('button[data-view="all"]'));
        out["sort by id"] = time(click('th[data-key="id"]'));
        out["sort by WER"] = time(click('th[data-key="rate"]'));
        out["next page"] = time(click("button.next"));
        out["filter by a word"] = time(() => { list.filter = "the"; list.update(); });
        out["filter to one id"] = time(() => { list.filter = arguments[1]; list.update(); });
        out.rows = section.querySelectorAll("tr.utt").length;
        out.count = section.querySelector(".shown").getAttribute("data-count");
        return out;""", pair, target.lower())
    rows, count = timings.pop("rows"), timings.pop("count")
    assert (rows, count) == (1, "1")  # the filter found the one id
    order = ["all 10,000 view", "sort by id", "sort by WER", "next page", "filter by a word",
             "filter to one id"]
    print(f"browser: opened in {opened:.2f} s; "
          + ", ".join(f"{k} {timings[k]:.0f} ms" for k in order))
