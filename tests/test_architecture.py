"""The layering rule of docs/architecture.md, checked on every import in src/audiogate.

registry -> datasets -> engines -> scoring -> gate -> results -> runner: a module imports
only what stands before it on the line or in its own folder, plus the shared vocabulary
(samples, errors, paths), and no modules import each other, directly or round a longer
loop (inside one folder too). plugin/ and cli/ are the front doors and the package root
pins the CPU kernels: they may import the line, and nothing imports them (the package's
``__version__`` aside). There is no list of exceptions: an import against the rule fails
here, whatever its reason.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "audiogate"
PAGE = SRC.parents[1] / "docs" / "architecture.md"
LINE = ["registry", "datasets", "engines", "scoring", "gate", "results", "runner"]
SHARED = {"samples", "errors", "paths"}
FRONT_DOORS = {"plugin", "cli"}
ROOT = ""  # the package itself: src/audiogate/__init__.py
VERSION = "__version__"  # the one name any module may take from the package root
# The report writers: files (called by results/writers.py), the terminal, JUnit properties.
REPORT_WRITERS = ("markdown", "json_report", "chart", "html", "terminal", "junit")


def _module(path: Path, src: Path) -> str:
    """`src/audiogate/gate/paired.py` -> `audiogate.gate.paired`; a package's __init__.py
    is the package."""
    parts = [src.name, *path.relative_to(src).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _stage(module: str) -> str:
    """`audiogate.gate.paired` -> `gate`; `audiogate.runner` -> `runner`; `audiogate` -> ""."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ROOT


