"""Group keys: every key a dataset declares (`groups:` in the registry) is set by its loader.

The HTML report and `audiogate report diff` break scores down by these keys; a key the
loader does not set would silently give one "(none)" group, so each is checked on the
real shared slices (TED-LIUM: a small STM/SPHERE layout written here). FLEURS declares
none: the shared slice's gender column is empty.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from audiogate.datasets import ignore_missing_audio, load_dataset
from audiogate.errors import RegistryError
from audiogate.registry import load as registry

ON_SHARED = ("librispeech-test-clean", "librispeech-dev-clean", "librispeech-test-other",
             "aishell-1", "mmau-test-mini")


@pytest.mark.parametrize("name", ON_SHARED)
def test_declared_groups_are_set_by_the_loader(name: str, shared_data: Path) -> None:
    spec = registry.dataset(name)
    assert spec.groups, f"{name} declares no groups"
    # MMAU's clips ship separately: its items are still loaded, with their meta
    samples = [s for s in ignore_missing_audio(load_dataset(spec, shared_data))
               if s.error is None]
    assert samples
    for sample in samples:
        for key in spec.groups:
            assert sample.meta.get(key) not in (None, ""), (name, sample.id, key)


def test_librispeech_speaker_and_chapter_come_from_the_id(shared_data: Path) -> None:
    samples = load_dataset(registry.dataset("librispeech-test-other"), shared_data)
    for sample in samples:
        speaker, chapter, _ = sample.id.split("-")
        assert (sample.meta["speaker"], sample.meta["chapter"]) == (speaker, chapter)
        assert sample.audio_path is not None
        assert sample.audio_path.parent.name == chapter
        assert sample.audio_path.parent.parent.name == speaker
    assert len({s.meta["speaker"] for s in samples}) > 1


def test_tedlium_segments_carry_talk_and_speaker(tmp_path: Path) -> None:
    root = tmp_path / "TEDLIUM_release1"
    for folder in ("test/stm", "test/sph"):
        (root / folder).mkdir(parents=True)
    sf.write(str(root / "test" / "sph" / "TalkA_2010.sph"), np.zeros(16_000 * 4, "float32"),
             16_000, format="NIST", subtype="PCM_16")
    (root / "test" / "stm" / "TalkA_2010.stm").write_text(
        "TalkA_2010 1 TalkA 0.00 1.50 <o,f0,male> hello there\n"
        "TalkA_2010 1 TalkA 2.00 3.50 <o,f0,male> good morning\n", encoding="utf-8")
    spec = registry.dataset("tedlium-release1")
    samples = load_dataset(spec, tmp_path)
    assert [s.error for s in samples] == [None, None]
    for sample in samples:
        assert {k: sample.meta[k] for k in spec.groups} == {"talk": "TalkA_2010",
                                                            "speaker": "TalkA"}


def test_groups_must_be_a_list_of_keys(tmp_path: Path) -> None:
    extra = tmp_path / "datasets.yaml"
    extra.write_text("mine:\n  task: asr\n  language: en\n  loader: manifest\n  path: m.jsonl\n"
                     "  metric: wer\n  groups: speaker\n", encoding="utf-8")
    with pytest.raises(RegistryError, match="groups must be a list of sample meta keys"):
        registry.datasets(extra)
    extra.write_text(extra.read_text().replace("groups: speaker", "groups: [speaker]"))
    assert registry.datasets(extra)["mine"].groups == ("speaker",)
