"""Fetch / verify / list against a real HTTP server on 127.0.0.1 serving real tarballs.

The tarballs are built here from the shared LibriSpeech test-clean slice in the official
archive layout (``LibriSpeech/test-clean/<spk>/<chapter>/...``), in tmp folders only.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import subprocess
import sys
import tarfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from decoded_slices import DecodedSlices

from audiogate.datasets import load_dataset
from audiogate.datasets.fetch import ChecksumMismatch, UnsafeArchive, fetch, verify
from audiogate.errors import DataError
from audiogate.registry.load import dataset

pytest_plugins = ["pytester"]

NAME = "librispeech-test-clean"
REPO = Path(__file__).resolve().parents[2]


@dataclass
class Served:
    """What the server holds and what it saw."""

    files: dict[str, bytes] = field(default_factory=dict)
    cut_first_after: int | None = None  # close the connection after N bytes, once
    requests: list[tuple[str, str | None]] = field(default_factory=list)  # (path, Range)


def _handler(state: Served) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:  # keep test output clean
            pass

        def do_GET(self) -> None:
            rng = self.headers.get("Range")
            state.requests.append((self.path, rng))
            body = state.files.get(self.path)
            if body is None:
                self.send_response(404)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            start = 0
            if rng and rng.startswith("bytes="):
                start = int(rng[6:].split("-")[0])
                if start >= len(body):
                    self.send_response(416)
                    self.send_header("Content-Range", f"bytes */{len(body)}")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_response(206)
                self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
            else:
                self.send_response(200)
            chunk = body[start:]
            self.send_header("Content-Length", str(len(chunk)))
            self.send_header("Accept-Ranges", "bytes")
            self.end_headers()
            if state.cut_first_after is not None:
                cut, state.cut_first_after = state.cut_first_after, None
                self.wfile.write(chunk[:cut])
                self.wfile.flush()
                self.close_connection = True
                return
            self.wfile.write(chunk)

    return Handler


@pytest.fixture
def server() -> Iterator[tuple[str, Served]]:
    state = Served()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", state
    finally:
        httpd.shutdown()
        httpd.server_close()


def _tarball(src: Path) -> bytes:
    """test-clean slice as the official archive lays it out."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        tar.add(src, arcname="LibriSpeech/test-clean")
    return buf.getvalue()


def _sources(body: bytes, *, md5: str | None = None, name: str = "test-clean.tar.gz",
             base: str = "http://unused.invalid") -> dict[str, object]:
    return {NAME: {
        "base_url": base, "dest": "LibriSpeech/test-clean", "take": "LibriSpeech/test-clean",
        "files": [{"path": f"resources/12/{name}", "extract": True,
                   "md5": md5 if md5 is not None else hashlib.md5(body).hexdigest()}],
    }}


@pytest.fixture(scope="module")
def archive(shared_data: Path) -> bytes:
    return _tarball(shared_data / "LibriSpeech" / "test-clean")


def _ids_refs(samples: list) -> list[tuple[str, str]]:
    return [(s.id, s.reference) for s in samples]


def test_fetch_verify_and_load_same_samples(server, archive, shared_data, tmp_path):
    url, state = server
    state.files["/resources/12/test-clean.tar.gz"] = archive
    root = tmp_path / "data"
    result = fetch(NAME, root, base_url=url, progress=False, sources=_sources(archive),
                   keep_archive=True)
    assert result.installed and result.dest == root / "LibriSpeech" / "test-clean"
    assert result.observed["test-clean.tar.gz"]["md5"] == hashlib.md5(archive).hexdigest()

    spec = dataset(NAME)
    fetched = load_dataset(spec, root)
    native = load_dataset(spec, shared_data)
    assert _ids_refs(fetched) == _ids_refs(native)
    assert len(fetched) == 6 and not any(s.error for s in fetched)

    report = verify(NAME, root, sources=_sources(archive))
    [status] = report.datasets
    assert (status.found, status.expected, status.status) == (6, 2620, "partial")
    assert report.archives == {"test-clean.tar.gz": "ok"}
    # no temp folders or .part left behind; a second fetch sees it installed
    assert sorted(p.name for p in root.iterdir()) == [".downloads", "LibriSpeech"]
    assert not list((root / ".downloads").glob("*.part"))
    again = fetch(NAME, root, base_url=url, progress=False, sources=_sources(archive))
    assert not again.installed


