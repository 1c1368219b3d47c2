"""Record tests/ground_truth/seed_tts_eval.json by running Seed-TTS-Eval's own scorer.

Run with a separate virtual environment that has what the scorer imports (not audiogate's):

    python3 -m venv /tmp/seedtts-venv
    /tmp/seedtts-venv/bin/pip install jiwer==3.0.4 zhon==2.0.2 zhconv==1.4.3 numpy
    /tmp/seedtts-venv/bin/python scripts/record_seed_tts_eval.py SEED_TTS_EVAL_CHECKOUT

``run_wer.py`` and ``average_wer.py`` run unchanged (``runpy``), from the checkout given.
Only their speech recognizers are replaced: ``transformers`` (Whisper-large-v3, English)
and ``funasr`` (Paraformer-zh) are stand-ins that "transcribe" each listed wav path as the
hypothesis recorded for it, so every line of text handling, scoring and averaging is theirs.
``jiwer.compute_measures`` is wrapped to also record the strings it was given (the
normalized texts). A pair their code refuses (it raises) is recorded with the error and
the run goes on from the next pair. Inputs are the shipped transcripts under data/ and
varied texts below, with hypotheses perturbed deterministically (seeded).
"""

from __future__ import annotations

import io
import json
import random
import runpy
import subprocess
import sys
import tempfile
import traceback
import types
from contextlib import redirect_stdout
from importlib.metadata import version
from pathlib import Path
from typing import Any, ClassVar

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "data"
OUT = REPO / "tests" / "ground_truth" / "seed_tts_eval.json"

EN_TEXTS = [
    "Get the trust fund to the bank early.",
    "We asked over twenty different people, and they all said it was his.",
    "I don't know, it's hard to say; maybe you'll see.",
    "I don’t know — it’s hard to say… maybe you’ll see!",
    "In 1995, about 3.5% of the 2,000 voters paid $20 each.",
    "The well-known author wrote a self-help book in the mid-1990s.",
    "Dr. Smith lives at 221B Baker St., London (U.K.).",
    "\"Stop!\" she shouted. \"Don't move.\"",
    "Rock 'n' roll isn't dead, y'all.",
    "It's 7:30 a.m. on the 4th of July.",
    "The e-mail said: call +1 (555) 010-9999 #now.",
    "NASA and the FBI met the CEO of IBM.",
    "Mixed CASE Words like iPhone and eBay.",
    "  Leading and trailing spaces  ",
    "Double  spaces   and    more spaces.",
    "Hello,world.No space after punctuation!",
    "The children's toys were in the students' lockers.",
    "What?! Really?? No way...",
    "Café naïve résumé über Zoë.",
    "A list: apples; pears; plums & cherries.",
    "C'est la vie, said the man at 10 o'clock.",
    "Tom's cat — a tabby — sat on the mat.",
    "[laughs] That was <great> {truly} ~amazing~.",
    "Twenty-one guns fired at 12:00.",
    "The ratio is 3/4, or 75 percent.",
    "She said “hello” and ‘goodbye’.",
    "one two three four five six seven eight nine ten",
    "Yes.",
    "No",
    "O'Brien's ‘quote’ test.",
    "The price went from $1.5m to $2.25m in Q3_2024.",
    "Please, please, please stop it.",
    "He paused - then left.",
    "I'm gonna wanna gotta do it.",
    "The UK's NHS is under strain, isn't it?",
    "Well, well... what do we have here?",
    "The ice-cold drink was so-so.",
    "Wait—what? That's it!",
    "The end.",
    "Our 100th anniversary is on 2025-06-14.",
]
ZH_TEXTS = [
    "简单地说，这相当于惠普把消费领域市场拱手相让了。",
    "在此奉劝大家别乱打美白针。",
    "他说：“今天天气很好！”我们去公园吧？",
    "「你好」，她回答道。",
    "我用iPhone 15 Pro拍了一张照片。",
    "会议将于2024年6月14日上午9点开始。",
    "价格从１２３元涨到４５６元，涨幅约２７０％。",
    "这是一个测试……真的吗？",
    "北京、上海、广州、深圳都是大城市。",
    "《红楼梦》是中国古典小说。",
    "他喜欢听Taylor Swift的歌。",
    "人工智能（AI）正在改变世界。",
    "今天 天气 很 好",
    "我们 一起  去   吃饭",
    "—— 这是破折号 ——",
    "请输入密码：１２３４５６",
    "欢迎来到CCTV新闻频道。",
    "第3季度的营收为5.6亿元。",
    "这件衣服多少钱？两百块。",
    "春眠不觉晓，处处闻啼鸟。",
    "这个问题很难回答；我们需要更多时间。",
    "他们在〈序言〉里提到了这件事。",
    "你吃了吗",
    "好。",
    "电话号码是010-12345678。",
    "Wi-Fi密码是abc123。",
    "我今年25岁，身高1.75米。",
    "《三体》的作者是刘慈欣·大刘。",
    "～这是波浪号～",
    "学而时习之，不亦说乎？有朋自远方来，不亦乐乎？",
]
# references that Seed-TTS-Eval's scorer refuses (empty after its punctuation removal)
EN_REFUSED = ["...", "?!", "—"]
ZH_REFUSED = ["。。。", "！？", "　"]


