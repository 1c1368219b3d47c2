"""Download, verify and install benchmarks in their official layout; report what is on disk.

The order is what makes a half-finished dataset impossible to mistake for a complete one:

1. download to ``<data root>/.downloads/<file>.part``, resuming with HTTP ``Range``
   (an interrupted transfer or a full disk leaves only that resumable ``.part``);
2. check the publisher's checksum BEFORE anything is extracted (a mismatch deletes the
   download and names expected and actual);
3. extract into a temporary folder inside the data root, refusing any member that would
   land outside it (``..``, absolute paths, links pointing out, device files);
4. ``os.replace`` the finished tree onto the registry path (same filesystem: atomic).

Sources live in ``registry/sources.yaml``; tests pass their own mapping or file.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import posixpath
import shutil
import sys
import tarfile
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path, PurePosixPath
from typing import Any

import httpx
from filelock import FileLock

from audiogate.datasets import hf_copy, load_dataset
from audiogate.errors import AudiogateError, DataError, DatasetMissing, RegistryError
from audiogate.registry.load import DatasetSpec, _read_yaml, datasets

MIRROR_ENV = "AUDIOGATE_MIRROR"
DOWNLOADS = ".downloads"
MARKER = ".audiogate-fetch.json"  # written inside the tree before the atomic move
_CHUNK = 1 << 20
_HASHES = ("md5", "sha256")


class ChecksumMismatch(DataError):
    """The downloaded bytes are not the publisher's (the download has been deleted)."""


class UnsafeArchive(DataError):
    """An archive member would be written outside the target folder."""


@dataclass(frozen=True)
class SourceFile:
    """One file of a source: where to get it, what it must hash to, where it goes."""

    path: str
    base_url: str
    md5: str | None = None
    sha256: str | None = None
    size: int | None = None
    extract: bool = False
    into: str = "."
    place: str | None = None
    name: str | None = None  # local file name when the URL path does not end in one

    @property
    def filename(self) -> str:
        return self.name or PurePosixPath(self.path.split("?")[0]).name

    def url(self, mirror: str | None = None) -> str:
        return f"{(mirror or self.base_url).rstrip('/')}/{self.path.lstrip('/')}"

    @property
    def checksums(self) -> dict[str, str]:
        return {k: v.lower() for k in _HASHES if (v := getattr(self, k))}


@dataclass(frozen=True)
class Source:
    """A named download: its files and the folder under the data root it installs."""

    name: str
    dest: str
    files: tuple[SourceFile, ...]
    take: str = "."
    nested: str | None = None


@dataclass
class FetchResult:
    source: str
    dest: Path
    installed: bool  # False: it was already there
    observed: dict[str, dict[str, str]] = field(default_factory=dict)  # file -> {algo: hex}


# --------------------------------------------------------------------------- sources


def _source(name: str, raw: Any, origin: str) -> Source:
    if not isinstance(raw, dict) or not raw.get("dest") or not raw.get("files"):
        raise RegistryError(f"{origin}: source {name!r} needs `dest` and `files`")
    dest = PurePosixPath(str(raw["dest"]))
    if dest.is_absolute() or ".." in dest.parts:
        raise RegistryError(f"{origin}: source {name!r}: dest must be relative (in the data root)")
    files = []
    for i, f in enumerate(raw["files"]):
        if not isinstance(f, dict) or "path" not in f:
            raise RegistryError(f"{origin}: source {name!r} file {i}: needs a `path`")
        base = f.get("base_url", raw.get("base_url"))
        if not base:
            raise RegistryError(f"{origin}: source {name!r} file {i}: no base_url")
        if not f.get("extract") and not f.get("place"):
            raise RegistryError(f"{origin}: source {name!r} file {i}: needs `extract` or `place`")
        files.append(SourceFile(
            path=str(f["path"]), base_url=str(base), md5=f.get("md5"), sha256=f.get("sha256"),
            size=f.get("size"), extract=bool(f.get("extract")), into=str(f.get("into", ".")),
            place=f.get("place"), name=f.get("filename"),
        ))
    return Source(name=name, dest=str(dest), files=tuple(files), take=str(raw.get("take", ".")),
                  nested=raw.get("nested"))


