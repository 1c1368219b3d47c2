"""Answer extraction, pinned to UltraEval-Audio's behaviour (see scoring/extract.py)."""

from __future__ import annotations

from audiogate.scoring.extract import after_think, json_content, strip_fences


def test_after_think_without_think_is_whole_text_stripped() -> None:
    assert after_think("  The answer is Man.\n") == "The answer is Man."


def test_after_think_keeps_text_after_the_last_close() -> None:
    text = "<think>maybe Woman</think> no </think>\n  Man  "
    assert after_think(text) == "Man"


def test_after_think_unclosed_think_is_kept_whole() -> None:
    # A model that never closed its reasoning is scored on all of it (and usually fails).
    assert after_think("<think>still thinking about Woman") == "<think>still thinking about Woman"


def test_after_think_nothing_after_close_is_empty() -> None:
    assert after_think("<think>Man</think>") == ""


def test_json_content_plain_object() -> None:
    assert json_content('{"content": "hello world"}') == "hello world"


def test_json_content_in_json_fence() -> None:
    assert json_content('```json\n{"content": "Hello, world."}\n```') == "Hello, world."


def test_json_content_in_bare_fence_with_spaces() -> None:
    assert json_content('  ```\n{"content": "你好"}\n```  ') == "你好"


def test_json_content_other_field() -> None:
    assert json_content('{"text": "a", "content": "b"}', field="text") == "a"


def test_json_content_python_literal_like_ultraeval() -> None:
    assert json_content("{'content': 'single quoted'}") == "single quoted"


def test_json_content_invalid_json_returns_text() -> None:
    assert json_content('  {"content": "unterminated  ') == '{"content": "unterminated'
    assert json_content("just a transcript") == "just a transcript"


def test_json_content_missing_field_returns_text() -> None:
    assert json_content('{"transcript": "x"}') == '{"transcript": "x"}'
    assert json_content('"a json string"') == '"a json string"'


def test_json_content_fenced_non_json_returns_fence_stripped_text() -> None:
    # UltraEval-Audio's ContentExtract returns the fence-stripped text on failure.
    assert json_content("```\nnot json\n```") == "not json"
    assert strip_fences("no fence") == "no fence"


def test_json_content_after_think_pipeline() -> None:
    raw = '<think>The audio says {"content": "wrong"}</think>\n{"content": "right"}'
    assert json_content(after_think(raw)) == "right"
