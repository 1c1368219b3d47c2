#!/usr/bin/env python3
"""Check that a report folder's records carry their timings, and print each pair's speed.

Every answered sample must have a latency; with ``--ttft``, every answered sample of a
served pair (engine openai: chat pairs, and transcription entries with ``stream: true``)
whose answer has text must also have its time to first token (an empty answer streams no
token). Exit status 1 names the pair and the first sample without them. CI's vLLM tier
runs it on the real servers' reports.

usage: scripts/check_timings.py [--ttft] REPORT_DIR...
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from audiogate.results.report import read_samples, samples_path


def check(folder: Path, ttft: bool) -> list[str]:
    problems = []
    report = json.loads((folder / "audiogate-report.json").read_text(encoding="utf-8"))
    for row in report["rows"]:
        result = row["result"]
        if not result["score"]["total"]:
            continue
        pair = f"{result['model']}/{result['dataset']}"
        records = read_samples(samples_path(folder, result["model"], result["dataset"]))
        answered = [r for r in records if r.error is None]
        streamed = result["engine"].get("engine") == "openai"
        for r in answered:
            timing = r.timing or {}
            if not timing.get("latency"):
                problems.append(f"{folder}: {pair}: sample {r.id} has no latency")
                break
            if ttft and streamed and (r.raw_output or "").strip() and timing.get("ttft") is None:
                problems.append(f"{folder}: {pair}: sample {r.id} has no time to first token")
                break
        speed = result.get("speed") or {}
        p50 = (speed.get("latency") or {}).get("p50", {}).get("estimate")
        first = ((speed.get("ttft") or {}).get("p50") or {}).get("estimate")
        print(f"{pair}: {len(answered)} answered, latency p50 "
              f"{'—' if p50 is None else f'{p50:.3f} s'}, TTFT p50 "
              f"{'—' if first is None else f'{first:.3f} s'}, methods "
              f"{', '.join(speed.get('methods') or ['none'])}")
    return problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--ttft", action="store_true",
                        help="also require the time to first token of served (streamed) pairs")
    parser.add_argument("folders", nargs="+", type=Path)
    args = parser.parse_args()
    problems = [p for folder in args.folders for p in check(folder, args.ttft)]
    for problem in problems:
        print(problem, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
