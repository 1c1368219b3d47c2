"""`audiogate report diff A B` as a user runs it: the real command, into a pipe (CI logs:
plain markers) and into a pseudo-terminal (colour, unless NO_COLOR)."""

from __future__ import annotations

import os
import pty
import re
import subprocess
import sys
from pathlib import Path

from pair_reports import write_pair

from audiogate.results.compare import compare, from_records
from audiogate.scoring.pair import SampleRecord

ANSI = re.compile(r"\x1b\[[0-9;]*m")


def diff(*args: str, tty: bool = False, env: dict[str, str] | None = None) -> str:
    cmd = [sys.executable, "-m", "audiogate.cli", "report", "diff", *args]
    environment = {k: v for k, v in os.environ.items() if k != "NO_COLOR"} | (env or {})
    if not tty:
        proc = subprocess.run(cmd, capture_output=True, text=True, env=environment, check=False)
        assert proc.returncode == 0, proc.stderr
        return proc.stdout
    master, slave = pty.openpty()
    child = subprocess.Popen(cmd, stdout=slave, stderr=subprocess.PIPE, env=environment)
    os.close(slave)
    chunks = []
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(master)
    assert child.wait(timeout=60) == 0, child.stderr.read() if child.stderr else ""
    return b"".join(chunks).decode("utf-8").replace("\r\n", "\n")


def test_diff_of_two_folders_plain_in_a_pipe(tmp_path: Path, regression: tuple[
        list[SampleRecord], list[SampleRecord]]) -> None:
    base, cand = regression
    write_pair(tmp_path / "before", base, status="pass")
    write_pair(tmp_path / "after", cand)
    out = diff(str(tmp_path / "before"), str(tmp_path / "after"), "--top", "3")
    assert not ANSI.search(out)
    expected = compare(from_records(base, "wer"), from_records(cand, "wer"))
    assert "== whisper-tiny.en/librispeech-test-other: WER " in out
    assert (f"{len(expected.regressions)} worse, {len(expected.improvements)} better, "
            f"{expected.unchanged} unchanged") in out
    listed = re.findall(r"^(\d+)\. (\S+) \+(\d+) error", out, re.M)
    assert [(n, i) for n, i, _ in listed] == [
        (str(k), c.id) for k, c in enumerate(expected.regressions[:3], start=1)]
    assert [int(d) for _, _, d in listed] == [3, 2, 2]
    worst = expected.regressions[0].id
    block = out.split(f"1. {worst}")[1].split("\n2. ")[0]
    a_line, b_line = [x.strip() for x in block.splitlines()[1:3]]
    assert a_line.startswith("A: ") and "[" not in a_line  # the baseline had it right
    assert "[ins: umbrella]" in b_line and "→zebra]" in b_line and "[del: " in b_line
    assert "groups (biggest worsening first):" in out
    speaker_header = next(line for line in out.splitlines() if line.startswith("speaker"))
    assert speaker_header.split() == ["speaker", "n", "B", "wer", "A", "wer", "Δ"]


def test_colour_on_a_terminal_unless_no_color(tmp_path: Path, regression: tuple[
        list[SampleRecord], list[SampleRecord]]) -> None:
    base, cand = regression
    w = write_pair(tmp_path / "after", cand, baseline=base)
    assert w.baseline is not None
    coloured = diff(str(w.baseline), str(w.folder), tty=True)
    assert "\x1b[32mumbrella\x1b[0m" in coloured and "\x1b[33m" in coloured
    assert "[ins: umbrella]" not in coloured
    plain = diff(str(w.baseline), str(w.folder), tty=True, env={"NO_COLOR": "1"})
    assert not ANSI.search(plain) and "[ins: umbrella]" in plain


def test_two_baseline_files(tmp_path: Path, regression: tuple[
        list[SampleRecord], list[SampleRecord]]) -> None:
    base, cand = regression
    a = write_pair(tmp_path / "a", base, baseline=base, status="pass").baseline
    b = write_pair(tmp_path / "b", cand, baseline=cand).baseline
    assert a is not None and b is not None
    out = diff(str(a), str(b), "--full")
    assert "6 worse, 1 better" in out
    assert "…" not in out.split("top regressions")[1].split("no utterance")[0]  # --full
    assert "groups" not in out  # baseline files keep no speaker/chapter


def test_runs_that_share_nothing_are_refused(tmp_path: Path, regression: tuple[
        list[SampleRecord], list[SampleRecord]]) -> None:
    base, cand = regression
    write_pair(tmp_path / "a", base[:20], status="pass")
    write_pair(tmp_path / "b", cand[20:])
    write_pair(tmp_path / "other", cand[20:], model="whisper-base",
               dataset="librispeech-test-clean")
    for later, name in (("b", "whisper-tiny.en/librispeech-test-other"),
                        ("other", "whisper-base/librispeech-test-clean")):
        cmd = [sys.executable, "-m", "audiogate.cli", "report", "diff", str(tmp_path / "a"),
               str(tmp_path / later)]
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        assert proc.returncode == 2, proc.stdout + proc.stderr
        assert "no utterance got worse" not in proc.stdout
        assert (f"whisper-tiny.en/librispeech-test-other (A, 20 scored) and {name} (B, 22 "
                "scored) share no utterance: nothing to compare") in proc.stderr
