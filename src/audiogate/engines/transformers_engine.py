"""``engine: transformers``: a Hugging Face checkpoint in-process, batched (pip install -e
'.[transformers]').

Three model shapes (``transformers.class`` in the entry):

- ``speech-seq2seq``: ``AutoModelForSpeechSeq2Seq`` + its processor (Whisper and kin).
  Audio over the encoder's 30 s goes through Whisper's own long-form generation in
  transformers (sequential 30 s windows, each starting at the last timestamp of the one
  before); the windows each recording was decoded in are in its record. Short and long
  recordings never share a batch (long-form decodes with timestamps).
- ``ctc``: ``AutoModelForCTC`` + its processor; greedy CTC over each clip's own frames.
  Long recordings: the entry's ``max_audio_seconds`` windows cut at pauses (windowed.py).
- ``audio-chat``: ``AutoModelForMultimodalLM`` (the checkpoint's architecture) +
  ``AutoProcessor`` + ``generate``, the entry's prompt rendered by the checkpoint's chat
  template (Qwen2-Audio's shape), with the entry's ``chat:`` audio parts and ``answer:``
  rules, like a served chat model.

Batches of ``transformers.batch_size`` requests, sorted by length (batching.py); padding
does not change a transcript (tests/engines/test_transformers_engine.py checks it per
shape); a CTC model without an attention mask (group-norm wav2vec2) would be changed by
padding, so it runs one clip at a time and its identity says so.

Identity: the weights' content sha256, device and dtype, torch and transformers versions,
the generation settings (the entry's over the checkpoint's generation_config.json, which
is in the weights), the torch kernels in force (cpu_kernels.py) and the CPU threads.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from audiogate.datasets.audio import TARGET_RATE
from audiogate.engines import EngineContext, cpu_kernels
from audiogate.engines.batching import batch_timing, run_batched
from audiogate.engines.openai_engine import ChatSettings, conversation, sent_windows
from audiogate.engines.weights import content_fingerprint, resolve
from audiogate.errors import EngineError, RegistryError
from audiogate.registry.load import ModelSpec
from audiogate.registry.schema import TRANSFORMERS_KEYS
from audiogate.samples import Output, Request, Windows

CLASSES = ("speech-seq2seq", "ctc", "audio-chat")
SETTINGS = TRANSFORMERS_KEYS  # the keys of the entry's `transformers:` block
DTYPES = ("float32", "float16", "bfloat16")
# Measured on CPU (tests/perf/test_perf_transformers.py: Whisper tiny.en, 16 test-other
# clips, one thread): batch 1 76 s, 4 52 s, 8 52-57 s, 16 69 s; sorted by length 8 beat
# unsorted 8 (65 s). 4 and 8 tie within the shared machine's noise; 8 keeps a GPU busier.
DEFAULT_BATCH = 8
WHISPER_WINDOW_SECONDS = 30.0  # the encoder's input (n_samples of the feature extractor)


def _version(dist: str) -> str:
    from importlib.metadata import version

    return version(dist)


class TransformersEngine:
    """One model for the whole run; ``run`` batches the requests."""

    needs_audio = True

    def __init__(self, spec: ModelSpec, model_dir: Path, cache_dir: Path) -> None:
        block = dict(spec.options.get("transformers") or {})
        unknown = set(block) - SETTINGS
        if unknown:
            raise RegistryError(f"model {spec.name!r}: transformers: unknown setting(s) "
                                f"{sorted(unknown)}; known: {', '.join(sorted(SETTINGS))}")
        loading = time.perf_counter()
        self.name = spec.name
        self.shape = str(block.get("class", "speech-seq2seq"))
        if self.shape not in CLASSES:
            raise RegistryError(f"model {spec.name!r}: transformers.class must be one of "
                                f"{', '.join(CLASSES)}, not {self.shape!r}")
        self.dtype_name = str(block.get("dtype", "float32"))
        if self.dtype_name not in DTYPES:
            raise RegistryError(f"model {spec.name!r}: transformers.dtype must be one of "
                                f"{', '.join(DTYPES)}, not {self.dtype_name!r}")
        batch = block.get("batch_size", DEFAULT_BATCH)
        if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
            raise RegistryError(f"model {spec.name!r}: transformers.batch_size must be a "
                                f"whole number >= 1, not {batch!r}")
        self.batch_size = batch
        self.sort = bool(block.get("sort_by_length", True))
        self.skip_special = bool(block.get("skip_special_tokens", True))
        generation = spec.options.get("generation") or {}
        if not isinstance(generation, dict):
            raise RegistryError(f"model {spec.name!r}: generation must be a mapping of "
                                f"generate() arguments, not {generation!r}")
        self.generation: dict[str, Any] = dict(generation)
        self.chat = ChatSettings(dict(spec.options.get("chat") or {}))
        self.prompts = dict(spec.options.get("prompts") or {})
        self.weights_name = str(spec.options.get("weights"))
        self.kernels = cpu_kernels.pin_torch()  # before torch loads: it reads them once
        try:
            import torch
            import transformers
        except ImportError as exc:
            raise RegistryError(f"model {spec.name!r} (engine transformers) needs torch and "
                                "transformers: pip install -e '.[transformers]'") from exc
        self._torch = torch
        self.device = resolve_device(str(block.get("device", "auto")), torch, spec.name)
        self.threads: int | None = None
        if self.device.type == "cpu":
            from audiogate.engines.whisper_cpu import cpu_threads

            self.threads = cpu_threads()
            torch.set_num_threads(self.threads)
        self.versions = {"torch": torch.__version__, "transformers": transformers.__version__}
        self._weights = content_fingerprint(model_dir, cache_dir)
        dtype = getattr(torch, self.dtype_name)
        self._head = HEADS[self.shape](self, model_dir, dtype)
        # Read once, while the model is loaded: the identity outlives close().
        self._head_identity = self._head.identity()
        self.effective_batch = self.batch_size if self._head.padding_safe else 1
        self.load_seconds = time.perf_counter() - loading  # torch's import and the weights

    def identity(self) -> dict[str, Any]:
        device = {"type": self.device.type}
        if self.device.type == "cuda":
            torch = self._torch
            device.update(name=torch.cuda.get_device_name(self.device),
                          cuda=torch.version.cuda)
        ident: dict[str, Any] = {
            "engine": "transformers", "model": self.name, "class": self.shape,
            "weights": self._weights, "weights_name": self.weights_name, "device": device,
            "dtype": self.dtype_name, **self.versions, "kernels": self.kernels,
            "threads": self.threads, "batch_size": self.effective_batch,
            "generation": self.generation, **self._head_identity,
        }
        if self.shape == "audio-chat":
            ident.update(chat=self.chat.identity(), prompts=self.prompts,
                         skip_special_tokens=self.skip_special)
        return ident

    def run(self, requests: Iterable[Request]) -> Iterator[Output]:
        return run_batched(requests, self.effective_batch, self._timed, f"{self.name}",
                           sort=self.sort, group=self._head.group)

    def _timed(self, batch: list[Request]) -> list[Output]:
        started = time.perf_counter()
        with self._torch.inference_mode():
            results = self._head.infer(batch)
        timing = batch_timing(time.perf_counter() - started, len(batch))
        return [Output(r.sample.id, text, timing.latency, windows=windows, timing=timing)
                for r, (text, windows) in zip(batch, results, strict=True)]

    def close(self) -> None:
        self._head = None  # type: ignore[assignment]


def resolve_device(value: str, torch: Any, model: str) -> Any:
    """``auto``: CUDA when present, else the CPU; or the device named (``cpu``, ``cuda:1``)."""
    if value == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(value)
    except RuntimeError as exc:
        raise RegistryError(f"model {model!r}: transformers.device {value!r}: {exc}") from exc
    if device.type == "cuda" and not torch.cuda.is_available():
        raise RegistryError(f"model {model!r}: transformers.device {value!r}, but torch sees "
                            "no CUDA device here (device: auto picks the CPU then)")
    return device


Result = tuple[str, Windows | None]


class _Head:
    """One model shape: loading, batching rule, inference."""

    padding_safe = True

    def __init__(self, engine: TransformersEngine, model_dir: Path, dtype: Any) -> None:
        self.engine = engine
        self.torch = engine._torch

    def identity(self) -> dict[str, Any]:
        return {}

    def group(self, request: Request) -> Any:
        return (request.language, request.prompt is not None)

    def infer(self, batch: list[Request]) -> list[Result]:
        raise NotImplementedError


def _load(auto: Any, model_dir: Path, dtype: Any, device: Any) -> Any:
    model = auto.from_pretrained(str(model_dir), dtype=dtype)
    return model.to(device).eval()


class WhisperHead(_Head):
    """Speech seq2seq: one generate call per batch; long-form for audio over 30 s."""

    def __init__(self, engine: TransformersEngine, model_dir: Path, dtype: Any) -> None:
        super().__init__(engine, model_dir, dtype)
        from transformers import AutoModelForSpeechSeq2Seq, AutoProcessor

        self.processor = AutoProcessor.from_pretrained(str(model_dir))
        self.model = _load(AutoModelForSpeechSeq2Seq, model_dir, dtype, engine.device)
        self.dtype = dtype
        config = self.model.generation_config
        self.multilingual = bool(getattr(config, "is_multilingual", False))
        extractor = self.processor.feature_extractor
        self.window_samples = int(getattr(extractor, "n_samples", 30 * TARGET_RATE))
        self.frame_seconds = float(extractor.hop_length) / float(extractor.sampling_rate)

    def identity(self) -> dict[str, Any]:
        return {"multilingual": self.multilingual, "long_audio": {
            "method": "transformers Whisper long-form generation (sequential 30 s windows, "
                      "timestamps)", "window_seconds": self.window_samples / TARGET_RATE,
            "return_timestamps": True}}

    def group(self, request: Request) -> Any:
        return (request.language, len(request.audio) > self.window_samples)

    def _language(self, batch: list[Request]) -> dict[str, Any]:
        if not self.multilingual:
            return {}
        return {"language": batch[0].language, "task": "transcribe"}

    def _long_features(self, audios: list[np.ndarray]) -> tuple[Any, Any]:
        """Log-mel features of each recording computed alone, then padded with zeros
        (what generate pads a last window with) to the longest, with the frame mask.

        Not the extractor's own batch padding: it pads the AUDIO, which moves the last
        frames of every shorter recording (their STFT windows reach into the padding) and
        so its last window's text (measured on test-other chapter 2033-164914)."""
        torch = self.torch
        extractor = self.processor.feature_extractor
        alone = [extractor([audio], sampling_rate=TARGET_RATE, return_tensors="pt",
                           truncation=False, padding="longest", return_attention_mask=True)
                 for audio in audios]
        frames = max(f.input_features.shape[-1] for f in alone)
        features = torch.cat([torch.nn.functional.pad(
            f.input_features, (0, frames - f.input_features.shape[-1])) for f in alone])
        mask = torch.cat([torch.nn.functional.pad(
            f.attention_mask, (0, frames - f.attention_mask.shape[-1])) for f in alone])
        return features, mask

    def infer(self, batch: list[Request]) -> list[Result]:
        audios = [np.asarray(r.audio, dtype=np.float32) for r in batch]
        long_form = any(len(a) > self.window_samples for a in audios)
        extractor = self.processor.feature_extractor
        if not long_form:
            features = extractor(audios, sampling_rate=TARGET_RATE, return_tensors="pt")
            ids = self.model.generate(
                features.input_features.to(self.engine.device, self.dtype),
                **self._language(batch), **self.engine.generation)
            texts = self.processor.batch_decode(ids, skip_special_tokens=True)
            return [(t.strip(), [[0.0, round(len(a) / TARGET_RATE, 2)]])
                    for t, a in zip(texts, audios, strict=True)]
        features, mask = self._long_features(audios)
        seeks: list[list[int]] = [[] for _ in batch]

        def monitor(progress: Any) -> None:
            for i, (seek, total) in enumerate(progress.tolist()):
                if seek < total and (not seeks[i] or seeks[i][-1] != seek):
                    seeks[i].append(int(seek))
                    report = batch[i].progress
                    if report is not None:
                        report(seek * self.frame_seconds)

        ids = self.model.generate(
            features.to(self.engine.device, self.dtype),
            attention_mask=mask.to(self.engine.device),
            return_timestamps=True, monitor_progress=monitor,
            **self._language(batch), **self.engine.generation)
        texts = self.processor.batch_decode(ids, skip_special_tokens=True)
        window = self.window_samples / TARGET_RATE
        results: list[Result] = []
        for text, audio, starts in zip(texts, audios, seeks, strict=True):
            duration = len(audio) / TARGET_RATE
            spans = [[round(s * self.frame_seconds, 2),
                      round(min(s * self.frame_seconds + window, duration), 2)]
                     for s in starts]
            results.append((text.strip(), spans))
        return results


