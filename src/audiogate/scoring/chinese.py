"""Chinese text as UltraEval-Audio's CER scorer sees it.

Whisper's English normalizer first (see ``english.py``), then the Chinese text normalization
UltraEval-Audio runs (``audio_evals/lib/text_normalization/cn_tn.py``, ``TextNorm`` with every
option off), then sacrebleu's ``zh`` tokenizer. ``cn_tn.py`` is SpeechIO's normalizer
(SpeechColab/Leaderboard ``utils/cn_tn.py``, Apache-2.0); this module is a focused port of the
parts that configuration executes: ``normalize_nsw`` (dates, money, phone numbers, fractions,
percentages, numbers with measure words, digit strings, plain numbers) and the
punctuation-to-space map. Its quirks are kept on purpose because the published scores have them:
``replace(..., 1)`` rewrites the first occurrence of a match rather than the match itself, any
run of 7-8 digits is read as a landline (``1000000`` -> 一零零零零零零), and 4+ digit runs are
read digit by digit even after a decimal point (``3.14159`` -> 三 一四一五九).
"""

from __future__ import annotations

import re
import string
from collections.abc import Callable
from functools import cache

from sacrebleu.tokenizers.tokenizer_zh import TokenizerZh

from audiogate.scoring.english import normalize_english

_DIGITS = "零一二三四五六七八九"
_LIANG = "两"
# (power of ten, character): 十百千万 then the "mid" system where 兆 = 亿 * 万.
_UNITS = [(1, "十"), (2, "百"), (3, "千"), (4, "万")] + [
    ((i + 2) * 4, c) for i, c in enumerate("亿兆京垓秭穰沟涧正载")
]

_CURRENCY_UNITS = (
    r"((亿|千万|百万|万|千|百)|(亿|千万|百万|万|千|百|)元|"
    r"(亿|千万|百万|万|千|百|)块|角|毛|分)"
)
_COM_QUANTIFIERS = (
    "(匹|张|座|回|场|尾|条|个|首|阙|阵|网|炮|顶|丘|棵|只|支|袭|辆|挑|担|颗|壳|窠|曲|墙|群|腔|"
    "砣|座|客|贯|扎|捆|刀|令|打|手|罗|坡|山|岭|江|溪|钟|队|单|双|对|出|口|头|脚|板|跳|枝|件|贴|"
    "针|线|管|名|位|身|堂|课|本|页|家|户|层|丝|毫|厘|分|钱|两|斤|担|铢|石|钧|锱|忽|(千|毫|微)克|"
    "毫|厘|分|寸|尺|丈|里|寻|常|铺|程|(千|分|厘|毫|微)米|撮|勺|合|升|斗|石|盘|碗|碟|叠|桶|笼|盆|"
    "盒|杯|钟|斛|锅|簋|篮|盘|桶|罐|瓶|壶|卮|盏|箩|箱|煲|啖|袋|钵|年|月|日|季|刻|时|周|天|秒|分|旬|"
    "纪|岁|世|更|夜|春|夏|秋|冬|代|伏|辈|丸|泡|粒|颗|幢|堆|条|根|支|道|面|片|张|颗|块)"
)

_CN_PUNCS = (
    "！？｡。"
    "＂＃＄％＆＇（）＊＋，－／：；＜＝＞＠［＼］＾＿｀｛｜｝～｟｠｢｣､、〃《》「」『』【】〔〕〖〗〘〙〚〛〜〝〞〟〰〾〿"
    "–—‘’‛“”„‟…‧﹏·〈〉-"
)
_PUNCS = _CN_PUNCS + string.punctuation
_PUNCS_TO_SPACE = str.maketrans(_PUNCS, " " * len(_PUNCS))

_DATE = re.compile(r"\D+((([089]\d|(19|20)\d{2})年)?(\d{1,2}月(\d{1,2}[日号])?)?)")
_MONEY = re.compile(
    r"\D+((\d+(\.\d+)?)[多余几]?" + _CURRENCY_UNITS + r"(\d" + _CURRENCY_UNITS + r"?)?)"
)
_MOBILE = re.compile(r"\D((\+?86 ?)?1([38]\d|5[0-35-9]|7[678]|9[89])\d{8})\D")
_LANDLINE = re.compile(r"\D((0(10|2[1-3]|[3-9]\d{2})-?)?[1-9]\d{6,7})\D")
_FRACTION = re.compile(r"(\d+/\d+)")
_PERCENT = re.compile(r"(\d+(\.\d+)?%)")
_QUANTITY = re.compile(r"(\d+(\.\d+)?)[多余几]?" + _COM_QUANTIFIERS)
_DIGIT_RUN = re.compile(r"(\d{4,32})")
_NUMBER = re.compile(r"(\d+(\.\d+)?)")
_LATIN_TWO = re.compile(r"(([a-zA-Z]+)二([a-zA-Z]+))")


def _int_symbols(value: str) -> list[str | int]:
    """cn_tn's ``get_value``: digits as str, units as their power of ten (int)."""
    stripped = value.lstrip("0")
    if not stripped:
        return []
    if len(stripped) == 1:
        if len(value) != len(stripped):  # keeps one 零 for leading zeros ("01" -> 零一)
            return ["0", stripped]
        return [stripped]
    power = next(p for p, _ in reversed(_UNITS) if p < len(stripped))
    return [*_int_symbols(value[:-power]), power, *_int_symbols(stripped[-power:])]


