"""A failing gate's message ends with the three worst regressed utterances (a CI log alone
is enough to start), end to end through the plugin with the replay engine on the real
LibriSpeech test-other slice; the HTML report lists the same utterances first."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

PAIR = "replay/librispeech-test-other"


def predictions(shared_data: Path, path: Path, damage: dict[int, int]) -> list[str]:
    """The references as predictions; utterance i gets damage[i] words reversed."""
    ids, lines = [], []
    for trans in sorted((shared_data / "LibriSpeech" / "test-other").glob("*/*/*.trans.txt")):
        for line in trans.read_text().splitlines():
            utt, _, text = line.partition(" ")
            words = text.split()
            for k in range(damage.get(len(ids), 0)):
                words[k] = words[k][::-1] + "x"
            ids.append(utt)
            lines.append(json.dumps({"id": utt, "prediction": " ".join(words)}))
    path.write_text("\n".join(lines) + "\n")
    return ids


def test_failure_message_ends_with_the_three_worst_regressions(project: pytest.Pytester,
                                                               shared_data: Path) -> None:
    args = ["-k", "test-other", "--model=replay", f"--data-root={shared_data}", "--no-store",
            "-p", "no:cacheprovider", "--bootstrap-resamples=200"]
    base = project.path / "base.jsonl"
    predictions(shared_data, base, {})
    project.runpytest(*args, f"--predictions={base}", "--update-thresholds"
                      ).assert_outcomes(passed=1)
    baseline = project.path / "baselines" / "replay" / "librispeech-test-other.jsonl"
    assert all("hypothesis" in json.loads(x) for x in baseline.read_text().splitlines())
    worse = project.path / "worse.jsonl"
    ids = predictions(shared_data, worse, {4: 1, 9: 4, 17: 2, 30: 3})
    result = project.runpytest(*args, f"--predictions={worse}")
    result.assert_outcomes(failed=1)
    out = result.stdout.str()
    message = out.split(f"{PAIR}: regressed: WER")[1].split("====")[0]
    lines = message.strip().splitlines()
    assert lines[1] == ("worst regressed utterances vs the baseline (4 worse, 0 better, "
                        "38 unchanged):")
    heads = [line.strip() for line in lines[2:] if not line.startswith("    ")]
    assert heads == [
        f"{ids[9]} +4 error(s) (0 → 4 of {_tokens(baseline, ids[9])}) "
        f"[speaker {ids[9].split('-')[0]}, chapter {ids[9].split('-')[1]}]",
        f"{ids[30]} +3 error(s) (0 → 3 of {_tokens(baseline, ids[30])}) "
        f"[speaker {ids[30].split('-')[0]}, chapter {ids[30].split('-')[1]}]",
        f"{ids[17]} +2 error(s) (0 → 2 of {_tokens(baseline, ids[17])}) "
        f"[speaker {ids[17].split('-')[0]}, chapter {ids[17].split('-')[1]}]"]
    assert ids[4] not in message  # only the three worst
    this_run = [line for line in lines if line.strip().startswith("this run:")]
    assert len(re.findall(r"\[sub: \w+→\w+x\]", this_run[0])) == 4
    assert out.count("worst regressed utterances vs the baseline") == 1  # said once
    assert f"  FAIL       {PAIR.split('/')[1]}" in out  # the summary's table row
    report = json.loads((project.path / "reports" / "audiogate-report.json").read_text())
    assert report["rows"][0]["reason"].endswith(this_run[-1].rstrip())
    assert report["rows"][0]["baseline"] == str(baseline)
    page = (project.path / "reports" / "audiogate-report.html").read_text()
    data = json.loads(re.findall(r'<script type="application/json" id="data-1">(.*?)</script>',
                                 page, re.S)[0])
    ranked = sorted((u for u in data["utts"] if "k" in u), key=lambda u: u["k"])
    assert [u["i"] for u in ranked] == [ids[9], ids[30], ids[17], ids[4]]


def _tokens(baseline: Path, utt: str) -> int:
    for line in baseline.read_text().splitlines():
        row = json.loads(line)
        if row["id"] == utt:
            return int(row["ref_tokens"])
    raise AssertionError(utt)