class CtcHead(_Head):
    """CTC: one forward pass per batch, greedy decoding over each clip's own frames."""

    def __init__(self, engine: TransformersEngine, model_dir: Path, dtype: Any) -> None:
        super().__init__(engine, model_dir, dtype)
        from transformers import AutoModelForCTC, AutoProcessor

        self.processor = AutoProcessor.from_pretrained(str(model_dir))
        self.model = _load(AutoModelForCTC, model_dir, dtype, engine.device)
        self.dtype = dtype
        extractor = getattr(self.processor, "feature_extractor", self.processor)
        # Without an attention mask, the padding is heard (group-norm wav2vec2): such a
        # model runs one clip at a time, so no transcript depends on its neighbours.
        self.padding_safe = bool(getattr(extractor, "return_attention_mask", False))

    def identity(self) -> dict[str, Any]:
        return {"decoding": "greedy CTC (argmax, repeats merged, blanks dropped)",
                "padding_safe": self.padding_safe}

    def infer(self, batch: list[Request]) -> list[Result]:
        torch = self.torch
        audios = [np.asarray(r.audio, dtype=np.float32) for r in batch]
        inputs = self.processor(audios, sampling_rate=TARGET_RATE, return_tensors="pt",
                                padding=True, return_attention_mask=self.padding_safe)
        values = inputs.input_values.to(self.engine.device, self.dtype)
        mask = inputs.get("attention_mask")
        logits = self.model(values, attention_mask=None if mask is None else
                            mask.to(self.engine.device)).logits
        predicted = torch.argmax(logits, dim=-1).cpu()
        if mask is not None:
            frames = self.model._get_feat_extract_output_lengths(mask.sum(-1)).tolist()
        else:
            frames = [predicted.shape[1]] * len(batch)
        texts = self.processor.batch_decode([p[:n] for p, n in zip(predicted, frames,
                                                                      strict=True)])
        return [(t.strip(), [[0.0, round(len(a) / TARGET_RATE, 2)]])
                for t, a in zip(texts, audios, strict=True)]