def shipped_references() -> tuple[list[str], list[str]]:
    en: list[str] = []
    for trans in sorted(DATA.glob("LibriSpeech/*/*/*/*.trans.txt")):
        for line in trans.read_text(encoding="utf-8").splitlines():
            en.append(line.split(" ", 1)[1])
    zh = [line.split(" ", 1)[1] for line in (
        DATA / "aishell-1/data_aishell/transcript/aishell_transcript_v0.8.txt"
    ).read_text(encoding="utf-8").splitlines()]
    for line in (DATA / "fleurs-zh/cmn_hans_cn/test.tsv").read_text(
            encoding="utf-8").splitlines():
        zh.append(line.split("\t")[3])
    return en, zh


EN_SWAPS = {"the": "a", "and": "an", "to": "two", "for": "four", "there": "their",
            "it's": "its", "don't": "dont", "i": "eye"}


def perturb_en(text: str, rng: random.Random, kind: str) -> str:
    words = text.split()
    if kind == "same":
        return text
    if kind == "lower":
        return text.lower()
    if kind == "sentence":  # what an ASR writes for an upper-case LibriSpeech line
        return " " + text.capitalize() + "."
    if kind == "empty":
        return ""
    if not words:
        return text
    i = rng.randrange(len(words))
    if kind == "drop":
        return " ".join(words[:i] + words[i + 1:])
    if kind == "insert":
        return " ".join([*words[:i], rng.choice(["uh", "the", "um", "and"]), *words[i:]])
    if kind == "swap":
        w = words[i].lower()
        words[i] = EN_SWAPS.get(w, w[::-1] if len(w) > 1 else w + "x")
        return " ".join(words)
    if kind == "mixed":  # several edits, odd spacing and punctuation
        out = [w.upper() if rng.random() < 0.3 else w for w in words]
        if len(out) > 2:
            del out[rng.randrange(len(out))]
        out.insert(rng.randrange(len(out) + 1), "well,")
        return "  ".join(out) + " !"
    if kind == "curly":
        return text.replace("'", "’")
    raise ValueError(kind)


def perturb_zh(text: str, rng: random.Random, kind: str) -> str:
    import zhconv

    chars = list(text)
    if kind == "same":
        return text
    if kind == "traditional":  # what Paraformer or Whisper may write: zhconv maps it back
        return zhconv.convert(text, "zh-tw")
    if kind == "empty":
        return ""
    if kind == "ascii-punct":
        return text.replace("，", ",").replace("。", ".").replace("？", "?").replace("！", "!")
    if kind == "spaced":
        return " ".join(ch for ch in text if not ch.isspace())
    i = rng.randrange(len(chars))
    if kind == "drop":
        return "".join(chars[:i] + chars[i + 1:])
    if kind == "insert":
        return "".join([*chars[:i], rng.choice("的了是在我"), *chars[i:]])
    if kind == "swap":
        chars[i] = rng.choice("天地人和中国大小")
        return "".join(chars)
    if kind == "upper":
        return text.upper()
    raise ValueError(kind)


def make_pairs() -> dict[str, list[tuple[str, str, str]]]:
    """(kind, reference, hypothesis) per language, in a fixed order."""
    en_refs, zh_refs = shipped_references()
    rng = random.Random(29)
    en: list[tuple[str, str, str]] = []
    en_kinds = ["same", "lower", "sentence", "drop", "insert", "swap", "mixed"]
    for n, ref in enumerate(en_refs):  # 83 shipped LibriSpeech lines, two variants each
        for kind in (en_kinds[n % 7], en_kinds[(n + 3) % 7]):
            en.append((kind, ref, perturb_en(ref, rng, kind)))
    more = ["same", "lower", "drop", "insert", "swap", "mixed", "curly", "empty"]
    for n, ref in enumerate(EN_TEXTS):
        for kind in ("same", more[(n + 1) % 8], more[(n + 4) % 8]):
            en.append((kind, ref, perturb_en(ref, rng, kind)))
    for ref in EN_REFUSED:
        en.append(("refused", ref, "something"))
    zh: list[tuple[str, str, str]] = []
    zh_kinds = ["same", "traditional", "drop", "insert", "swap", "ascii-punct", "spaced",
                "upper", "empty"]
    for n, ref in enumerate(zh_refs + ZH_TEXTS):
        for kind in ("same", zh_kinds[1 + n % 8], zh_kinds[1 + (n + 3) % 8],
                     zh_kinds[1 + (n + 5) % 8]):
            zh.append((kind, ref, perturb_zh(ref, rng, kind)))
    for ref in ZH_REFUSED:
        zh.append(("refused", ref, "你好"))
    return {"en": en, "zh": zh}


