"""The terminal summary's pieces: the compact table, wrapping, and the one word for a pair
without a gate (also in reports written before that word)."""

from __future__ import annotations

import json
import shlex
import subprocess
from pathlib import Path

from pair_reports import librispeech_meta, scored, write_pair

from audiogate.results.report import LEGACY_STATUS, Row
from audiogate.results.terminal import LEGEND, WIDTH, compact_table, wrap

LONG_MODEL = "whisper-tiny.en-int8-greedy-release-candidate-2026-01-18-from-the-nightly-build"


def _row(tmp_path: Path, references: list[tuple[str, str]], model: str, status: str) -> Row:
    records = scored("librispeech-test-other", [(i, ref, ref) for i, ref in references[:5]],
                     librispeech_meta)
    row = write_pair(tmp_path / model, records, model=model, status=status).row
    row.result.dataset = "librispeech-test-other-and-a-much-longer-name-than-any-registered-one"
    return row


def test_compact_table_fits_with_names_longer_than_a_line(tmp_path: Path,
                                                          references: list[tuple[str, str]]
                                                          ) -> None:
    rows = [_row(tmp_path, references, LONG_MODEL, "fail"),
            _row(tmp_path, references, "whisper-tiny.en", "not gated")]
    lines = compact_table(rows)
    assert all(len(line) <= WIDTH for line in lines), "\n".join(lines)
    text = "\n".join(lines)
    assert LONG_MODEL in text and rows[0].result.dataset in text  # whole, never cut
    assert "  NOT GATED  " in text and "  FAIL  " in text
    assert len(LEGEND) <= WIDTH


def test_a_wrapped_command_still_pastes_as_one(tmp_path: Path) -> None:
    folder = tmp_path / "a-folder-with-a-long-name"
    folder.mkdir()
    files = [folder / f"file-{n}.txt" for n in range(6)]
    command = shlex.join(["touch", *map(str, files)])
    lines = wrap(f"no recorded threshold; record it with `{command}` once it runs",
                 first="NOT GATED some-model/some-dataset: ")
    assert len(lines) > 1 and all(len(line) <= WIDTH for line in lines)
    pasted = "\n".join(lines).split("`")[1]  # what a person selects and pastes
    subprocess.run(["bash", "-c", pasted], check=True)
    assert all(f.is_file() for f in files)


def test_wrap_keeps_a_texts_own_lines_and_their_indent() -> None:
    lines = wrap("regressed: WER 9.00 > max 4.00\nworst regressed utterances:\n  u1 +2 error(s)",
                 first="FAIL m/d: ")
    assert lines == ["FAIL m/d: regressed: WER 9.00 > max 4.00",
                     "    worst regressed utterances:", "      u1 +2 error(s)"]


def test_old_reports_saying_ungated_read_as_not_gated(tmp_path: Path,
                                                      references: list[tuple[str, str]]
                                                      ) -> None:
    row = _row(tmp_path, references, "whisper-tiny.en", "not gated")
    old = json.loads(json.dumps(row.to_json()).replace('"not gated"', '"ungated"'))
    assert old["status"] == "ungated"
    assert Row.from_json(old).status == "not gated" == LEGACY_STATUS["ungated"]