def load_sources(extra: Mapping[str, Any] | Path | None = None) -> dict[str, Source]:
    """The package's sources.yaml plus ``extra`` (a mapping or a YAML file) overriding it."""
    text = resources.files("audiogate.registry").joinpath("sources.yaml").read_text("utf-8")
    raw: dict[str, Any] = dict(_read_yaml(text, "audiogate/registry/sources.yaml"))
    origin = "sources"
    if isinstance(extra, Path):
        origin = str(extra)
        raw.update(_read_yaml(extra.read_text(encoding="utf-8"), origin))
    elif extra is not None:
        raw.update(extra)
    return {n: _source(n, r, origin) for n, r in raw.items()}


def resolve(name: str, sources: dict[str, Source],
            registry: dict[str, DatasetSpec]) -> tuple[Source, list[DatasetSpec]]:
    """``name`` is a source or a dataset; return the source and the datasets it feeds."""
    if name in sources:
        source = sources[name]
    elif name in registry and registry[name].fetch in sources:
        source = sources[str(registry[name].fetch)]
    else:
        known = sorted(set(sources) | {n for n, s in registry.items() if s.fetch})
        raise RegistryError(f"nothing to fetch for {name!r}; fetchable: {', '.join(known)}")
    fed = [s for s in registry.values() if s.fetch == source.name]
    return source, fed


def mirror_from_env(mirror: str | None) -> str | None:
    return mirror or os.environ.get(MIRROR_ENV) or None


# --------------------------------------------------------------------------- download


def _progress_bar(total: int | None, initial: int, label: str, enabled: bool) -> Any:
    from tqdm import tqdm  # type: ignore[import-untyped]

    return tqdm(total=total, initial=initial, unit="B", unit_scale=True, unit_divisor=1024,
                desc=label, file=sys.stderr, disable=not enabled, leave=False)


def download(url: str, part: Path, *, size: int | None = None, progress: bool = True,
             retries: int = 3, backoff: float = 1.0, timeout: float = 60.0) -> None:
    """Fill ``part`` with the bytes at ``url``, resuming from what it already holds.

    A dropped connection is retried ``retries`` times from where it stopped (``Range``);
    after that, or on a write error (full disk), the ``.part`` stays for the next run.
    """
    part.parent.mkdir(parents=True, exist_ok=True)
    failures = 0
    while True:
        have = part.stat().st_size if part.exists() else 0
        if size is not None and have == size:
            return
        headers = {"Range": f"bytes={have}-"} if have else {}
        try:
            with httpx.stream("GET", url, headers=headers, follow_redirects=True,
                              timeout=timeout) as resp:
                if resp.status_code == 416 and have:
                    return  # nothing left to send: the .part is whole
                if resp.status_code >= 400:
                    raise DataError(f"{url}: HTTP {resp.status_code} {resp.reason_phrase}")
                resumed = resp.status_code == 206 and _range_start(resp) == have
                if not resumed:
                    have = 0  # server ignored the Range: start over
                length = resp.headers.get("content-length")
                total = have + int(length) if length and length.isdigit() else size
                _write_body(resp, part, append=resumed, total=total, have=have,
                            progress=progress)
                got = part.stat().st_size
                if total is not None and got < total:
                    raise httpx.ReadError(f"connection closed at {got} of {total} bytes")
            return
        except httpx.TransportError as exc:
            failures += 1
            got = part.stat().st_size if part.exists() else 0
            if failures > retries:
                raise DataError(
                    f"{url}: download interrupted at {got} bytes ({exc}); {part} is kept, "
                    "run the fetch again to resume"
                ) from exc
            time.sleep(backoff * min(2 ** (failures - 1), 30))


def _range_start(resp: httpx.Response) -> int | None:
    value = resp.headers.get("content-range", "")  # "bytes 100-199/200"
    try:
        return int(value.split()[1].split("-")[0])
    except (IndexError, ValueError):
        return None