def test_cut_download_resumes_with_range(server, archive, tmp_path):
    url, state = server
    state.files["/resources/12/test-clean.tar.gz"] = archive
    half = len(archive) // 2
    state.cut_first_after = half
    root = tmp_path / "data"
    result = fetch(NAME, root, base_url=url, progress=False, sources=_sources(archive),
                   backoff=0)
    assert result.installed
    assert state.requests[0][1] is None
    assert state.requests[1][1] == f"bytes={half}-"
    assert (root / "LibriSpeech" / "test-clean" / "1089").is_dir()


def test_interrupted_without_retries_keeps_only_part_then_resumes(server, archive, tmp_path):
    url, state = server
    state.files["/resources/12/test-clean.tar.gz"] = archive
    state.cut_first_after = 1000
    root = tmp_path / "data"
    with pytest.raises(DataError, match="interrupted at 1000 bytes"):
        fetch(NAME, root, base_url=url, progress=False, sources=_sources(archive), retries=0)
    assert not (root / "LibriSpeech").exists()
    assert (root / ".downloads" / "test-clean.tar.gz.part").stat().st_size == 1000
    assert [p.name for p in root.iterdir() if p.name.startswith(".fetch")] == []

    fetch(NAME, root, base_url=url, progress=False, sources=_sources(archive), retries=0)
    assert state.requests[-1][1] == "bytes=1000-"
    assert (root / "LibriSpeech" / "test-clean").is_dir()


def test_mirror_from_environment(server, archive, tmp_path, monkeypatch):
    url, state = server
    state.files["/mirror/resources/12/test-clean.tar.gz"] = archive
    monkeypatch.setenv("AUDIOGATE_MIRROR", f"{url}/mirror")
    root = tmp_path / "data"
    assert fetch(NAME, root, progress=False, sources=_sources(archive)).installed


def test_bad_checksum_deletes_download_and_errors(server, archive, tmp_path):
    url, state = server
    state.files["/resources/12/test-clean.tar.gz"] = archive
    root = tmp_path / "data"
    wrong = "0" * 32
    with pytest.raises(ChecksumMismatch) as info:
        fetch(NAME, root, base_url=url, progress=False, sources=_sources(archive, md5=wrong))
    message = str(info.value)
    assert f"expected md5 {wrong}" in message
    assert f"got {hashlib.md5(archive).hexdigest()}" in message
    assert [p.name for p in (root / ".downloads").iterdir() if p.suffix != ".lock"] == []
    assert not (root / "LibriSpeech").exists()


def test_source_without_checksum_needs_no_verify_and_records_sha256(server, archive,
                                                                    tmp_path):
    url, state = server
    state.files["/resources/12/test-clean.tar.gz"] = archive
    sources = _sources(archive)
    sources[NAME]["files"][0]["md5"] = None  # type: ignore[index]
    root = tmp_path / "data"
    with pytest.raises(DataError, match="no official checksum"):
        fetch(NAME, root, base_url=url, progress=False, sources=sources)
    assert state.requests == []  # refused before downloading anything
    fetch(NAME, root, base_url=url, progress=False, sources=sources, verify=False)
    recorded = (root / ".downloads" / "test-clean.tar.gz.sha256").read_text()
    assert recorded.split()[0] == hashlib.sha256(archive).hexdigest()
    # the server now sends other bytes: the recorded sha256 catches it
    state.files["/resources/12/test-clean.tar.gz"] = _tarball(root / "LibriSpeech")
    with pytest.raises(ChecksumMismatch, match="recorded at its first download"):
        fetch(NAME, root, base_url=url, progress=False, sources=sources, verify=False,
              force=True)
    assert (root / "LibriSpeech" / "test-clean" / "1089").is_dir()  # old copy untouched


