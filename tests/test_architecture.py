"""The layering rule of docs/architecture.md, checked on every import in src/audiogate.

registry -> datasets -> engines -> scoring -> gate -> results: a module imports only what
stands before it on the line, plus the shared vocabulary (samples, errors, paths). plugin/
and cli/ are the front doors: they may import anything, and nothing imports them. The few
imports that depart from the rule today are listed below with their reason, so a new one
fails here instead of slipping in unseen.
"""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "audiogate"
LINE = ["registry", "datasets", "engines", "scoring", "gate", "results"]
SHARED = {"samples", "errors", "paths"}
FRONT_DOORS = {"plugin", "cli", "runner", "__init__", "__main__"}

# (importing file, imported audiogate module): why it is allowed today (docs/architecture.md).
EXCEPTIONS = {
    ("gate/decide.py", "audiogate.results.diff_text"):
        "the verdict quotes the worst regressed utterances",
    ("gate/decide.py", "audiogate.results.pair_result"):
        "the verdict is of a PairResult, the record every stage reads",
    ("gate/decide.py", "audiogate.results.report"):
        "a run and a merge fill the same report Row",
    ("results/reassemble.py", "audiogate.runner"):
        "a merged pair's error lines are the runner's",
}


def _stage(module: str) -> str:
    """`audiogate.gate.paired` -> `gate`; `audiogate.runner` -> `runner`."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def imports() -> list[tuple[str, str]]:
    """(file relative to src/audiogate, imported audiogate module) for every import."""
    found = []
    for path in sorted(SRC.rglob("*.py")):
        rel = path.relative_to(SRC).as_posix()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                if node.module == "audiogate":
                    found += [(rel, f"audiogate.{a.name}") for a in node.names]
                elif node.module.startswith("audiogate."):
                    found.append((rel, node.module))
            elif isinstance(node, ast.Import):
                found += [(rel, a.name) for a in node.names if a.name.startswith("audiogate.")]
    return found


def violations() -> list[tuple[str, str]]:
    bad = []
    for rel, module in imports():
        here = rel.split("/")[0].removesuffix(".py")
        there = _stage(module)
        if here in FRONT_DOORS or there in SHARED or there == here or there == "__version__":
            continue
        if there in FRONT_DOORS or here not in LINE or there not in LINE \
                or LINE.index(there) > LINE.index(here):
            bad.append((rel, module))
    return bad


def test_every_import_follows_the_line_or_is_a_listed_exception() -> None:
    unexpected = sorted(set(violations()) - set(EXCEPTIONS))
    assert unexpected == [], (
        "imports against the layering rule of docs/architecture.md (a module imports only "
        f"what stands before it on {' -> '.join(LINE)}, plus {sorted(SHARED)}): {unexpected}")


def test_the_listed_exceptions_still_exist() -> None:
    """An exception that the code no longer needs is dropped from the list and the page."""
    assert sorted(set(EXCEPTIONS) - set(violations())) == []


def test_the_checker_sees_a_backward_import() -> None:
    assert ("gate/decide.py", "audiogate.results.pair_result") in violations()
    assert all(module != "audiogate.registry.load" for _, module in violations())


def test_the_architecture_page_states_the_rule_and_every_exception() -> None:
    page = (SRC.parents[1] / "docs" / "architecture.md").read_text(encoding="utf-8")
    assert " ──▶ ".join(LINE) in page
    for name in SHARED:
        assert f"`{name}`" in page
    for rel, _ in EXCEPTIONS:
        assert f"`{rel}`" in page, rel
