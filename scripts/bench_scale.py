"""Benchmark: a large replayed ASR pair through audiogate, against the bare libraries.

Synthetic English pairs are generated from a seed: references are random sentences over
the words of the LibriSpeech transcripts shipped in data/ (with spelled-out numbers the
normalizers turn into digits), hypotheses the same sentences with about 10 % word edits
(substitutions, deletions, insertions) and another casing and punctuation. Nothing is
inferred: the predictions are replayed through the real pytest plugin (``--model replay``).

Each size runs, one after the other, on the same machine:

* **bare**: a script written with the libraries alone (whisper-normalizer's
  ``EnglishTextNormalizer``, sacrebleu's 13a tokenizer, jiwer, and a numpy percentile
  bootstrap of the corpus WER with 10,000 resamples): one protocol, no store, no report;
* **audiogate**: ``pytest benchmarks/test_asr.py --model replay`` end to end: both scoring
  protocols, the limit gate, the store on (fresh), every report;
* **rerun**: the same command again on the same store and report folder;
* **bare paired** and **audiogate paired**: the same, where the bare script also runs a
  paired bootstrap against a baseline, and the thresholds entry gates with the paired
  test against the same baseline (another replayed "model", recorded untimed by
  ``--update-thresholds`` before the timed runs).

It prints the seconds and peak memory of each (the peak of the sum of the resident memory
of every process of the run, and of their proportional memory, which counts the pages a
forked scoring worker shares with its parent once; sampled every 0.2 s) and the ratios
audiogate / bare, rerun / first run and paired / bare paired, with the machine's load
average (as ``uptime`` gives it) before and after each size and the 1-minute load at the
end of each command.
It asserts nothing about time.

Run from the repository root (a clean clone needs only ``pip install -e .``):

    .venv/bin/python scripts/bench_scale.py --sizes 10000 100000

``--src DIR`` runs the pytest half from another checkout of audiogate (its ``src`` first
on the path), to measure two versions with one script.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
DATASET = "synthetic-en"
MODEL = "replay"
EDIT_RATE = 0.10
BARE = r'''
import json, sys, time
import numpy as np
import jiwer
from sacrebleu.tokenizers.tokenizer_13a import Tokenizer13a
from whisper_normalizer.english import EnglishTextNormalizer

manifest, predictions, baseline = sys.argv[1], sys.argv[2], sys.argv[3]
refs = {}
with open(manifest, encoding="utf-8") as f:
    for line in f:
        row = json.loads(line)
        refs[row["id"]] = row["reference"]
hyps = {}
with open(predictions, encoding="utf-8") as f:
    for line in f:
        row = json.loads(line)
        hyps[row["id"]] = row["prediction"]
normalize, tokenize = EnglishTextNormalizer(), Tokenizer13a()

def words(text):
    return tokenize(normalize(text)).lower().split()

errors, lengths, ids = [], [], []
for sample_id in sorted(refs):
    ref, hyp = words(refs[sample_id]), words(hyps.get(sample_id, ""))
    if not ref:
        continue
    if hyp:
        out = jiwer.process_words(" ".join(ref), " ".join(hyp))
        errors.append(out.substitutions + out.deletions + out.insertions)
    else:
        errors.append(len(ref))
    lengths.append(len(ref))
    ids.append(sample_id)
err, ref_len = np.array(errors), np.array(lengths)
rng = np.random.default_rng(0)
n, resamples = len(err), 10_000
chunk = max(1, (1 << 20) // n)
rates = []
for start in range(0, resamples, chunk):
    idx = rng.integers(0, n, size=(min(chunk, resamples - start), n))
    rates.append(err[idx].sum(axis=1) / ref_len[idx].sum(axis=1) * 100)
low, high = np.percentile(np.concatenate(rates), [2.5, 97.5])
out = {"wer": float(err.sum() / ref_len.sum() * 100), "low": float(low), "high": float(high)}
if baseline != "-":
    base = {}
    with open(baseline, encoding="utf-8") as f:
        for line in f:
            row = json.loads(line)
            if not row.get("excluded"):
                base[row["id"]] = (row["errors"], row["ref_tokens"])
    common = [i for i, sample_id in enumerate(ids) if sample_id in base]
    b = np.array([base[ids[i]] for i in common])
    c_err, c_len = err[common], ref_len[common]
    m = len(common)
    chunk = max(1, (1 << 20) // m)
    deltas = []
    for start in range(0, resamples, chunk):
        idx = rng.integers(0, m, size=(min(chunk, resamples - start), m))
        deltas.append((c_err[idx].sum(axis=1) / c_len[idx].sum(axis=1)
                       - b[:, 0][idx].sum(axis=1) / b[:, 1][idx].sum(axis=1)) * 100)
    out["paired_low"] = float(np.percentile(np.concatenate(deltas), 5))
print(json.dumps(out))
'''


# --------------------------------------------------------------------------- the data


def vocabulary() -> list[str]:
    """The words of the LibriSpeech transcripts shipped with the repository."""
    found: set[str] = set()
    for path in sorted((REPO / "data" / "LibriSpeech").glob("*/*/*/*.trans.txt")):
        for line in path.read_text(encoding="utf-8").splitlines():
            found.update(w.lower() for w in line.split()[1:] if w.isalpha())
    if not found:
        raise SystemExit(f"no LibriSpeech transcripts under {REPO / 'data'}")
    return sorted(found)


def _number_words(value: int) -> str:
    ones = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine",
            "ten", "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen",
            "seventeen", "eighteen", "nineteen"]
    tens = ["_", "_", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]
    if value < 20:
        return ones[value]
    if value < 100:
        return tens[value // 10] + ("" if value % 10 == 0 else " " + ones[value % 10])
    rest = value % 100
    return ones[value // 100] + " hundred" + ("" if rest == 0 else " and "
                                              + _number_words(rest))


def _style(words: list[str], rng: random.Random) -> str:
    """A sentence as a person or a model writes it: capitals, commas, a final mark."""
    out = [w.capitalize() if rng.random() < 0.05 else w for w in words]
    for i in range(1, len(out) - 1):
        if rng.random() < 0.06:
            out[i] += ","
    text = " ".join(out)
    return text[:1].upper() + text[1:] + rng.choice([".", ".", ".", "?", "!", ""])


def _edited(words: list[str], vocab: list[str], rng: random.Random) -> list[str]:
    """About EDIT_RATE of the words edited: half substituted, a quarter each deleted and
    followed by an inserted word."""
    out: list[str] = []
    for word in words:
        roll = rng.random()
        if roll < EDIT_RATE / 2:
            out.append(rng.choice(vocab))
        elif roll < EDIT_RATE * 3 / 4:
            continue
        elif roll < EDIT_RATE:
            out += [word, rng.choice(vocab)]
        else:
            out.append(word)
    return out


def generate(folder: Path, n: int, seed: int) -> None:
    """manifest.jsonl, candidate.jsonl and baseline.jsonl (two replayed models) and the
    dataset's registry file, all from ``seed``."""
    folder.mkdir(parents=True, exist_ok=True)
    vocab = vocabulary()
    rng = random.Random(seed)
    models = {"candidate": random.Random(seed + 1), "baseline": random.Random(seed + 2)}
    files = {name: (folder / f"{name}.jsonl").open("w", encoding="utf-8")
             for name in ("manifest", *models)}
    try:
        for i in range(n):
            sample_id = f"syn-{i:06d}"
            words = [rng.choice(vocab) for _ in range(rng.randint(4, 35))]
            digits = None
            if rng.random() < 0.1:
                value = rng.randint(2, 999)
                at = rng.randrange(len(words))
                spelled = _number_words(value).split()
                words[at:at] = spelled
                digits = (at, len(spelled), str(value))
            reference = _style(words, rng)
            files["manifest"].write(json.dumps({
                "id": sample_id, "audio": f"audio/{sample_id}.flac", "reference": reference,
                "speaker": f"spk{rng.randrange(500):03d}"}) + "\n")
            for name, model_rng in models.items():
                said = list(words)
                if digits is not None and model_rng.random() < 0.7:
                    at, length, text = digits
                    said[at:at + length] = [text]
                hypothesis = _style(_edited(said, vocab, model_rng), model_rng)
                files[name].write(json.dumps({"id": sample_id, "prediction": hypothesis})
                                  + "\n")
    finally:
        for f in files.values():
            f.close()
    (folder / "datasets.yaml").write_text(
        f"{DATASET}:\n  task: asr\n  language: en\n  loader: manifest\n"
        f"  path: {folder / 'manifest.jsonl'}\n  expected_samples: {n}\n  metric: wer\n"
        "  abnormal_limit: 1000\n  groups: [speaker]\n", encoding="utf-8")