def _evil(kind: str) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        ok = tarfile.TarInfo("LibriSpeech/test-clean/README")
        ok.size = 2
        tar.addfile(ok, io.BytesIO(b"ok"))
        if kind == "dotdot":
            bad = tarfile.TarInfo("LibriSpeech/test-clean/../../escaped.txt")
            bad.size = 4
            tar.addfile(bad, io.BytesIO(b"evil"))
        else:
            bad = tarfile.TarInfo("LibriSpeech/test-clean/passwd")
            bad.type = tarfile.SYMTYPE
            bad.linkname = "/etc/passwd"
            tar.addfile(bad)
    return buf.getvalue()


@pytest.mark.parametrize(("kind", "member", "why"), [
    ("dotdot", "LibriSpeech/test-clean/../../escaped.txt", "`..`"),
    ("abs-symlink", "LibriSpeech/test-clean/passwd", "absolute path '/etc/passwd'"),
])
def test_unsafe_archive_is_refused_and_nothing_installed(server, tmp_path, kind, member, why):
    url, state = server
    body = _evil(kind)
    state.files["/resources/12/test-clean.tar.gz"] = body
    root = tmp_path / "data"
    with pytest.raises(UnsafeArchive) as info:
        fetch(NAME, root, base_url=url, progress=False, sources=_sources(body))
    assert repr(member) in str(info.value) and why in str(info.value)
    assert sorted(p.name for p in root.iterdir()) == [".downloads"]
    assert not (tmp_path / "escaped.txt").exists()


def _cli(*args: str, env_root: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "AUDIOGATE_DATA_ROOT": str(env_root)}
    return subprocess.run([sys.executable, "-m", "audiogate.cli", *args], capture_output=True,
                          text=True, env=env, timeout=120, check=False)


def test_cli_data_list(server, archive, tmp_path):
    url, state = server
    state.files["/resources/12/test-clean.tar.gz"] = archive
    root = tmp_path / "data"
    sources = tmp_path / "sources.yaml"
    md5 = hashlib.md5(archive).hexdigest()
    sources.write_text(
        f"{NAME}:\n  base_url: http://unused.invalid\n  dest: LibriSpeech/test-clean\n"
        f"  take: LibriSpeech/test-clean\n  files:\n"
        f"    - {{path: resources/12/test-clean.tar.gz, md5: {md5}, extract: true}}\n")
    got = _cli("data", "fetch", NAME, "--mirror", url, "--sources", str(sources), "--quiet",
               env_root=root)
    assert got.returncode == 0, got.stderr
    assert f"installed {root / 'LibriSpeech' / 'test-clean'}" in got.stdout

    listed = _cli("data", "list", env_root=root)
    assert listed.returncode == 0, listed.stderr
    rows = {line.split()[0]: line for line in listed.stdout.splitlines()[2:]}
    assert NAME in rows and "librispeech-dev-other" in rows
    assert rows[NAME].split()[1:3] == ["partial", "6/2620"]
    assert str(root / "LibriSpeech" / "test-clean") in rows[NAME]
    assert rows["librispeech-dev-other"].split()[1:3] == ["missing", "0/2864"]

    checked = _cli("data", "verify", NAME, env_root=root)
    assert checked.returncode == 1  # partial: 6 of 2620
    assert "partial" in checked.stdout


def test_write_error_keeps_only_resumable_part(server, archive, tmp_path):
    """A real OSError from the kernel (EFBIG under RLIMIT_FSIZE) mid-download, like ENOSPC."""
    resource = pytest.importorskip("resource")
    import signal

    url, state = server
    state.files["/resources/12/test-clean.tar.gz"] = archive
    root = tmp_path / "data"
    limit = 100_000
    old_limit = resource.getrlimit(resource.RLIMIT_FSIZE)
    old_handler = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, old_limit[1]))
    try:
        with pytest.raises(DataError, match="partial download is kept"):
            fetch(NAME, root, base_url=url, progress=False, sources=_sources(archive))
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, old_limit)
        signal.signal(signal.SIGXFSZ, old_handler)
    part = root / ".downloads" / "test-clean.tar.gz.part"
    kept = part.stat().st_size
    assert 0 < kept <= limit
    assert sorted(p.name for p in root.iterdir()) == [".downloads"]
    fetch(NAME, root, base_url=url, progress=False, sources=_sources(archive))
    assert state.requests[-1][1] == f"bytes={kept}-"
    assert (root / "LibriSpeech" / "test-clean").is_dir()


