"""scripts/make_vllm_stub_wheel.py: the metadata-only `vllm` wheel the CPU install adds so
vLLM's CLI finds its distribution name. Built twice it is the same file; pip installs it
and importlib.metadata then answers what vLLM asks (version with `+cpu`)."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "make_vllm_stub_wheel.py"


def build(out: Path) -> Path:
    done = subprocess.run([sys.executable, str(SCRIPT), str(out), "0.32.0+cpu"],
                          capture_output=True, text=True, check=True)
    return Path(done.stdout.strip())


def test_the_wheel_is_reproducible_and_metadata_only(tmp_path: Path) -> None:
    first, second = build(tmp_path / "a"), build(tmp_path / "b")
    assert first.name == "vllm-0.32.0+cpu-py3-none-any.whl"
    assert first.read_bytes() == second.read_bytes()
    with zipfile.ZipFile(first) as zf:
        assert sorted(zf.namelist()) == [f"vllm-0.32.0+cpu.dist-info/{n}"
                                         for n in ("METADATA", "RECORD", "WHEEL")]


def test_pip_installs_it_and_metadata_reports_the_cpu_version(tmp_path: Path) -> None:
    wheel = build(tmp_path / "wheel")
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-index",
                    "--target", str(target), str(wheel)], check=True)
    code = ("import importlib.metadata as m, sys; sys.path.insert(0, sys.argv[1]); "
            "d = m.distribution('vllm'); print(d.version, bool(d.read_text('RECORD')))")
    out = subprocess.run([sys.executable, "-c", code, str(target)], capture_output=True,
                         text=True, check=True).stdout.split()
    # "cpu" in the version: vLLM picks its CPU platform; a RECORD: pip can uninstall it
    assert out == ["0.32.0+cpu", "True"]
