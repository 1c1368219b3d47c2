"""Benchmark (one run, reported, never timed-asserted): requests per second against the
real vLLM server of the tiny Qwen2-Audio (CPU) at 1, 4, 8, 16, 32 and 64 in flight and
with `auto`, the same requests each time; auto's share of the best fixed setting and the
server's waiting queue are in the table. The table also goes to $AUDIOGATE_DISPATCH_TABLE
(CI's vLLM tier prints it)."""

from __future__ import annotations

import os
from pathlib import Path

from audiogate.registry.load import model
from tests.throughput import clips, measure, requests_for, table

QWEN = "tiny-qwen2-audio-vllm-served"
SETTINGS: tuple[int | str, ...] = (1, 4, 8, 16, 32, 64, "auto")
REQUESTS = int(os.environ.get("AUDIOGATE_DISPATCH_REQUESTS", "128"))  # 2 x the largest
FEW = 32  # 1 and 4 in flight: their rate is steady from the first requests, and slow


def test_throughput_fixed_in_flight_vs_auto(qwen_url: str, shared_data: Path) -> None:
    requests = requests_for(clips(shared_data), REQUESTS, prompt="step_audio_asr")
    measure(model(QWEN), (qwen_url,), requests[:8], 8)  # warm-up, not counted
    rows = [measure(model(QWEN), (qwen_url,),
                    requests[:FEW] if setting in (1, 4) else requests, setting)
            for setting in SETTINGS]
    text = (f"vLLM (tiny Qwen2-Audio, CPU): {REQUESTS} chat requests of LibriSpeech clips "
            f"per setting ({FEW} at 1 and 4 in flight)\n\n{table(rows)}\n")
    print("\n" + text)
    if os.environ.get("AUDIOGATE_DISPATCH_TABLE"):
        Path(os.environ["AUDIOGATE_DISPATCH_TABLE"]).write_text(text, encoding="utf-8")
    assert [r.errors for r in rows] == [0] * len(rows)
    assert rows[-1].dispatch["server_waiting_max"] is not None  # auto read the gauges
