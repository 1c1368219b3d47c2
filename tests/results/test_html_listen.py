"""Listening in the HTML report: the produced speech of the worst and the regressed
utterances (and an ASR pair's input clips) are copied beside the report, a bounded number
whatever the pair's size, and linked relatively next to their texts; a clip that is not
on this machine is said, not linked."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
from pair_reports import edit, scored, write_pair

from audiogate.engines.speech_audio import produced, wav_bytes
from audiogate.registry import load as registry
from audiogate.results.audio_store import AudioStore
from audiogate.results.listen import MAX_REGRESSED, MAX_WORST
from audiogate.scoring.pair import Outcome, SampleRecord, score

TEXTS = ["HE COULD WAIT NO LONGER", "STUFF IT INTO YOU HIS BELLY COUNSELLED HIM",
         "FOR A FULL HOUR HE HAD PACED UP AND DOWN WAITING"]


def _tts_records(folder: Path, n: int, kinds: list[str]) -> list[SampleRecord]:
    """``n`` text-to-speech samples, each with a clip of its own kept in ``folder`` and a
    judge transcript edited as ``kinds`` says."""
    store = AudioStore(folder)
    rng = np.random.default_rng(0)
    outcomes = []
    for k in range(n):
        clip = store.keep(produced(wav_bytes(
            (0.05 * rng.standard_normal(800)).astype(np.float32), 16_000), "wav"))
        text = TEXTS[k % len(TEXTS)]
        heard = edit(text.lower(), kinds[k % len(kinds)], k % 4)
        outcomes.append(Outcome(f"1089-134686-{k:04d}", text, None, heard, heard, None,
                                speech={"audio": clip.to_json(), "judge": "whisper-tiny.en",
                                        "transcript": heard, "metrics": {"dnsmos": 3.0}}))
    return score(registry.dataset("tts-ls-test-clean"), outcomes)[1]


def _page(folder: Path) -> tuple[str, dict[str, dict[str, object]]]:
    html = (folder / "audiogate-report.html").read_text(encoding="utf-8")
    data = json.loads(re.search(r'<script type="application/json" id="data-1">(.*?)</script>',
                                html, re.S).group(1))  # type: ignore[union-attr]
    return html, {u["i"]: u for u in data["utts"]}


def test_a_large_pair_links_a_bounded_set_of_clips(tmp_path: Path) -> None:
    records = _tts_records(tmp_path / "store-audio", 200, ["none", "sub", "none", "ins"])
    baseline = _tts_records(tmp_path / "base-audio", 200, ["none"])
    report = tmp_path / "report"
    written = write_pair(report, records, baseline=baseline, model="espeak-en",
                         dataset="tts-ls-test-clean")
    html, utts = _page(report)
    linked = {i: u["a"] for i, u in utts.items() if "a" in u}
    copied = sorted((report / "audio").iterdir())
    assert 0 < len(linked) <= MAX_WORST + MAX_REGRESSED
    assert len(copied) == len(set(linked.values()))
    assert all(re.fullmatch(r"audio/[0-9a-f]{64}\.wav", str(a)) for a in linked.values())
    assert all((report / str(a)).is_file() for a in linked.values())
    # the regressed (vs the baseline, worst first) and the worst utterances are the linked
    assert written.row.baseline is not None
    worst = sorted(utts, key=lambda i: (-utts[i]["e"] / utts[i]["n"], i))[:MAX_WORST]
    regressed = sorted((i for i in utts if "k" in utts[i] and utts[i]["e"] > utts[i]["b"]),
                       key=lambda i: utts[i]["k"])[:MAX_REGRESSED]
    assert set(linked) == set(worst) | set(regressed)
    assert "data:audio" not in html and len(html) < 400_000


def test_an_asr_pairs_input_clips_and_a_missing_clip(tmp_path: Path,
                                                     shared_data: Path) -> None:
    root = shared_data / "LibriSpeech" / "test-clean" / "1089" / "134686"
    items = [(f"1089-134686-000{k}", "HE COULD WAIT NO LONGER", "he could wait no more")
             for k in range(3)]
    records = scored("librispeech-test-clean", items)
    records[0].audio_path = str(root / "1089-134686-0000.flac")
    records[1].audio_path = str(root / "1089-134686-0001.flac")
    records[2].audio_path = str(tmp_path / "gone.flac")
    report = tmp_path / "report"
    write_pair(report, records, dataset="librispeech-test-clean")
    html, utts = _page(report)
    assert utts["1089-134686-0000"]["in"] != utts["1089-134686-0001"]["in"]
    assert str(utts["1089-134686-0000"]["in"]).endswith(".flac")
    assert (report / str(utts["1089-134686-0000"]["in"])).read_bytes() == \
        (root / "1089-134686-0000.flac").read_bytes()
    assert "in" not in utts["1089-134686-0002"] and "a" not in utts["1089-134686-0000"]
    assert "1 clip(s) to listen to are not on this machine" in html
    assert str(tmp_path / "gone.flac") in html