# --------------------------------------------------------------------------- measuring


def _tree_memory_kb(root: int) -> tuple[int, int]:
    """(resident, proportional) memory of ``root`` and every process below it, in KiB.
    The proportional set size (PSS) splits a page shared by several processes among them,
    so forked workers are not counted twice for the pages they share with their parent."""
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        parents[int(entry)] = int(stat.rsplit(")", 1)[1].split()[1])
    tree, frontier = {root}, [root]
    while frontier:
        parent = frontier.pop()
        for pid, ppid in parents.items():
            if ppid == parent and pid not in tree:
                tree.add(pid)
                frontier.append(pid)
    rss = pss = 0
    for pid in tree:
        try:
            rollup = Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()
        except OSError:
            continue
        values = {line.split(":")[0]: int(line.split()[1]) for line in rollup[1:]
                  if line.split(":")[0] in ("Rss", "Pss")}
        rss += values.get("Rss", 0)
        pss += values.get("Pss", 0)
    return rss, pss


def measure(command: list[str], cwd: Path, env: dict[str, str] | None = None
            ) -> dict[str, Any]:
    """Wall seconds and peak memory (every process of the run, sampled every 0.2 s: the
    sum of their resident sets, and of their proportional sets) of one command; its stdout
    is kept, its exit status checked by the caller."""
    started = time.perf_counter()
    proc = subprocess.Popen(command, cwd=cwd, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    peak_rss = peak_pss = 0
    done = threading.Event()

    def sample() -> None:
        nonlocal peak_rss, peak_pss
        while not done.wait(0.2):
            rss, pss = _tree_memory_kb(proc.pid)
            peak_rss, peak_pss = max(peak_rss, rss), max(peak_pss, pss)
    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    output = proc.communicate()[0]
    seconds = time.perf_counter() - started
    done.set()
    sampler.join()
    return {"seconds": seconds, "peak_mb": peak_rss / 1024, "peak_pss_mb": peak_pss / 1024,
            "load": os.getloadavg()[0], "rc": proc.returncode, "output": output}


def load() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


def _pytest(src: Path, work: Path, predictions: Path, thresholds: Path, store: Path | None,
            report_dir: Path, extra: list[str]) -> list[str]:
    command = [sys.executable, "-m", "pytest", str(src / "benchmarks" / "test_asr.py"),
               "-q", "-k", DATASET, "--model", MODEL, "--predictions", str(predictions),
               "--datasets-file", str(work / "datasets.yaml"), "--thresholds",
               str(thresholds), "--report-dir", str(report_dir),
               "--data-root", str(work), "-p", "no:randomly"]
    command += ["--store", str(store)] if store is not None else ["--no-store"]
    return command + extra


def _env(src: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(src / "src"),
                                                      env.get("PYTHONPATH", "")]))
    env.pop("PYTEST_ADDOPTS", None)
    return env


