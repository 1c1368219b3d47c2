"""Record tests/ground_truth/dnsmos_ultraeval.json by running UltraEval-Audio's DNSMOS.

Two steps, two environments:

    # 1. audiogate's environment: the input clips (shipped LibriSpeech, the same with
    #    seeded noise, eSpeak NG speech) as files in a folder
    .venv/bin/python scripts/record_dnsmos_ultraeval.py inputs /tmp/dnsmos-inputs
    # 2. the harness's pinned environment (librosa 0.8.1 as it pins; numpy 1.24 and
    #    onnxruntime 1.16.3, the oldest that install together on Python 3.11, where its
    #    pins numpy 1.22.4 / onnxruntime 1.13.1 do not): its ComputeScore on each clip
    python3 -m venv /tmp/dnsmos-venv
    /tmp/dnsmos-venv/bin/pip install librosa==0.8.1 numpy==1.24.4 onnxruntime==1.16.3 \
        soundfile
    /tmp/dnsmos-venv/bin/python scripts/record_dnsmos_ultraeval.py score /tmp/dnsmos-inputs \
        ULTRAEVAL_AUDIO_CHECKOUT SPEECHMOS_PACKAGE_DIR

``audio_evals/lib/DNSMOS/main.py`` is imported unchanged from the checkout (its commit is
recorded); the ONNX models are the ones in the speechmos wheel.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "tests" / "ground_truth" / "dnsmos_ultraeval.json"
CLEAN = ["LibriSpeech/test-clean/1089/134686/1089-134686-0000.flac",  # 10.4 s
         "LibriSpeech/test-clean/1089/134691/1089-134691-0000.flac",  # 2.1 s: padded
         "LibriSpeech/test-clean/1995/1837/1995-1837-0001.flac"]
NOISE_SEED, NOISE_STD = 29, 0.1
ESPEAK_TEXT = "He hoped there would be stew for dinner, turnips and carrots."


def noisy(samples: object) -> object:
    """The clip with seeded white noise (numpy's RandomState stream never changes)."""
    import numpy as np

    clean = np.asarray(samples, dtype=np.float64)
    return clean + np.random.RandomState(NOISE_SEED).normal(0.0, NOISE_STD, clean.shape)


def make_inputs(folder: Path) -> None:
    import soundfile as sf

    from audiogate.engines.espeak_tts import synthesize

    folder.mkdir(parents=True, exist_ok=True)
    for rel in CLEAN:
        source = REPO / "data" / rel
        samples, rate = sf.read(source)
        sf.write(folder / f"clean-{source.stem}.wav", samples, rate, subtype="PCM_16")
        sf.write(folder / f"noisy-{source.stem}.wav", noisy(samples), rate, subtype="FLOAT")
    speech, rate = synthesize(ESPEAK_TEXT)
    sf.write(folder / "espeak.wav", speech, rate, subtype="PCM_16")


def score(folder: Path, checkout: Path, speechmos: Path) -> None:
    commit = subprocess.run(["git", "-C", str(checkout), "rev-parse", "HEAD"],
                            capture_output=True, text=True, check=True).stdout.strip()
    main_py = folder / "ultraeval_dnsmos_main.py"
    main_py.write_text(subprocess.run(
        ["git", "-C", str(checkout), "show", "HEAD:audio_evals/lib/DNSMOS/main.py"],
        capture_output=True, text=True, check=True).stdout, encoding="utf-8")
    import numpy

    # librosa 0.8.1 still uses numpy's old aliases of the builtins (gone in numpy 1.24,
    # the oldest numpy onnxruntime installs with on Python 3.11); the aliases WERE them
    numpy.complex = complex  # type: ignore[attr-defined]
    numpy.float = float  # type: ignore[attr-defined]
    spec = importlib.util.spec_from_file_location("ultraeval_dnsmos_main", main_py)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    compute = module.ComputeScore(str(speechmos / "dnsmos_models" / "sig_bak_ovr.onnx"),
                                  str(speechmos / "pdnsmos_models" / "sig_bak_ovr.onnx"),
                                  str(speechmos / "dnsmos_models" / "model_v8.onnx"))
    import librosa
    import onnxruntime
    import soundfile as sf

    clips = {}
    for path in sorted(folder.glob("*.wav")):
        if path.name == main_py.name:
            continue
        samples, _ = sf.read(path, dtype="float32")  # a float WAV's header holds a date
        clips[path.name] = {"samples_sha256": hashlib.sha256(samples.tobytes()).hexdigest(),
                            **compute(str(path))}
    truth = {
        "note": ("What UltraEval-Audio's DNSMOS (audio_evals/lib/DNSMOS/main.py "
                 "ComputeScore, the scorer its dnsmos evaluator and CV3-Eval run) gives "
                 "for each clip, recorded by scripts/record_dnsmos_ultraeval.py with the "
                 "speechmos wheel's ONNX models. Clips: clean-* = the shipped LibriSpeech "
                 "flac as 16-bit WAV; noisy-* = the same with RandomState(29) Gaussian "
                 "noise of std 0.1, float WAV; espeak.wav = eSpeak NG (22050 Hz) speaking "
                 f"{ESPEAK_TEXT!r}."),
        "source": {"repo": "OpenBMB/UltraEval-Audio", "commit": commit,
                   "file": "audio_evals/lib/DNSMOS/main.py"},
        "versions": {"librosa": librosa.__version__, "numpy": numpy.__version__,
                     "onnxruntime": onnxruntime.__version__,
                     "python": sys.version.split()[0]},
        "clips": clips,
    }
    OUT.write_text(json.dumps(truth, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {OUT}: {len(clips)} clips")


if __name__ == "__main__":
    if sys.argv[1] == "inputs":
        make_inputs(Path(sys.argv[2]))
    elif sys.argv[1] == "score":
        score(Path(sys.argv[2]), Path(sys.argv[3]), Path(sys.argv[4]))
    else:
        raise SystemExit("usage: record_dnsmos_ultraeval.py inputs DIR | score DIR "
                         "ULTRAEVAL_CHECKOUT SPEECHMOS_DIR")
