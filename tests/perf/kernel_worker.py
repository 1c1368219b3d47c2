"""One embedded model in its own process, for the kernel-pin benchmark.

CTranslate2 reads its kernel settings once, when it loads, so pinned and unpinned kernels
need separate processes. This worker loads whisper-tiny.en through audiogate's engine (which
pins, unless AUDIOGATE_CPU_KERNELS=unpinned), then answers each stdin line (a JSON list of
FLAC paths) with one JSON line: wall and CPU seconds, audio seconds, and the texts.
"""

from __future__ import annotations

import json
import sys
import time

import soundfile as sf

from audiogate.engines import EngineContext, make_engine
from audiogate.registry import load as registry


def main() -> None:
    engine = make_engine(registry.models()["whisper-tiny.en"], EngineContext())
    whisper = engine._model  # type: ignore[attr-defined]
    settings = engine.settings  # type: ignore[attr-defined]
    print(json.dumps({"kernels": engine.identity()["kernels"]}), flush=True)
    for line in sys.stdin:
        t0, c0 = time.perf_counter(), time.process_time()
        texts: dict[str, str] = {}
        audio_s = 0.0
        for path in json.loads(line):
            audio, rate = sf.read(path, dtype="float32")
            audio_s += len(audio) / rate
            segments, _ = whisper.transcribe(
                audio, language="en", vad_filter=False, beam_size=settings["beam_size"],
                temperature=settings["temperature"],
                condition_on_previous_text=settings["condition_on_previous_text"])
            texts[path] = "".join(s.text for s in segments).strip()
        print(json.dumps({"wall": time.perf_counter() - t0, "cpu": time.process_time() - c0,
                          "audio": audio_s, "texts": texts}), flush=True)
    engine.close()


if __name__ == "__main__":
    main()