def _write_body(resp: httpx.Response, part: Path, *, append: bool, total: int | None,
                have: int, progress: bool) -> None:
    try:
        with part.open("ab" if append else "wb") as out, \
                _progress_bar(total, have, part.name.removesuffix(".part"), progress) as bar:
            # raw bytes as received: no Content-Encoding decoding (a .tar.gz served as
            # `gzip` must stay gzip) and no buffering, so a cut keeps everything that arrived
            for chunk in resp.iter_raw():
                out.write(chunk)
                bar.update(len(chunk))
    except OSError as exc:  # ENOSPC, EFBIG, EIO: keep what we have, resumable
        raise DataError(
            f"writing {part} failed ({exc.strerror or exc}); nothing was installed, "
            "the partial download is kept and resumes once there is room"
        ) from exc


def file_hashes(path: Path, algorithms: tuple[str, ...] = _HASHES) -> dict[str, str]:
    """Hex digests of ``path`` for every algorithm, in one read."""
    digests = {a: hashlib.new(a) for a in algorithms}
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK):
            for d in digests.values():
                d.update(chunk)
    return {a: d.hexdigest() for a, d in digests.items()}


def check(path: Path, file: SourceFile, url: str) -> dict[str, str]:
    """Raise ChecksumMismatch (after deleting ``path``) unless every published hash matches."""
    observed = file_hashes(path)
    wrong = {a: (want, observed[a]) for a, want in file.checksums.items() if observed[a] != want}
    if file.size is not None and path.stat().st_size != file.size:
        wrong["size"] = (str(file.size), str(path.stat().st_size))
    if wrong:
        path.unlink(missing_ok=True)
        detail = "; ".join(f"expected {a} {w}, got {g}" for a, (w, g) in wrong.items())
        raise ChecksumMismatch(
            f"{file.filename} from {url}: checksum mismatch ({detail}); the download was "
            "deleted. A mirror serving other bytes, or a changed upstream file: nothing "
            "was extracted"
        )
    return observed


# --------------------------------------------------------------------------- extract


def _unsafe(member: tarfile.TarInfo) -> str | None:
    """Why ``member`` may not be extracted, or None. Our own check, for a clear message."""
    name = member.name
    if name.startswith(("/", "\\")) or PurePosixPath(name).is_absolute() or (
            len(name) > 1 and name[1] == ":"):
        return "has an absolute path"
    if ".." in PurePosixPath(name).parts:
        return "escapes the target folder (a `..` component)"
    if member.issym():
        if member.linkname.startswith("/") or PurePosixPath(member.linkname).is_absolute():
            return f"is a symlink to the absolute path {member.linkname!r}"
        target = posixpath.normpath(posixpath.join(posixpath.dirname(name), member.linkname))
        if target == ".." or target.startswith("../"):
            return f"is a symlink pointing outside the target ({member.linkname!r})"
    if member.islnk():
        target = posixpath.normpath(member.linkname)
        if member.linkname.startswith("/") or target == ".." or target.startswith("../"):
            return f"is a hard link pointing outside the target ({member.linkname!r})"
    if member.isdev():
        return "is a device or FIFO file"
    return None


def safe_extract(archive: Path, target: Path) -> None:
    """Extract ``archive`` into ``target``; any escaping member aborts with UnsafeArchive.

    Runs into a temporary folder only (the caller deletes it on error), so a refused
    archive installs nothing. tarfile's ``data`` filter is applied after our check.
    """
    def member_filter(member: tarfile.TarInfo, dest: str) -> tarfile.TarInfo | None:
        problem = _unsafe(member)
        if problem:
            raise UnsafeArchive(f"{archive.name}: member {member.name!r} {problem}; refused, "
                                "nothing was installed")
        return tarfile.data_filter(member, dest)

    target.mkdir(parents=True, exist_ok=True)
    try:
        with tarfile.open(archive, "r:*") as tar:
            tar.extractall(target, filter=member_filter)
    except tarfile.FilterError as exc:
        member = exc.tarinfo.name if exc.tarinfo is not None else "?"
        raise UnsafeArchive(f"{archive.name}: member {member!r} refused ({exc}); nothing "
                            "was installed") from exc
    except tarfile.TarError as exc:
        raise DataError(f"{archive}: not a readable tar archive ({exc})") from exc


# --------------------------------------------------------------------------- fetch


