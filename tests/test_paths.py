"""The default data root, as every entry point resolves it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from audiogate.paths import DATA_ROOT_ENV, default_data_root

REPO = Path(__file__).resolve().parents[1]


def _project(folder: Path, ini: str) -> Path:
    folder.mkdir(parents=True)
    (folder / "pyproject.toml").write_text(f"[tool.pytest.ini_options]\n{ini}\n")
    return folder


def test_a_checkout_with_the_ini_value_defaults_to_it(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(DATA_ROOT_ENV, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    project = _project(tmp_path / "proj", 'audiogate_data_root = "demo"')
    (project / "sub").mkdir()
    assert default_data_root(project / "sub") == project.resolve() / "demo"
    # A project without the setting (a library user's) never sees it.
    other = _project(tmp_path / "user", 'addopts = "-q"')
    assert default_data_root(other) == tmp_path / "cache" / "audiogate" / "data"
    assert default_data_root() == tmp_path / "cache" / "audiogate" / "data"
    monkeypatch.setenv(DATA_ROOT_ENV, str(tmp_path / "mine"))
    assert default_data_root(project) == tmp_path / "mine"


def test_the_data_command_reads_this_checkouts_demo_data(tmp_path: Path) -> None:
    """`audiogate data list` run in the checkout looks where `pytest benchmarks` looks."""
    env = {k: v for k, v in __import__("os").environ.items() if k != DATA_ROOT_ENV}
    env["XDG_CACHE_HOME"] = str(tmp_path / "cache")
    out = subprocess.run([sys.executable, "-m", "audiogate.cli", "data", "list"], cwd=REPO / "src",
                         env=env, capture_output=True, text=True, check=True).stdout
    assert out.splitlines()[0] == f"data root: {REPO / 'data'}"
    assert any(line.startswith("librispeech-test-clean") and "6/" in line
               for line in out.splitlines()), out