class ChatHead(_Head):
    """Audio chat: the prompt through the chat template, audio parts through the processor,
    new tokens decoded."""

    def __init__(self, engine: TransformersEngine, model_dir: Path, dtype: Any) -> None:
        super().__init__(engine, model_dir, dtype)
        import transformers

        self.processor = transformers.AutoProcessor.from_pretrained(str(model_dir))
        self.processor.tokenizer.padding_side = "left"  # generation continues on the right
        auto = getattr(transformers, "AutoModelForMultimodalLM", None)
        if auto is None:  # an older transformers: the checkpoint's own class
            config = transformers.AutoConfig.from_pretrained(str(model_dir))
            auto = getattr(transformers, (config.architectures or ["?"])[0])
        self.model = _load(auto, model_dir, dtype, engine.device)
        self.dtype = dtype
        self.template = getattr(self.processor, "chat_template", None)
        if not self.template:
            raise RegistryError(f"model {engine.name!r}: {model_dir} has no chat template "
                                "(chat_template.jinja or the processor's chat_template)")

    def identity(self) -> dict[str, Any]:
        return {"chat_template": self.template}

    def _conversation(self, request: Request) -> tuple[list[dict[str, Any]], list[Any]]:
        """The messages and the audio parts, in order (the template places one audio
        placeholder per part)."""
        chat = self.engine.chat
        parts = request.prompt if request.prompt is not None else (("audio", ""),)
        content: list[dict[str, Any]] = []
        audios: list[Any] = []
        for kind, text in parts:
            if kind == "text":
                content.append({"type": "text", "text": text})
            elif kind == "audio":
                for chunk in chat.chunks(request):
                    content.append({"type": "audio"})
                    audios.append(np.asarray(chunk, dtype=np.float32))
            else:
                raise EngineError(f"sample {request.sample.id}: unknown prompt part {kind!r}")
        if chat.max_audios is not None and len(audios) > chat.max_audios:
            raise EngineError(f"sample {request.sample.id}: {len(audios)} audio parts, but "
                              f"the model takes at most {chat.max_audios} per prompt "
                              "(chat.max_audios_per_prompt)")
        return conversation(content, chat), audios

    def infer(self, batch: list[Request]) -> list[Result]:
        prefix = self.engine.chat.assistant_prefix is not None
        texts, audios, sent = [], [], []
        for request in batch:
            messages, parts = self._conversation(request)
            texts.append(self.processor.apply_chat_template(
                messages, tokenize=False, add_generation_prompt=not prefix,
                continue_final_message=prefix))
            audios += parts
            sent.append(sent_windows(parts))
        inputs = self.processor(text=texts, audio=audios or None, sampling_rate=TARGET_RATE,
                                return_tensors="pt", padding=True)
        inputs = inputs.to(self.engine.device)
        if "input_features" in inputs:
            inputs["input_features"] = inputs["input_features"].to(self.dtype)
        ids = self.model.generate(**inputs, **self.engine.generation)
        new = ids[:, inputs["input_ids"].shape[1]:]
        answers = self.processor.batch_decode(new, skip_special_tokens=self.engine.skip_special)
        return list(zip(answers, sent, strict=True))


HEADS: dict[str, Callable[[TransformersEngine, Path, Any], _Head]] = {
    "speech-seq2seq": WhisperHead, "ctc": CtcHead, "audio-chat": ChatHead}


def from_spec(spec: ModelSpec, ctx: EngineContext) -> TransformersEngine:
    weights = spec.options.get("weights")
    if not weights:
        raise RegistryError(f"model {spec.name!r}: a transformers entry needs `weights:` (a "
                            "known name such as hf:whisper-base, env:VAR, or the absolute "
                            "path of a Hugging Face checkpoint folder)")
    model_dir = resolve(str(weights), ctx.cache_dir, marker="config.json",
                        layout="Hugging Face")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")  # no fork warnings under xdist
    return TransformersEngine(spec, model_dir, ctx.cache_dir)