def fetch(name: str, data_root: Path, *, base_url: str | None = None, progress: bool = True,
          sources: Mapping[str, Any] | Path | None = None, verify: bool = True,
          force: bool = False, keep_archive: bool = False, retries: int = 3,
          backoff: float = 1.0) -> FetchResult:
    """Download, verify and atomically install source (or dataset) ``name`` under ``data_root``.

    ``base_url`` (else ``$AUDIOGATE_MIRROR``) replaces every file's host + path prefix.
    ``verify=False`` is the only way past a source with no official checksum; the sha256
    seen is then recorded in ``.downloads/<file>.sha256`` and returned.
    """
    known = load_sources(sources)
    source, _ = resolve(name, known, datasets())
    data_root = Path(data_root).expanduser()
    dest = data_root / source.dest
    if dest.exists() and not force:
        return FetchResult(source.name, dest, installed=False)
    mirror = mirror_from_env(base_url)
    unverifiable = [f.filename for f in source.files if not f.checksums]
    if verify and unverifiable:
        raise DataError(
            f"source {source.name!r}: no official checksum is known for "
            f"{', '.join(unverifiable)}; rerun with --no-verify to accept what the server "
            "sends (its sha256 is then recorded in .downloads/)"
        )
    downloads = data_root / DOWNLOADS
    downloads.mkdir(parents=True, exist_ok=True)
    result = FetchResult(source.name, dest, installed=True)
    # one fetch of a source at a time (two pytest workers, two shells): same .part file
    with FileLock(str(downloads / f"{source.name}.lock")):
        if dest.exists() and not force:
            return FetchResult(source.name, dest, installed=False)
        archives = [(f, _obtain(f, downloads, mirror, result, progress=progress,
                                retries=retries, backoff=backoff)) for f in source.files]
        _install(source, archives, data_root, dest)
        if not keep_archive:
            for _, path in archives:
                path.unlink(missing_ok=True)
    return result


def _obtain(file: SourceFile, downloads: Path, mirror: str | None, result: FetchResult, *,
            progress: bool, retries: int, backoff: float) -> Path:
    """The verified archive in ``downloads`` (kept from before, or downloaded now)."""
    url = file.url(mirror)
    final = downloads / file.filename
    if final.exists():
        # an archive kept from an earlier run (or one cut short at extraction);
        # a mismatch deletes it and it is downloaded again
        with contextlib.suppress(ChecksumMismatch):
            result.observed[file.filename] = check(final, file, url)
    if not final.exists():
        part = downloads / f"{file.filename}.part"
        download(url, part, size=file.size, progress=progress, retries=retries,
                 backoff=backoff)
        result.observed[file.filename] = check(part, file, url)
        os.replace(part, final)
    if not file.checksums:  # trust on first use, never silently: record and compare
        sha = result.observed[file.filename]["sha256"]
        record = downloads / f"{file.filename}.sha256"
        if record.exists() and (before := record.read_text(encoding="utf-8").split()[0]) != sha:
            final.unlink(missing_ok=True)
            raise ChecksumMismatch(
                f"{file.filename} from {url}: sha256 {sha} differs from the {before} recorded "
                f"at its first download ({record}); the download was deleted. Delete the "
                "record to accept the new file"
            )
        record.write_text(f"{sha}  {file.filename}\n# unverified: recorded at first download "
                          f"from {url}\n", encoding="utf-8")
    return final


def _install(source: Source, archives: list[tuple[SourceFile, Path]], data_root: Path,
             dest: Path) -> None:
    """Build the tree in a temp folder inside ``data_root``, then move it onto ``dest``."""
    data_root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".fetch-{source.name}-", dir=data_root))
    try:
        tree = tmp / "tree"
        tree.mkdir()
        for file, path in archives:
            if file.extract:
                safe_extract(path, _inside(tree, file.into, source.name))
            else:
                target = _inside(tree, str(file.place), source.name)
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(path, target)
        if source.nested:
            for inner in sorted(tree.glob(source.nested)):
                safe_extract(inner, inner.parent)
                inner.unlink()
        built = _inside(tree, source.take, source.name)
        if not built.is_dir():
            raise DataError(f"source {source.name!r}: the download has no folder "
                            f"{source.take!r} (the archive layout changed?)")
        (built / MARKER).write_text(json.dumps({
            "source": source.name,
            "files": {f.filename: {"url": f.url(), **f.checksums} for f, _ in archives},
            "installed": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }, indent=2) + "\n", encoding="utf-8")
        dest.parent.mkdir(parents=True, exist_ok=True)
        old = tmp / "old"
        if dest.exists():
            os.replace(dest, old)
        os.replace(built, dest)
    except OSError as exc:
        raise DataError(f"installing {source.name!r} into {dest} failed ({exc}); "
                        "nothing was installed") from exc
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _inside(tree: Path, rel: str, name: str) -> Path:
    path = PurePosixPath(rel)
    if path.is_absolute() or ".." in path.parts:
        raise RegistryError(f"source {name!r}: {rel!r} must stay inside the download")
    return tree / path


