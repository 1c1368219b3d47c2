"""What a speed measurement ran on: the CPU model and cores, the GPU model and count.

Why: a latency measured on one machine says nothing about another, so a speed entry in
thresholds.yaml records these facts and a run elsewhere is "not comparable", never a pass
or a fail. Read from the operating system (``/proc/cpuinfo``, ``nvidia-smi``), never from
a deep-learning framework (importing one costs seconds and may not be installed).
"""

from __future__ import annotations

import functools
import ipaddress
import os
import platform
import shutil
import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

LOCAL_HOSTS = {"localhost", "ip6-localhost"}
# What a server on another machine runs on, as its owner declares it ("8x NVIDIA H100").
SERVER_HARDWARE_ENV = "AUDIOGATE_SERVER_HARDWARE"


@functools.cache
def cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo``), else what the platform module says."""
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name" and value.strip():
                return value.strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def cpu_count() -> int:
    """Cores this process may use (its affinity mask: a container's share, not the host's)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


@functools.cache
def gpus() -> tuple[str, ...]:
    """The visible NVIDIA GPUs' names (``nvidia-smi``), honouring CUDA_VISIBLE_DEVICES given
    as indices; () without nvidia-smi."""
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return ()
    try:
        out = subprocess.run([smi, "--query-gpu=name", "--format=csv,noheader"],
                             capture_output=True, text=True, timeout=20, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return ()
    names = [n.strip() for n in out.stdout.splitlines() if n.strip()] if out.returncode == 0 \
        else []
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None and all(p.strip().isdigit() for p in visible.split(",") if p.strip()):
        wanted = [int(p) for p in visible.split(",") if p.strip()]
        names = [names[i] for i in wanted if i < len(names)]
    return tuple(names)


def is_local(url: str) -> bool:
    """Whether ``url`` names this machine (a loopback address or localhost)."""
    host = (urlsplit(url).hostname or "").lower()
    if host in LOCAL_HOSTS:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def load_average() -> float | None:
    """The 1-minute load average (how busy the machine was: noise, not identity)."""
    try:
        return round(os.getloadavg()[0], 2)
    except (AttributeError, OSError):
        return None


def host_facts(server_urls: list[str] | None = None) -> dict[str, Any]:
    """Where the model ran. An engine that sends requests to a server on another machine
    ran there: its hardware is not this machine's and cannot be read from here, so the
    facts say so (``server``) instead of naming this machine's CPU."""
    remote = [u for u in server_urls or [] if not is_local(u)]
    if remote:
        hosts = sorted({urlsplit(u).netloc for u in remote})
        declared = os.environ.get(SERVER_HARDWARE_ENV, "").strip() or None
        return {"server": ", ".join(hosts), "server_hardware": declared, "cpu": None,
                "cpus": None, "gpu": None, "gpu_count": None, "load_1m": None}
    names = gpus()
    return {"cpu": cpu_model(), "cpus": cpu_count(),
            "gpu": ", ".join(sorted(set(names))) if names else None,
            "gpu_count": len(names), "load_1m": load_average()}