def _checked(label: str, result: dict[str, Any], *, passed: bool = True) -> dict[str, Any]:
    if result["rc"] != 0 and passed:
        tail = "\n".join(result["output"].splitlines()[-30:])
        raise SystemExit(f"{label} exited {result['rc']}:\n{tail}")
    return result


def prepare(work: Path, n: int, seed: int, src: Path) -> None:
    """The data, and the baseline recorded untimed by the plugin itself
    (``--update-thresholds`` on the baseline model's predictions); then a thresholds
    file with the limit only and one with the paired gate too."""
    stamp = work / "stamp.json"
    wanted = {"n": n, "seed": seed, "edit_rate": EDIT_RATE, "version": 1}
    if stamp.is_file() and json.loads(stamp.read_text()) == wanted:
        return
    if work.exists():
        shutil.rmtree(work)
    generate(work, n, seed)
    record = work / "record"
    record.mkdir()
    result = measure(_pytest(src, work, work / "baseline.jsonl", record / "thresholds.yaml",
                             None, record / "reports", ["--update-thresholds"]), src,
                     _env(src))
    _checked("recording the baseline", result)
    from ruamel.yaml import YAML

    entry = YAML(typ="safe").load((record / "thresholds.yaml").read_text())[MODEL][DATASET][0]
    head = (f"{MODEL}:\n  {DATASET}:\n    - metric: wer\n      value: {entry['value']}\n"
            f"      max: {entry['value'] + 5:.2f}\n      samples: {entry['samples']}\n"
            f"      sample_set: {entry['sample_set']}\n      excluded: {entry['excluded']}\n")
    (record / "limit.yaml").write_text(head, encoding="utf-8")
    (record / "paired.yaml").write_text(
        head + f"      baseline: {entry['baseline']}\n      gate: [limit, paired]\n"
        "      margin: 0.5\n", encoding="utf-8")
    shutil.rmtree(record / "reports")
    stamp.write_text(json.dumps(wanted))