class Hypotheses:
    """The stand-in recognizers' answers: wav path -> hypothesis."""

    table: ClassVar[dict[str, str]] = {}


def install_stand_ins() -> list[tuple[str, str]]:
    """Fake transformers / funasr / soundfile / scipy modules, and a spy on jiwer."""
    class Features:
        def __init__(self, path: str) -> None:
            self.path = path

        def to(self, device: str) -> Features:
            return self

    class Processor:
        @classmethod
        def from_pretrained(cls, model_id: str) -> Processor:
            return cls()

        def __call__(self, wav: str, sampling_rate: int, return_tensors: str) -> Any:
            return types.SimpleNamespace(input_features=Features(wav))

        def get_decoder_prompt_ids(self, language: str, task: str) -> None:
            return None

        def batch_decode(self, ids: list[str], skip_special_tokens: bool) -> list[str]:
            return [Hypotheses.table[i] for i in ids]

    class WhisperModel:
        @classmethod
        def from_pretrained(cls, model_id: str) -> WhisperModel:
            return cls()

        def to(self, device: str) -> WhisperModel:
            return self

        def generate(self, features: Features, forced_decoder_ids: Any = None) -> list[str]:
            return [features.path]

    class Paraformer:
        def __init__(self, model: str) -> None:
            pass

        def generate(self, input: str, batch_size_s: int) -> list[dict[str, str]]:
            return [{"text": Hypotheses.table[input]}]

    transformers = types.ModuleType("transformers")
    transformers.WhisperProcessor = Processor  # type: ignore[attr-defined]
    transformers.WhisperForConditionalGeneration = WhisperModel  # type: ignore[attr-defined]
    funasr = types.ModuleType("funasr")
    funasr.AutoModel = Paraformer  # type: ignore[attr-defined]
    soundfile = types.ModuleType("soundfile")
    soundfile.read = lambda path: (path, 16000)  # type: ignore[attr-defined]
    scipy = types.ModuleType("scipy")
    scipy.signal = types.SimpleNamespace(resample=None)  # type: ignore[attr-defined]
    tqdm = types.ModuleType("tqdm")
    tqdm.tqdm = lambda it, **kw: it  # type: ignore[attr-defined]
    sys.modules.update({"transformers": transformers, "funasr": funasr,
                        "soundfile": soundfile, "scipy": scipy, "tqdm": tqdm})
    import jiwer

    calls: list[tuple[str, str]] = []
    real = jiwer.compute_measures

    def spy(truth: str, hypothesis: str, *args: Any, **kwargs: Any) -> Any:
        calls.append((truth, hypothesis))
        return real(truth, hypothesis, *args, **kwargs)

    jiwer.compute_measures = spy
    return calls


def run_language(lang: str, pairs: list[tuple[str, str, str]], run_wer: Path, work: Path,
                 calls: list[tuple[str, str]]) -> tuple[list[dict[str, Any]], list[str]]:
    """Each pair through run_wer.py; (entries, lines of its result file in pair order)."""
    wavs = work / lang
    wavs.mkdir()
    entries: list[dict[str, Any]] = []
    lines: list[str] = []
    start = 0
    while start < len(pairs):
        listing = work / f"{lang}-{start}.lst"
        result = work / f"{lang}-{start}.wer"
        rows = []
        for n in range(start, len(pairs)):
            wav = wavs / f"{lang}_{n:04d}.wav"
            wav.touch()
            Hypotheses.table[str(wav)] = pairs[n][2]
            # get_wav_res_ref_text.py's 3-field form: wav_res | prompt wav | target text
            rows.append(f"{wav}|{wavs / 'prompt.wav'}|{pairs[n][1]}")
        listing.write_text("\n".join(rows) + "\n", encoding="utf-8")
        before = len(calls)
        error = None
        sys.argv = [str(run_wer), str(listing), str(result), lang]
        try:
            runpy.run_path(str(run_wer), run_name="__main__")
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}"
            print(f"{lang}: their scorer raised at a pair: {error}", file=sys.stderr)
            traceback.print_exc(limit=1)
        written = result.read_text(encoding="utf-8").splitlines()
        seen = calls[before:]
        for k, line in enumerate(written):
            kind, ref, hyp = pairs[start + k]
            _wav, wer, raw_truth, raw_hypo, inse, dele, subs = line.split("\t")
            lines.append(line)
            entries.append({
                "kind": kind, "reference": ref, "hypothesis": hyp,
                "written_reference": raw_truth, "written_hypothesis": raw_hypo,
                "normalized_reference": seen[k][0], "normalized_hypothesis": seen[k][1],
                "wer": float(wer), "ins": float(inse), "del": float(dele), "sub": float(subs),
            })
        done = start + len(written)
        if error is None:
            assert done == len(pairs), (lang, done, len(pairs))
            break
        kind, ref, hyp = pairs[done]
        entries.append({"kind": kind, "reference": ref, "hypothesis": hyp,
                        "error": error,
                        "normalized_reference": seen[-1][0] if len(seen) > len(written)
                        else None})
        start = done + 1
    return entries, lines


