#!/usr/bin/env python3
"""How noisy is speed on this machine, and what slowdown does the paired gate see?

1. Noise: runs one pair N times, identically (no store), and prints each run's p50 / p90
   latency, the machine's load average, the spread of p50 over the runs, and each run's
   median per-sample latency ratio against the first (with its bootstrap interval): the
   margin a speed entry needs here is above that band.
2. Detection (``--slowdowns``): serves recorded predictions with `audiogate serve --replay
   --delay` (the reference predictions of the dataset), a baseline at ``--delay`` and one
   server per slowdown at ``delay × (1 + s)``, and prints whether the paired gate (margin 0
   and ``--margin``) calls each slower.

usage:
  scripts/measure_speed_noise.py --model whisper-tiny.en --dataset librispeech-test-other
  scripts/measure_speed_noise.py --dataset librispeech-test-other --slowdowns 0.02,0.05,0.1
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

from audiogate.datasets import load_dataset
from audiogate.engines import EngineContext, make_engine
from audiogate.engines.launch import ServerProcess
from audiogate.gate.speed import summarize, timed
from audiogate.gate.stats import paired_median_ratio
from audiogate.paths import default_data_root
from audiogate.registry import load as registry
from audiogate.registry.load import ModelSpec
from audiogate.runner import PairRun
from audiogate.scoring.pair import SampleRecord

CHAT_ENTRY = """\
replay-chat:
  engine: openai
  endpoint: chat
  tasks: [asr]
  languages: [en]
  served_model_name: replay
  sampling: {temperature: 0.0}
"""


def one_run(spec: ModelSpec, ctx: EngineContext, dataset: str, root: Path
            ) -> list[SampleRecord]:
    engine = make_engine(spec, ctx)
    try:
        _, records = PairRun(spec, registry.dataset(dataset), engine, root).run()
    finally:
        engine.close()
    return records


def latencies(records: list[SampleRecord]) -> dict[str, float]:
    t = timed(records)
    return dict(zip(t.ids, t.latency.tolist(), strict=True))


def ratio(base: dict[str, float], cand: dict[str, float], margin: float) -> Any:
    ids = sorted(base.keys() & cand.keys())
    return paired_median_ratio([base[i] for i in ids], [cand[i] for i in ids],
                               margin=margin, n_resamples=4000)


def noise(args: argparse.Namespace, root: Path) -> None:
    spec = registry.models(args.models_file)[args.model]
    ctx = EngineContext(engine_url=args.engine_url, concurrency=args.concurrency)
    runs = []
    for k in range(args.runs):
        load = os.getloadavg()[0]
        records = one_run(spec, ctx, args.dataset, root)
        speed = summarize(records, wall_seconds=1.0, complete=False, n_resamples=2000)
        assert speed is not None, "nothing was timed"
        runs.append(latencies(records))
        p50, p90 = (speed["latency"][q]["estimate"] for q in ("p50", "p90"))
        line = f"run {k + 1}: p50 {p50:.4f} s, p90 {p90:.4f} s, load {load:.2f}"
        if k:
            r = ratio(runs[0], runs[-1], 0.0)
            line += f"; vs run 1: ×{r.median:.3f} [×{r.low:.3f}, ×{r.high:.3f}]"
        print(line, flush=True)
    p50s = [statistics.median(r.values()) for r in runs]
    mid = statistics.median(p50s)
    print(f"p50 over {len(runs)} runs: min {min(p50s):.4f} s, median {mid:.4f} s, max "
          f"{max(p50s):.4f} s: spread {(max(p50s) - min(p50s)) / mid * 100:.1f} % of the "
          f"median; sd {statistics.stdev(p50s) / mid * 100:.1f} %")


def detection(args: argparse.Namespace, root: Path) -> None:
    work = Path(tempfile.mkdtemp(prefix="audiogate-speed-"))
    predictions = work / "predictions.jsonl"
    predictions.write_text("".join(
        json.dumps({"id": s.id, "prediction": s.reference.lower()}) + "\n"
        for s in load_dataset(registry.dataset(args.dataset), root)))
    models = work / "models.yaml"
    models.write_text(CHAT_ENTRY)
    spec = registry.models(models)["replay-chat"]

    def serve(delay: float) -> ServerProcess:
        server = ServerProcess([sys.executable, "-m", "audiogate.cli", "serve", "--replay",
                                str(predictions), "--dataset", args.dataset, "--data-root",
                                str(root), "--served-model-name", "replay", "--delay",
                                str(delay), "--host", "{host}", "--port", "{port}"],
                               work / f"server-{delay:g}.log", startup_timeout=120)
        server.start()
        return server

    def measure(delay: float) -> dict[str, float]:
        server = serve(delay)
        try:
            ctx = EngineContext(engine_url=server.url, concurrency=args.concurrency)
            return latencies(one_run(spec, ctx, args.dataset, root))
        finally:
            server.stop()

    base = measure(args.delay)
    for s in [0.0, *(float(x) for x in args.slowdowns.split(","))]:
        load = os.getloadavg()[0]
        cand = measure(args.delay * (1 + s))
        strict, with_margin = ratio(base, cand, 0.0), ratio(base, cand, args.margin)
        print(f"server {s * 100:+.0f} % delay: ×{strict.median:.3f} [×{strict.low:.3f}, "
              f"×{strict.high:.3f}]; slower (margin 0): {strict.worse}; slower by > "
              f"{args.margin * 100:g} %: {with_margin.worse}; load {load:.2f}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="whisper-tiny.en")
    parser.add_argument("--models-file", type=Path, default=None)
    parser.add_argument("--dataset", default="librispeech-test-other")
    parser.add_argument("--data-root", type=Path, default=None)
    parser.add_argument("--engine-url", default=None)
    parser.add_argument("--concurrency", default=None)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--slowdowns", default=None, help="e.g. 0.02,0.05,0.1,0.2,0.3")
    parser.add_argument("--delay", type=float, default=0.25)
    parser.add_argument("--margin", type=float, default=0.10)
    args = parser.parse_args()
    root = args.data_root or default_data_root(Path.cwd())
    if args.slowdowns:
        args.concurrency = args.concurrency or 4
        detection(args, root)
    else:
        noise(args, root)


if __name__ == "__main__":
    main()
