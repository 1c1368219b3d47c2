"""Whisper's decoder prompt follows the checkpoint's vocabulary, and the vLLM plugin that
fixes the served prompt does nothing unless asked (it loads in every vLLM process)."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

from audiogate.engines.vllm_whisper_en_prompt import english_only_prompt
from audiogate.engines.whisper_prompt import decoder_prompt


def test_multilingual_and_english_only_prompts() -> None:
    assert decoder_prompt("zh", 51865) == \
        "<|startoftranscript|><|zh|><|transcribe|><|notimestamps|>"
    assert decoder_prompt("en", 51864) == "<|startoftranscript|><|notimestamps|>"


def _vllm_prompt(language: str) -> dict[str, Any]:
    """What vLLM 0.32's Whisper get_generation_prompt returns (decoder side)."""
    return {"encoder_prompt": {"prompt": ""}, "decoder_prompt": {
        "prompt": f"<|startoftranscript|><|{language}|><|transcribe|><|notimestamps|>"}}


def test_the_plugin_rewrites_only_english_only_checkpoints() -> None:
    fixed = english_only_prompt(_vllm_prompt("en"), 51864, "en", "transcribe")
    assert fixed["decoder_prompt"]["prompt"] == "<|startoftranscript|><|notimestamps|>"
    kept = english_only_prompt(_vllm_prompt("en"), 51865, "en", "transcribe")
    assert kept == _vllm_prompt("en")


def test_the_plugin_is_registered_and_inert_without_its_variable() -> None:
    from importlib.metadata import entry_points

    [plugin] = [e for e in entry_points(group="vllm.general_plugins")
                if e.name == "audiogate_whisper_en_prompt"]
    assert plugin.value == "audiogate.engines.vllm_whisper_en_prompt:register"
    code = ("import sys; from audiogate.engines.vllm_whisper_en_prompt import register; "
            "register(); print('vllm' in sys.modules)")
    env = {"PATH": str(__import__("pathlib").Path(sys.executable).parent)}
    if "PYTHONPATH" in os.environ:  # a worktree's sources on a shared venv
        env["PYTHONPATH"] = os.environ["PYTHONPATH"]
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env=env, check=True).stdout
    assert out.strip() == "False"  # returned before touching vLLM