def bench(n: int, seed: int, root: Path, src: Path, paired: bool) -> dict[str, Any]:
    work = root / f"n{n}"
    prepare(work, n, seed, src)
    record = work / "record"
    baseline = record / "baselines" / MODEL / f"{DATASET}.jsonl"
    runs = root / "runs"
    if runs.exists():
        shutil.rmtree(runs)
    runs.mkdir()
    env = _env(src)
    out: dict[str, Any] = {"n": n, "load_before": load()}
    bare = [sys.executable, "-c", BARE, str(work / "manifest.jsonl"),
            str(work / "candidate.jsonl")]
    out["bare"] = _checked("bare", measure([*bare, "-"], REPO))
    store, reports = runs / "store.sqlite", runs / "reports"
    command = _pytest(src, work, work / "candidate.jsonl", record / "limit.yaml", store,
                      reports, [])
    out["audiogate"] = _checked("audiogate", measure(command, src, env))
    out["rerun"] = _checked("audiogate rerun", measure(command, src, env))
    if paired:
        out["bare_paired"] = _checked("bare paired", measure([*bare, str(baseline)], REPO))
        shutil.rmtree(runs)
        command = _pytest(src, work, work / "candidate.jsonl", record / "paired.yaml",
                          runs / "store.sqlite", runs / "reports", [])
        out["paired"] = _checked("audiogate paired", measure(command, src, env))
    out["load_after"] = load()
    return out


def report(r: dict[str, Any]) -> str:
    def cell(key: str) -> str:
        run = r.get(key)
        return "—" if run is None else (f"{run['seconds']:.1f} s, RSS {run['peak_mb']:.0f} MB,"
                                        f" PSS {run['peak_pss_mb']:.0f} MB, load "
                                        f"{run['load']:.1f}")

    lines = [f"n = {r['n']:,}  (load average before {r['load_before']}, after "
             f"{r['load_after']})"]
    for key, label in (("bare", "bare floor, one protocol"), ("audiogate", "audiogate"),
                       ("rerun", "audiogate rerun"), ("bare_paired", "bare floor, paired"),
                       ("paired", "audiogate, paired gate")):
        lines.append(f"  {label:28s} {cell(key)}")
    ratio = r["audiogate"]["seconds"] / r["bare"]["seconds"]
    lines.append(f"  ratio audiogate / bare:        {ratio:.2f}  (goal <= 1.0)")
    lines.append(f"  ratio rerun / first run:       "
                 f"{r['rerun']['seconds'] / r['audiogate']['seconds']:.2f}  (goal <= 0.5)")
    if "paired" in r:
        lines.append(f"  ratio paired / bare paired:    "
                     f"{r['paired']['seconds'] / r['bare_paired']['seconds']:.2f}  "
                     "(goal <= 1.2)")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workdir", type=Path, default=REPO / "reports" / "bench-scale",
                        help="where the data, stores and reports go (the generated data is "
                             "kept and reused by the next run with the same size and seed)")
    parser.add_argument("--src", type=Path, default=REPO,
                        help="the audiogate checkout whose plugin runs (default: this one)")
    parser.add_argument("--no-paired", action="store_true", help="skip the paired runs")
    parser.add_argument("--json", type=Path, default=None, help="also write the numbers here")
    args = parser.parse_args()
    results = []
    for n in args.sizes:
        result = bench(n, args.seed, args.workdir.resolve(), args.src.resolve(),
                       not args.no_paired)
        print(report(result), flush=True)
        results.append({k: ({kk: vv for kk, vv in v.items() if kk != "output"}
                            if isinstance(v, dict) else v) for k, v in result.items()})
    if args.json is not None:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
