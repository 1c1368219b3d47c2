"""The bad-input matrix, end to end: every way a user's input can be wrong, on real files.

Each row makes a copy of the real LibriSpeech test-clean slice (6 clips) and breaks it one
way, then runs the gated benchmark in a real pytest process, and checks three things: the
exit status, that the message names the file / line / key, and that every other sample of
the pair is still scored and reported. One store serves every row, a copy of the session's
shared decode of the slices, so only the clip a row changed is transcribed again.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf
import soxr
from decoded_slices import DecodedSlices

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
SLICE = Path("LibriSpeech") / "test-clean"
CONFTEST = 'pytest_plugins = ["audiogate.plugin", "fixtures.gate"]\n'
IDS = ["1089-134686-0000", "1089-134686-0001", "1089-134686-0002", "1089-134691-0000",
       "1089-134691-0001", "1995-1837-0001"]
FINGERPRINT = "f2d755642e8259f3"  # of IDS
BAD = "1089-134686-0001"
TRANS = Path("1089") / "134686" / "1089-134686.trans.txt"
OK, FAILED, USAGE = 0, 1, 4


@dataclass
class Row:
    """One broken input: what to do to the copy, and what the run must say."""

    name: str
    breaks: Callable[[Path], None]
    exit: int
    says: tuple[str, ...]  # fragments the output must hold ({data} = the row's data root)
    broken: tuple[str, ...] = ()  # sample ids that must be errors (the rest are scored)
    args: tuple[str, ...] = ()
    clean_thresholds: bool = True
    not_says: tuple[str, ...] = ()  # fragments that must not appear


def _clip(data: Path, utt: str) -> Path:
    spk, chapter, _ = utt.split("-")
    return data / SLICE / spk / chapter / f"{utt}.flac"


def _rewrite(data: Path, fn: Callable[[bytes], bytes], utt: str = BAD) -> None:
    path = _clip(data, utt)
    path.write_bytes(fn(path.read_bytes()))


def _not_utf8(data: Path) -> None:
    trans = data / SLICE / TRANS
    text = trans.read_text(encoding="utf-8").replace("STUFF IT INTO YOU", "STUFF IT INTO CAFÉ")
    trans.write_bytes(text.encode("latin-1"))


def _crlf(data: Path) -> None:
    for trans in (data / SLICE).glob("*/*/*.trans.txt"):
        trans.write_bytes(trans.read_bytes().replace(b"\n", b"\r\n"))


def _stereo_44k(data: Path) -> None:
    path = _clip(data, BAD)
    mono, rate = sf.read(str(path), dtype="float32")
    wide = soxr.resample(mono, rate, 44_100, quality="HQ")
    sf.write(str(path), np.stack([wide, wide], axis=1), 44_100, subtype="PCM_16",
             format="FLAC")


def _append(data: Path, line: str, trans: Path = TRANS) -> None:
    with (data / SLICE / trans).open("a", encoding="utf-8") as f:
        f.write(line + "\n")


def _same_id_in_two_chapters(data: Path) -> None:
    _append(data, "1089-134686-0001 THE SAME ID IN ANOTHER CHAPTER",
            Path("1089") / "134691" / "1089-134691.trans.txt")


def _same_audio_twice(data: Path) -> None:
    twin = data / SLICE / "1089" / "134691" / f"{BAD}.flac"
    shutil.copyfile(_clip(data, BAD), twin)


def _empty_reference(data: Path) -> None:
    trans = data / SLICE / TRANS
    lines = trans.read_text(encoding="utf-8").splitlines()
    trans.write_text("\n".join(BAD if line.startswith(BAD) else line for line in lines) + "\n",
                     encoding="utf-8")


def _no_folder(data: Path) -> None:
    shutil.rmtree(data / SLICE)


ROWS = [
    Row("truncated-flac", lambda d: _rewrite(d, lambda b: b[: len(b) // 3]), FAILED,
        (f"{{data}}/{SLICE}/1089/134686/{BAD}.flac",), (BAD,)),
    Row("overwritten-bytes", lambda d: _rewrite(d, lambda b: b[:len(b) // 2]
                                                + bytes(range(256)) * 16
                                                + b[len(b) // 2 + 4096:]), FAILED,
        (f"{{data}}/{SLICE}/1089/134686/{BAD}.flac",), (BAD,)),
    Row("zeroed-header", lambda d: _rewrite(d, lambda b: bytes(4096) + b[4096:]), FAILED,
        (f"{{data}}/{SLICE}/1089/134686/{BAD}.flac: cannot decode audio",), (BAD,)),
    Row("zero-byte-file", lambda d: _rewrite(d, lambda b: b""), FAILED,
        (f"{{data}}/{SLICE}/1089/134686/{BAD}.flac: audio file is empty (0 bytes)",), (BAD,)),
    Row("missing-file", lambda d: _clip(d, BAD).unlink(), FAILED,
        (f"{{data}}/{SLICE}/{TRANS}:2: transcript line has no audio",), (BAD,),
        not_says=("MMAU",)),  # a message about this dataset only
    Row("stereo-44k", _stereo_44k, OK, ("PASS",)),
    Row("windows-line-endings", _crlf, OK, ("PASS",)),
    Row("not-utf8-transcript", _not_utf8, FAILED,
        (f"{{data}}/{SLICE}/{TRANS}:2: not valid UTF-8 (byte 0xc9 at byte offset",),
        ("1089-134686-0000", BAD, "1089-134686-0002")),
    Row("duplicate-transcript-line", lambda d: _append(d, f"{BAD} STUFF IT INTO YOU AGAIN"),
        FAILED, (f"{{data}}/{SLICE}/{TRANS}:4: duplicate id (first at",
                 "1 id(s) added, 0 missing"), (f"{BAD}#2",)),
    Row("duplicate-id-two-chapters", _same_id_in_two_chapters, FAILED,
        ("1089-134691.trans.txt:3: duplicate id (first at",), (f"{BAD}#2",)),
    Row("duplicate-audio-file", _same_audio_twice, FAILED,
        (f"{{data}}/{SLICE}/1089/134691/{BAD}.flac: audio has no transcript line",)),
    Row("line-without-audio", lambda d: _append(d, "1089-134686-0099 NO SUCH CLIP"), FAILED,
        (f"{{data}}/{SLICE}/{TRANS}:4: transcript line has no audio",
         "added: 1089-134686-0099"), ("1089-134686-0099",)),
    Row("audio-without-line", lambda d: shutil.copyfile(
        _clip(d, BAD), _clip(d, "1089-134686-0098")), FAILED,
        (f"{{data}}/{SLICE}/1089/134686/1089-134686-0098.flac: audio has no transcript line",),
        ("1089-134686-0098",)),
    Row("empty-reference", _empty_reference, FAILED,
        (f"{{data}}/{SLICE}/{TRANS}:2: transcript line has no text",), (BAD,)),
    Row("missing-data-folder", _no_folder, FAILED,
        ("is gated but its data is missing", f"nothing at {{data}}/{SLICE}",
         "audiogate data fetch librispeech-test-clean")),
    Row("malformed-thresholds", lambda d: None, USAGE,
        ("{thresholds}:4: not valid YAML",), clean_thresholds=False),
    Row("invalid-thresholds", lambda d: None, USAGE,
        ("{thresholds}:5: whisper-tiny.en/librispeech-test-clean: `max` must be a finite",),
        clean_thresholds=False),
    Row("missing-models-file", lambda d: None, USAGE,
        ("{data}/no-models.yaml: no such registry file",),
        args=("--models-file={data}/no-models.yaml",)),
    Row("missing-datasets-file", lambda d: None, USAGE,
        ("{data}/no-datasets.yaml: no such registry file",),
        args=("--datasets-file={data}/no-datasets.yaml",)),
]

ENTRY = ("whisper-tiny.en:\n  librispeech-test-clean:\n    - metric: wer\n      value: 3.0\n"
         "      max: {max}\n      samples: 6\n      sample_set: " + FINGERPRINT + "\n"
         "      baseline: baseline.jsonl\n")  # lists the recorded ids
BROKEN_THRESHOLDS = {"malformed-thresholds": "whisper-tiny.en:\n  librispeech-test-clean:\n"
                     "    - metric: wer\n     value: 3.0\n",
                     "invalid-thresholds": ENTRY.replace("{max}", ".nan")}


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory, decoded_slices: DecodedSlices) -> Path:
    proj = tmp_path_factory.mktemp("matrix")
    decoded_slices.copy_store(proj / "store.sqlite")
    (proj / "pytest.ini").write_text("[pytest]\n", encoding="utf-8")
    (proj / "conftest.py").write_text(CONFTEST, encoding="utf-8")
    (proj / "benchmarks").mkdir()
    shutil.copyfile(REPO / "benchmarks" / "test_asr.py", proj / "benchmarks" / "test_asr.py")
    return proj


def _run(project: Path, row: Row, shared_data: Path, tmp: Path) -> tuple[int, str, Path]:
    data = tmp / "data"
    shutil.copytree(shared_data / SLICE, data / SLICE)
    row.breaks(data)
    thresholds = tmp / "thresholds.yaml"
    (tmp / "baseline.jsonl").write_text("".join(
        json.dumps({"id": i, "errors": 0, "ref_tokens": 5}) + "\n" for i in IDS))
    thresholds.write_text(ENTRY.format(max=50.0) if row.clean_thresholds
                          else BROKEN_THRESHOLDS[row.name], encoding="utf-8")
    reports = tmp / "reports"
    args = [a.format(data=data) for a in row.args]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    env.pop("AUDIOGATE_DATA_ROOT", None)
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "benchmarks", "-k", "librispeech-test-clean",
         "-p", "no:cacheprovider", f"--data-root={data}", f"--thresholds={thresholds}",
         f"--report-dir={reports}", f"--store={project / 'store.sqlite'}", *args],
        cwd=project, env=env, capture_output=True, text=True, timeout=600, check=False)
    out = done.stdout + done.stderr
    return done.returncode, out.replace(str(data), "{data}").replace(str(thresholds),
                                                                      "{thresholds}"), reports


@pytest.mark.parametrize("row", ROWS, ids=[r.name for r in ROWS])
def test_bad_input(project: Path, shared_data: Path, tmp_path: Path, row: Row) -> None:
    code, out, reports = _run(project, row, shared_data, tmp_path)
    assert code == row.exit, out[-4000:]
    for fragment in row.says:
        assert fragment in out, f"{fragment!r} not in:\n{out[-4000:]}"
    for fragment in row.not_says:
        assert fragment not in out, f"{fragment!r} in:\n{out[-4000:]}"
    if row.exit == USAGE:
        assert "Traceback" not in out and "INTERNALERROR" not in out
        return
    if row.name == "missing-data-folder":
        report = json.loads((reports / "audiogate-report.json").read_text(encoding="utf-8"))
        assert [r["status"] for r in report["rows"]] == ["fail"]  # in the report all the same
        return
    records = {r["id"]: r for r in _records(reports)}
    for sample_id in row.broken:
        assert records[sample_id]["error"] is not None, sample_id
        assert records[sample_id]["score"] is None  # never scored
    scored = [i for i in IDS if i not in row.broken]
    for sample_id in scored:  # every other sample of the pair is scored and reported
        record = records[sample_id]
        assert record["error"] is None and record["score"] is not None, record


def _records(reports: Path) -> list[dict[str, Any]]:
    path = reports / "samples" / "whisper-tiny.en__librispeech-test-clean.jsonl"
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


# -- rows that need another dataset or another environment ------------------------------------

def test_audio_with_nan_or_inf_samples_is_an_error_naming_the_file(shared_data: Path,
                                                                   tmp_path: Path) -> None:
    """A float WAV can hold NaN and Inf; the model would answer "!!!!". Never scored."""
    from audiogate.datasets import load_dataset
    from audiogate.engines import EngineContext, make_engine
    from audiogate.registry import load as registry
    from audiogate.runner import PairRun

    rows = []
    for utt in IDS:
        path = _clip(shared_data, utt)
        if utt == BAD:
            audio, rate = sf.read(str(path), dtype="float32")
            audio[1000:1010] = np.nan
            audio[2000] = np.inf
            path = tmp_path / f"{utt}.wav"
            sf.write(str(path), audio, rate, subtype="FLOAT")
        reference = next(line.split(" ", 1)[1] for line in (path.parent if utt != BAD else
                         _clip(shared_data, utt).parent).glob("*.trans.txt").__next__()
                         .read_text(encoding="utf-8").splitlines() if line.startswith(utt))
        rows.append({"id": utt, "audio": str(path), "reference": reference})
    manifest = tmp_path / "manifest.jsonl"
    manifest.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    datasets = tmp_path / "datasets.yaml"
    datasets.write_text(f"my-calls:\n  task: asr\n  language: en\n  loader: manifest\n"
                        f"  path: {manifest}\n  metric: wer\n  abnormal_limit: 1000\n")
    spec = registry.datasets(datasets)["my-calls"]
    model = registry.models()["whisper-tiny.en"]
    engine = make_engine(model, EngineContext())
    try:
        result, records = PairRun(model, spec, engine, tmp_path).run(
            load_dataset(spec, tmp_path))
    finally:
        engine.close()
    by_id = {r.id: r for r in records}
    assert by_id[BAD].error == f"non-finite samples in {tmp_path / (BAD + '.wav')} (11 NaN or " \
                               "Inf values)"
    assert by_id[BAD].score is None
    assert all(by_id[i].error is None and by_id[i].score is not None for i in IDS if i != BAD)
    assert (result.score.total, result.score.errors) == (6, 1)


def test_an_aishell_transcript_in_gbk_is_an_error_never_a_garbled_reference(
        shared_data: Path, tmp_path: Path) -> None:
    from audiogate.datasets import load_dataset
    from audiogate.registry import load as registry

    root = tmp_path / "data"
    shutil.copytree(shared_data / "aishell-1", root / "aishell-1")
    transcript = root / "aishell-1" / "data_aishell" / "transcript" / "aishell_transcript_v0.8.txt"
    first, second = transcript.read_text(encoding="utf-8").splitlines()
    transcript.write_bytes(first.encode("utf-8") + b"\n" + second.encode("gbk") + b"\n")
    samples = {s.id: s for s in load_dataset(registry.datasets()["aishell-1"], root)}
    bad_id, good_id = second.split()[0], first.split()[0]
    gbk = second.encode("gbk")
    with pytest.raises(UnicodeDecodeError) as bad:  # where a strict UTF-8 reader must stop
        gbk.decode("utf-8")
    offset = len(first.encode("utf-8")) + 1 + bad.value.start
    assert samples[bad_id].error == (f"{transcript}:2: not valid UTF-8 (byte "
                                     f"0x{gbk[bad.value.start]:02x} at byte offset {offset} "
                                     "of the file)")
    assert "\ufffd" not in samples[bad_id].reference
    assert samples[good_id].error is None and samples[good_id].reference == \
        " ".join(first.split()[1:])


def test_no_data_root_and_no_data_says_where_it_looked_in_one_message(
        project: Path, tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "AUDIOGATE_DATA_ROOT"}
    env.update(HOME=str(home), XDG_CACHE_HOME=str(home / ".cache"), PYTHONPATH=os.pathsep.join(
        filter(None, [str(REPO), os.environ.get("PYTHONPATH")])))
    thresholds = tmp_path / "thresholds.yaml"
    thresholds.write_text(ENTRY.format(max=50.0).replace("      baseline: baseline.jsonl\n", ""))
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "benchmarks", "-k", "librispeech-test-clean",
         "-p", "no:cacheprovider", f"--thresholds={thresholds}", "--no-store",
         f"--report-dir={tmp_path / 'reports'}"],
        cwd=project, env=env, capture_output=True, text=True, timeout=600, check=False)
    out = done.stdout + done.stderr
    assert done.returncode == FAILED, out[-3000:]
    looked = home / ".cache" / "audiogate" / "data" / SLICE
    assert f"nothing at {looked}" in out
    assert "pass --data-root DIR or set AUDIOGATE_DATA_ROOT" in out
    assert "`audiogate data fetch librispeech-test-clean`" in out
    assert "[data root from the default, as neither --data-root nor $AUDIOGATE_DATA_ROOT " \
           "is set]" in out
    assert "During handling of the above exception" not in out
    assert "Traceback" not in out