# --------------------------------------------------------------------------- status


@dataclass
class DatasetStatus:
    """What `data list` / `data verify` say about one registered dataset."""

    name: str
    path: Path
    status: str  # present | partial | missing | error
    found: int = 0
    expected: int | None = None
    errors: int = 0
    layout: str = "native"
    note: str = ""

    @property
    def ok(self) -> bool:
        return self.status == "present"


def dataset_status(spec: DatasetSpec, data_root: Path) -> DatasetStatus:
    """Load ``spec`` and compare its usable sample count with the official size."""
    native = data_root / spec.path
    path, layout, expected = native, "native", spec.expected_samples
    if not native.exists() and (copy := hf_copy(spec, data_root)) is not None:
        path, layout = copy[1], "hf"
        expected = copy[0].expected_samples
    row = DatasetStatus(spec.name, path, "missing", expected=expected, layout=layout)
    try:
        samples = load_dataset(spec, data_root)
    except DatasetMissing:
        return row
    except AudiogateError as exc:
        row.status, row.note = "error", str(exc)
        return row
    row.errors = sum(1 for s in samples if s.error)
    row.found = len(samples) - row.errors
    if expected is not None and row.found < expected:
        row.status = "partial"
    else:
        row.status = "present"
    notes = []
    if layout == "hf" and expected != spec.expected_samples:
        notes.append(f"hf copy: {expected} samples, official set {spec.expected_samples}")
    if expected is not None and row.found < expected:
        notes.append(f"{expected - row.found} missing")
    elif expected is not None and row.found > expected:
        notes.append(f"{row.found - expected} more than expected")
    if row.errors:
        notes.append(f"{row.errors} unusable samples")
    row.note = "; ".join(notes)
    return row


def list_datasets(data_root: Path, extra: Path | None = None) -> list[DatasetStatus]:
    """Every registered dataset with its status under ``data_root``."""
    return [dataset_status(spec, data_root) for _, spec in sorted(datasets(extra).items())]


@dataclass
class VerifyReport:
    name: str
    datasets: list[DatasetStatus]
    archives: dict[str, str]  # file -> "ok" / "MISMATCH ..." / "not kept"

    @property
    def ok(self) -> bool:
        return all(d.ok for d in self.datasets) and not any(
            v.startswith("MISMATCH") for v in self.archives.values())


def verify(name: str, data_root: Path, *, sources: Mapping[str, Any] | Path | None = None,
           extra: Path | None = None) -> VerifyReport:
    """Counts found vs expected for ``name`` (a dataset or a source), and the kept archives."""
    registry = datasets(extra)
    known = load_sources(sources)
    data_root = Path(data_root).expanduser()
    if name in registry:
        specs = [registry[name]]
        source = known.get(str(registry[name].fetch)) if registry[name].fetch else None
    else:
        source, specs = resolve(name, known, registry)
    archives: dict[str, str] = {}
    for file in source.files if source else ():
        kept = data_root / DOWNLOADS / file.filename
        if not kept.exists():
            archives[file.filename] = "not kept"
            continue
        observed = file_hashes(kept)
        recorded = kept.with_name(f"{file.filename}.sha256")
        want = dict(file.checksums)
        if not want and recorded.exists():
            want = {"sha256": recorded.read_text(encoding="utf-8").split()[0]}
        bad = [f"{a}: expected {w}, got {observed[a]}" for a, w in want.items()
               if observed[a] != w]
        archives[file.filename] = ("MISMATCH " + "; ".join(bad)) if bad else (
            "ok" if file.checksums else "matches the sha256 recorded at download (unofficial)"
            if want else "no checksum to compare")
    return VerifyReport(name, [dataset_status(s, data_root) for s in specs], archives)