def test_every_fetch_names_a_source_that_installs_its_path():
    """Registry and sources agree: `fetch X` lands where the dataset entry looks."""
    from pathlib import PurePosixPath

    from audiogate.datasets.fetch import load_sources
    from audiogate.registry.load import datasets

    sources = load_sources()
    for name, spec in datasets().items():
        if not spec.fetch:
            continue
        assert spec.fetch in sources, f"{name}: fetch {spec.fetch!r} has no source"
        dest = PurePosixPath(sources[spec.fetch].dest)
        path = PurePosixPath(spec.path)
        assert path == dest or dest in path.parents, f"{name}: {path} not inside {dest}"
    unverifiable = {(n, f.filename) for n, s in sources.items() for f in s.files
                    if not f.checksums}
    # the documented gaps (no official checksum found), nothing else
    assert unverifiable == {("tedlium-release1", "TEDLIUM_release1.tar.gz"),
                            ("fleurs-zh", "test.tsv"), ("fleurs-zh", "test.tar.gz"),
                            ("mmau-test-mini", "test-mini-audios.tar.gz")}
    for source in sources.values():
        for f in source.files:
            assert all(len(v) == {"md5": 32, "sha256": 64}[a] for a, v in f.checksums.items())


def test_aishell_nested_speaker_archives_are_extracted(server, shared_data, tmp_path):
    """data_aishell.tgz holds wav/<speaker>.tar.gz (each: <split>/<speaker>/*.wav)."""
    native = shared_data / "aishell-1"
    speaker = io.BytesIO()
    with tarfile.open(fileobj=speaker, mode="w:gz") as tar:
        tar.add(native / "data_aishell" / "wav" / "test" / "S0764", arcname="test/S0764")
    outer = io.BytesIO()
    with tarfile.open(fileobj=outer, mode="w:gz") as tar:
        tar.add(native / "data_aishell" / "transcript", arcname="data_aishell/transcript")
        info = tarfile.TarInfo("data_aishell/wav/S0764.tar.gz")
        info.size = len(speaker.getvalue())
        tar.addfile(info, io.BytesIO(speaker.getvalue()))
    body = outer.getvalue()
    url, state = server
    state.files["/resources/33/data_aishell.tgz"] = body
    sources = {"aishell-1": {
        "base_url": url, "dest": "aishell-1", "take": ".", "nested": "data_aishell/wav/*.tar.gz",
        "files": [{"path": "resources/33/data_aishell.tgz", "extract": True,
                   "md5": hashlib.md5(body).hexdigest()}],
    }}
    root = tmp_path / "data"
    fetch("aishell-1", root, progress=False, sources=sources)
    wav = root / "aishell-1" / "data_aishell" / "wav"
    assert sorted(p.name for p in wav.iterdir()) == ["test"]  # the inner archive is gone
    spec = dataset("aishell-1")
    assert _ids_refs(load_dataset(spec, root)) == _ids_refs(load_dataset(spec, shared_data))


def _sources_file(tmp_path: Path, archive: bytes) -> Path:
    """A sources YAML serving the test-clean slice's tarball (as a private mirror would)."""
    sources = tmp_path / "sources.yaml"
    sources.write_text(
        f"{NAME}:\n  base_url: http://unused.invalid\n  dest: LibriSpeech/test-clean\n"
        f"  take: LibriSpeech/test-clean\n  files:\n"
        f"    - {{path: resources/12/test-clean.tar.gz, md5: {hashlib.md5(archive).hexdigest()}, "
        f"extract: true}}\n")
    return sources