def _num2chn(number: str, *, alt_two: bool = True, use_units: bool = True) -> str:
    """cn_tn's ``num2chn`` (mid numbering, simplified, ``两`` before 百/千/万/... units)."""
    int_part, _, dec_part = number.partition(".")
    if "." in dec_part:
        raise ValueError(f"invalid input num string with more than one dot: {number}")
    symbols: list[str | int] = (
        _int_symbols(int_part) if use_units and len(int_part) > 1 else list(int_part)
    )
    if dec_part:
        symbols += [".", *dec_part]
    unit_char = dict(_UNITS)
    out = []
    for i, s in enumerate(symbols):
        if isinstance(s, int):
            out.append(unit_char[s])
        elif s == ".":
            out.append("点")
        else:
            nxt = symbols[i + 1] if i + 1 < len(symbols) else None
            prev = symbols[i - 1] if i > 0 else None
            liang = (
                alt_two
                and s == "2"
                and isinstance(nxt, int)
                and nxt != 1
                and (prev is None or (isinstance(prev, int) and prev != 1))
            )
            out.append(_LIANG if liang else _DIGITS[int(s)])
    result = "".join(out)
    if result.startswith("点"):
        return _DIGITS[0] + result
    if len(result) >= 2 and result[0] == "一" and result[1] == "十":  # 一十二 -> 十二
        result = result[1:]
    return result


def _digits(number: str) -> str:
    """Read digit by digit (years, phone numbers, long digit runs)."""
    return _num2chn(number, alt_two=False, use_units=False)


def _date(date: str) -> str:
    year, sep, other = date.strip().partition("年")
    if sep:
        year = _digits(year) + "年"
    else:
        year, other = "", date
    if not other:
        return year
    month, sep, day = other.strip().partition("月")
    if sep:
        month = _num2chn(month) + "月"
    else:
        month, day = "", date
    if day:
        day = _num2chn(day[:-1]) + day[-1]
    return year + month + day


def _money(money: str) -> str:
    for number, _ in _NUMBER.findall(money):
        money = money.replace(number, _num2chn(number))
    return money


def _telephone(phone: str, *, fixed: bool) -> str:
    parts = phone.split("-") if fixed else phone.strip("+").split()
    return "".join(_digits(part) for part in parts)


def _fraction(fraction: str) -> str:
    numerator, denominator = fraction.split("/")
    return _num2chn(denominator) + "分之" + _num2chn(numerator)


def _percentage(percentage: str) -> str:
    return "百分之" + _num2chn(percentage.strip().strip("%"))


def _rewrite(
    text: str, pattern: re.Pattern[str], convert: Callable[[str], str], *, group: bool = True
) -> str:
    """Rewrite each match's first occurrence in the text, as cn_tn does (``replace(.., 1)``)."""
    for m in pattern.findall(text):
        found = m[0] if group else m
        text = text.replace(found, convert(found), 1)
    return text


def _normalize_nsw(raw: str) -> str:
    """cn_tn's ``normalize_nsw``: non-standard words (numbers and symbols) into characters."""
    text = "^" + raw + "$"
    text = _rewrite(text, _DATE, _date)
    text = _rewrite(text, _MONEY, _money)
    text = _rewrite(text, _MOBILE, lambda s: _telephone(s, fixed=False))
    text = _rewrite(text, _LANDLINE, lambda s: _telephone(s, fixed=True))
    text = _rewrite(text, _FRACTION, _fraction, group=False)
    text = text.replace("％", "%")
    text = _rewrite(text, _PERCENT, _percentage)
    text = _rewrite(text, _QUANTITY, _num2chn)
    text = _rewrite(text, _DIGIT_RUN, _digits, group=False)
    text = _rewrite(text, _NUMBER, _num2chn)
    for whole, left, right in _LATIN_TWO.findall(text):  # restore P2P, B2B, O2O ...
        text = text.replace(whole, left + "2" + right, 1)
    return text.lstrip("^").rstrip("$")


@cache
def _tokenizer() -> TokenizerZh:
    return TokenizerZh()


def normalize_chinese(text: str, *, to_simplified: bool = False) -> str:
    """Text as UltraEval-Audio's CER compares it: Whisper English normalizer, then cn_tn.

    UltraEval-Audio does no Traditional -> Simplified conversion for ``zh``; ``to_simplified``
    opts into it (zhconv, as UltraEval does for Cantonese) for references in mixed scripts.
    """
    text = normalize_english(text)
    if to_simplified:
        import zhconv  # type: ignore[import-untyped]  # imported when used: it loads pkg_resources

        text = zhconv.convert(text, "zh-cn")
    return _normalize_nsw(text).translate(_PUNCS_TO_SPACE)


def chinese_tokens(text: str, *, to_simplified: bool = False) -> list[str]:
    """The tokens CER is computed on: one per CJK character, Latin words kept whole,
    lower-cased after tokenizing like UltraEval-Audio's ``EvaluationTokenizer``."""
    return zh_tokens_of_normalized(normalize_chinese(text, to_simplified=to_simplified))


def zh_tokens_of_normalized(normalized: str) -> list[str]:
    """sacrebleu ``zh`` tokens of already normalized text, lower-cased."""
    return str(_tokenizer()(normalized)).lower().split()