def graph(src: Path = SRC) -> dict[str, dict[str, set[str]]]:
    """module -> {imported package module -> the names taken from it} for every import
    statement anywhere in the file (functions and ``if TYPE_CHECKING:`` blocks included;
    relative imports resolved). ``from a.b import c`` is an import of ``a.b.c`` when that
    is a module, else of ``a.b``."""
    files = {_module(p, src): p for p in sorted(src.rglob("*.py"))}
    found: dict[str, dict[str, set[str]]] = {m: {} for m in files}
    for module, path in files.items():
        package = module if path.name == "__init__.py" else module.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            targets: list[tuple[str, str]] = []
            if isinstance(node, ast.Import):
                targets = [(a.name, "") for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")[:len(package.split(".")) - node.level + 1]
                    base = ".".join([*anchor, *([base] if base else [])])
                for a in node.names:
                    sub = f"{base}.{a.name}"
                    targets.append((sub, "") if sub in files else (base, a.name))
            for target, name in targets:
                if target.split(".")[0] == src.name:
                    found[module].setdefault(target, set()).add(name)
    return found


def _why(here: str, there: str, names: set[str]) -> str | None:
    """Why an import from stage ``here`` of ``names`` in stage ``there`` breaks the rule
    (None: it keeps it)."""
    if here not in {*LINE, *SHARED, *FRONT_DOORS, ROOT}:
        return f"{here!r} is not on the line"
    if there == ROOT and names <= {VERSION}:
        return None
    if there == ROOT or (there in FRONT_DOORS and there != here):
        return "nothing imports a front door or the package root"
    if there in SHARED or there == here:
        return None
    if there not in LINE:
        return f"{there!r} is not on the line"
    if here in SHARED:
        return "the shared vocabulary imports only the shared vocabulary"
    if here in LINE and LINE.index(there) > LINE.index(here):
        return f"{there} stands after {here} on the line"
    return None  # a front door or the package root, importing the line


def violations(src: Path = SRC) -> list[str]:
    """Every import that runs against the line, as ``importer -> imported: why``."""
    bad = []
    for module, imported in graph(src).items():
        for target, names in imported.items():
            why = _why(_stage(module), _stage(target), names)
            if why is not None:
                bad.append(f"{module} -> {target}: {why}")
    return sorted(bad)


def cycles(src: Path = SRC) -> list[list[str]]:
    """The module loops (Tarjan's strongly connected components of more than one module,
    or a module that imports itself), each sorted."""
    found_imports = graph(src)
    edges = {m: sorted(t for t in targets if t in found_imports)
             for m, targets in found_imports.items()}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in edges[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = stack[stack.index(v):]
            del stack[stack.index(v):]
            if len(component) > 1 or v in edges[v]:
                found.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return sorted(found)


def test_every_import_runs_along_the_line() -> None:
    bad = violations()
    assert not bad, (
        "imports against the layering rule of docs/architecture.md (a module imports only "
        f"what stands before it on {' -> '.join(LINE)} or in its own folder, plus "
        f"{sorted(SHARED)}; nothing imports {sorted(FRONT_DOORS)}):\n" + "\n".join(bad))


def test_no_modules_import_each_other() -> None:
    loops = cycles()
    assert not loops, "modules that import each other (directly or round a loop):\n" + \
        "\n".join(" <-> ".join(loop) for loop in loops)


def test_report_writers_stand_side_by_side_under_one_entry_point() -> None:
    """No writer imports another; writers.py calls every writer of a report file."""
    imports = graph()
    writers = {f"audiogate.results.{name}" for name in REPORT_WRITERS}
    assert sorted((m, t) for m in writers for t in imports[m] if t in writers) == []
    assert writers - {"audiogate.results.terminal", "audiogate.results.junit"} \
        <= set(imports["audiogate.results.writers"])


def _package(tmp_path: Path, files: dict[str, str]) -> Path:
    src = tmp_path / "audiogate"
    for name, text in {"__init__.py": "", **files}.items():
        (src / name).parent.mkdir(parents=True, exist_ok=True)
        (src / name).write_text(text, encoding="utf-8")
        init = (src / name).parent / "__init__.py"
        if not init.exists():
            init.write_text("", encoding="utf-8")
    return src


def test_the_checker_refuses_each_kind_of_backward_import(tmp_path: Path) -> None:
    src = _package(tmp_path, {
        "errors.py": "",
        "samples.py": "from audiogate.errors import E\nfrom audiogate.scoring.pair import P\n",
        "scoring/pair.py": "from audiogate.errors import E\nfrom audiogate.gate import decide\n",
        "gate/decide.py": "from audiogate.scoring.pair import P\n"
                          "from typing import TYPE_CHECKING\n"
                          "if TYPE_CHECKING:\n    from ..results.report import Row\n",
        "results/report.py": "def f():\n    from audiogate.runner import error_line\n",
        "runner.py": "import audiogate.plugin\nfrom audiogate import __version__\n",
        "plugin/__init__.py": "from audiogate.cli import main\nfrom audiogate import thing\n",
        "cli/__init__.py": "from audiogate.results import report\n",
        "extra.py": "from audiogate.errors import E\n",
    })
    assert violations(src) == [
        "audiogate.extra -> audiogate.errors: 'extra' is not on the line",
        "audiogate.gate.decide -> audiogate.results.report: results stands after gate on "
        "the line",
        "audiogate.plugin -> audiogate.cli: nothing imports a front door or the package root",
        "audiogate.plugin -> audiogate: nothing imports a front door or the package root",
        "audiogate.results.report -> audiogate.runner: runner stands after results on the "
        "line",
        "audiogate.runner -> audiogate.plugin: nothing imports a front door or the package "
        "root",
        "audiogate.samples -> audiogate.scoring.pair: the shared vocabulary imports only the "
        "shared vocabulary",
        "audiogate.scoring.pair -> audiogate.gate.decide: gate stands after scoring on the "
        "line",
    ]


def test_the_checker_finds_loops_inside_one_folder_and_across(tmp_path: Path) -> None:
    src = _package(tmp_path, {
        "results/report.py": "from audiogate.results.html import FILENAME\n",
        "results/html.py": "from typing import TYPE_CHECKING\n"
                           "if TYPE_CHECKING:\n    from audiogate.results.report import Row\n",
        "results/terminal.py": "from audiogate.results.report import Row\n",
        "gate/a.py": "from . import b\n",
        "gate/b.py": "def f():\n    import audiogate.gate.c\n",
        "gate/c.py": "from audiogate.gate.a import x\n",
        "scoring/self.py": "from audiogate.scoring import self\n",
    })
    assert cycles(src) == [["audiogate.gate.a", "audiogate.gate.b", "audiogate.gate.c"],
                           ["audiogate.results.html", "audiogate.results.report"],
                           ["audiogate.scoring.self"]]


def _module_list() -> Iterator[tuple[str, str]]:
    """(folder, file) for every ``name.py`` the page's module list names."""
    block = PAGE.read_text(encoding="utf-8").split("## The modules", 1)[1].split("```")[1]
    folder = ""
    for line in block.splitlines():
        head = line[2:].split(" ", 1)[0] if line.startswith("  ") and line[2:3] != " " else None
        if head is not None:
            folder = head if head.endswith("/") else ""
        for name in re.findall(r"\b\w+\.py\b", line):
            yield folder, name


def test_the_architecture_page_draws_the_line_and_names_real_modules() -> None:
    page = PAGE.read_text(encoding="utf-8")
    line = " ──▶ ".join(LINE)
    assert line in page, f"{PAGE} does not draw the line {line!r}"
    for name in [*SHARED, *FRONT_DOORS]:
        assert f"`{name}" in page, name
    assert "exception" not in page.lower(), "the rule has no exceptions"
    named = list(_module_list())
    assert ("results/", "report.py") in named
    assert [f"{folder}{name}" for folder, name in named
            if not (SRC / folder / name).is_file()] == []