def _gated_project(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    """A pytester project gating whisper-tiny.en on the test-clean slice (WER 2.83, pinned)."""
    monkeypatch.syspath_prepend(str(REPO))
    monkeypatch.delenv("AUDIOGATE_DATA_ROOT", raising=False)
    pytester.makeconftest('pytest_plugins = ["audiogate.plugin", "fixtures.gate"]\n')
    pytester.makepyfile(test_gated_asr=(REPO / "benchmarks" / "test_asr.py").read_text())
    (pytester.path / "thresholds.yaml").write_text(
        "whisper-tiny.en:\n  librispeech-test-clean:\n    - metric: wer\n      value: 2.83\n"
        "      max: 4.15\n      samples: 6\n      sample_set: f2d755642e8259f3\n")


def _gated_run(pytester: pytest.Pytester, data_root: Path, store: Path) -> dict:
    """`pytest benchmarks -k librispeech-test-clean` in a pytester project; the pair's row."""
    result = pytester.runpytest("-k", "librispeech-test-clean", "--model=whisper-tiny.en",
                                f"--data-root={data_root}", f"--store={store}",
                                "--require-gate", "-p", "no:cacheprovider",
                                "--bootstrap-resamples=500")
    result.assert_outcomes(passed=1)
    report = json.loads((pytester.path / "reports" / "audiogate-report.json").read_text())
    [row] = report["rows"]
    return row


@pytest.mark.slow
def test_fetched_copy_passes_the_gate_like_the_native_slice(
        server, archive, shared_data, tmp_path, pytester, monkeypatch,
        decoded_slices: DecodedSlices):
    """`audiogate data fetch` from 127.0.0.1, then the real whisper-tiny.en gated on it.

    The run has a copy of the store of the session's shared decode of the native slices:
    every clip's output is reused, which the store gives only for the same model, sample id
    and decoded audio (its key holds the audio's hash), so the fetched clips are the native
    ones sample for sample, and the gate scores them like the native slice's run."""
    from audiogate.samples import sample_set_fingerprint

    url, state = server
    state.files["/resources/12/test-clean.tar.gz"] = archive
    root = tmp_path / "data"
    sources = _sources_file(tmp_path, archive)
    got = _cli("data", "fetch", NAME, "--mirror", url, "--sources", str(sources), "--quiet",
               env_root=root)
    assert got.returncode == 0, got.stderr
    assert (root / "LibriSpeech" / "test-clean").is_dir()
    assert state.requests == [("/resources/12/test-clean.tar.gz", None)]

    native_ids = [s.id for s in load_dataset(dataset(NAME), shared_data)]
    assert sample_set_fingerprint(native_ids) == "f2d755642e8259f3"
    _gated_project(pytester, monkeypatch)

    fetched = _gated_run(pytester, root, decoded_slices.copy_store(tmp_path / "store.sqlite"))
    assert fetched["status"] == "pass", fetched["reason"]
    assert (fetched["result"]["inferred"], fetched["result"]["reused"]) == (0, 6)
    assert fetched["result"]["sample_set"] == "f2d755642e8259f3"
    assert fetched["result"]["score"]["total"] == 6 and fetched["result"]["score"]["errors"] == 0
    assert round(fetched["result"]["score"]["value"], 2) == 2.83
    for sample in load_dataset(dataset(NAME), root):
        assert sample.audio_path is not None and sample.audio_path.is_relative_to(root)

    native = decoded_slices.rows()[NAME]
    assert native["status"] == "pass" and native["result"]["inferred"] == 6
    assert fetched["result"]["score"] == native["result"]["score"]


def test_download_flag_fetches_a_gated_dataset_before_running_it(server, archive, tmp_path,
                                                                 pytester, monkeypatch):
    """`--download`: the gated pair's missing data is fetched (from 127.0.0.1), then gated;
    without the flag the same run fails and nothing is downloaded."""
    url, state = server
    state.files["/resources/12/test-clean.tar.gz"] = archive
    sources = _sources_file(tmp_path, archive)
    _gated_project(pytester, monkeypatch)
    root = tmp_path / "empty-root"
    args = ["-k", "librispeech-test-clean", "--model=whisper-tiny.en", f"--data-root={root}",
            "--no-store", "-p", "no:cacheprovider", "--bootstrap-resamples=500"]
    missing = pytester.runpytest(*args)
    missing.assert_outcomes(failed=1)
    missing.stdout.fnmatch_lines(["*is gated but its data is missing*LibriSpeech/test-clean*"])
    assert state.requests == []

    fetched = pytester.runpytest(*args, "--download", f"--mirror={url}", f"--sources={sources}")
    fetched.assert_outcomes(passed=1)
    assert state.requests == [("/resources/12/test-clean.tar.gz", None)]
    report = json.loads((pytester.path / "reports" / "audiogate-report.json").read_text())
    [row] = report["rows"]
    assert row["status"] == "pass" and round(row["result"]["score"]["value"], 2) == 2.83