def average(average_wer: Path, lines: list[str], work: Path, name: str) -> dict[str, Any]:
    """average_wer.py on these result lines: what it prints, or the error it raises."""
    merged = work / f"{name}.merge.out"
    merged.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    sys.argv = [str(average_wer), str(merged), str(work / f"{name}.score")]
    printed = io.StringIO()
    try:
        with redirect_stdout(printed):
            runpy.run_path(str(average_wer), run_name="__main__")
    except Exception as exc:
        return {"error": f"{type(exc).__name__}: {exc}"}
    text = printed.getvalue().strip()
    assert text.startswith("WER: ") and text.endswith("%"), text
    return {"printed": text, "wer_percent": float(text[5:-1])}


def main() -> None:
    checkout = Path(sys.argv[1])
    commit = subprocess.run(["git", "-C", str(checkout), "rev-parse", "HEAD"],
                            capture_output=True, text=True, check=True).stdout.strip()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        scripts = {}
        for name in ("run_wer.py", "average_wer.py"):
            text = subprocess.run(["git", "-C", str(checkout), "show", f"HEAD:{name}"],
                                  capture_output=True, text=True, check=True).stdout
            scripts[name] = work / name
            scripts[name].write_text(text, encoding="utf-8")
        calls = install_stand_ins()
        truth: dict[str, Any] = {
            "note": (
                "What Seed-TTS-Eval's scorer produces, recorded by running its run_wer.py "
                "and average_wer.py unchanged (speech recognizers replaced by stand-ins "
                "that return the given hypothesis; see scripts/record_seed_tts_eval.py). "
                "pairs.<lang>[]: reference and hypothesis (the recognizer's raw text) -> "
                "written_reference / written_hypothesis (the texts run_wer.py writes: for "
                "zh the hypothesis after zhconv zh-cn), normalized_reference / "
                "normalized_hypothesis (the strings it passes to jiwer.compute_measures), "
                "wer (jiwer's rate) and ins/del/sub (counts over len(normalized_reference"
                ".split(' '))), exactly as written; or error where their code raises. "
                "averages: average_wer.py over result lines (printed line and value)."),
            "source": {"repo": "BytedanceSpeech/seed-tts-eval", "commit": commit,
                       "files": ["run_wer.py", "average_wer.py"]},
            "versions": {name: version(name) for name in ("jiwer", "zhon", "zhconv",
                                                           "numpy")},
            "python": sys.version.split()[0],
            "pairs": {}, "averages": {},
        }
        for lang, pairs in make_pairs().items():
            entries, lines = run_language(lang, pairs, scripts["run_wer.py"], work, calls)
            truth["pairs"][lang] = entries
            truth["averages"][lang] = {"lines": len(lines),
                                       **average(scripts["average_wer.py"], lines, work,
                                                 lang)}
            # smaller sets: rounding, and the perfect set it cannot average
            for size in (1, 7, 50):
                truth["averages"][f"{lang}_first_{size}"] = {
                    "lines": size,
                    **average(scripts["average_wer.py"], lines[:size], work,
                              f"{lang}{size}")}
            perfect = [line for line, e in zip(lines, [e for e in entries if "error" not in e],
                                               strict=True) if e["wer"] == 0.0][:5]
            truth["averages"][f"{lang}_perfect_5"] = {
                "lines": len(perfect),
                **average(scripts["average_wer.py"], perfect, work, f"{lang}perfect")}
    OUT.write_text(json.dumps(truth, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    counts = {k: len(v) for k, v in truth["pairs"].items()}
    print(f"wrote {OUT}: {counts}, averages {truth['averages']}")


if __name__ == "__main__":
    main()
