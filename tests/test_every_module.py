"""Every module of src/audiogate is loaded by the fast tier (`pytest tests`), so no module can
drop out of it unseen: one that no longer imports (a missing dependency, a broken name)
fails here by name, whatever the other fast tests exercise."""

from __future__ import annotations

import importlib
import pkgutil

import pytest

import audiogate

# `python -m audiogate.cli` runs the command line when imported: the CLI tests run it.
MODULES = sorted(m.name for m in pkgutil.walk_packages(audiogate.__path__, "audiogate.")
                 if not m.name.endswith(".__main__"))


def test_the_walk_finds_every_layer_of_the_package() -> None:
    layers = {name.split(".")[1] for name in MODULES}
    assert {"registry", "datasets", "engines", "scoring", "gate", "results", "plugin",
            "cli", "runner", "samples"} <= layers


@pytest.mark.parametrize("name", MODULES)
def test_the_module_imports(name: str) -> None:
    assert importlib.import_module(name).__name__ == name
