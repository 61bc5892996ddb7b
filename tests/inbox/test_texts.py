"""The registries of server texts against the browser's strings and the source: every system-message
code (inbox/texts.py) and every error code (inbox/errors.py) has an English and a Portuguese string in
static/js/i18n.js, a system text with the server's placeholders, and every code the source raises or
writes is registered."""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import pytest

from inbox.errors import CODES, ActionError, Conflict, Invalid, Unprocessable
from inbox.texts import TEMPLATES, Text, placeholders

ROOT = Path(__file__).resolve().parents[2]
I18N = ROOT / "static" / "js" / "i18n.js"

_LANG_OPEN = re.compile(r"^\s{2}(en|pt): \{$|^Object\.assign\(STRINGS\.(en|pt), \{$")
_ENTRY = re.compile(r'^\s*"([^"]+)": (".*"),?$')


def browser_strings() -> dict[str, dict[str, str]]:
    """static/js/i18n.js's strings by language: the `STRINGS` literal and every `Object.assign`
    block (one `"key": "value",` a line, as the file is written)."""
    out: dict[str, dict[str, str]] = {"en": {}, "pt": {}}
    lang = None
    for line in I18N.read_text().splitlines():
        if opened := _LANG_OPEN.match(line):
            lang = opened.group(1) or opened.group(2)
        elif line.strip() in ("},", "});"):
            lang = None
        elif lang and (entry := _ENTRY.match(line)):
            out[lang][entry.group(1)] = json.loads(entry.group(2))
    return out


def _js_placeholders(text: str) -> set[str]:
    return set(re.findall(r"\{(\w+)\}", text))


def test_the_parser_reads_the_file() -> None:
    strings = browser_strings()
    assert strings["en"]["login.submit"] == "Sign in" and strings["pt"]["login.submit"] == "Entrar"
    assert strings["pt"]["hooks.title"] == "Enviar eventos ao seu CRM"  # an Object.assign block
    assert len(strings["en"]) > 300 and len(strings["pt"]) > 300


@pytest.mark.parametrize("code", sorted(TEMPLATES))
def test_every_system_text_has_both_languages_with_the_same_placeholders(code: str) -> None:
    strings = browser_strings()
    wanted = placeholders(TEMPLATES[code])
    for lang in ("en", "pt"):
        text = strings[lang].get(f"sys.{code}")
        assert text, f"sys.{code} has no {lang} string in static/js/i18n.js"
        assert _js_placeholders(text) == wanted, (lang, code, text)
    # English in the browser reads as the server writes it (the fallback for unknown codes).
    assert _js_placeholders(strings["en"][f"sys.{code}"]) == placeholders(TEMPLATES[code])


@pytest.mark.parametrize("code", sorted(CODES))
def test_every_error_code_has_both_languages(code: str) -> None:
    strings = browser_strings()
    for lang in ("en", "pt"):
        assert strings[lang].get(f"err.{code}"), f"err.{code} has no {lang} string in static/js/i18n.js"


def test_the_browser_has_no_code_the_server_does_not() -> None:
    keys = set(browser_strings()["en"]) | set(browser_strings()["pt"])
    assert {k[4:] for k in keys if k.startswith("sys.")} == set(TEMPLATES)
    assert {k[4:] for k in keys if k.startswith("err.")} == set(CODES)


def _codes_in_source() -> set[tuple[str, str]]:
    """(where, code) for every `code="..."` keyword, `code = "..."` class attribute and
    `Text("...")` call in inbox/ and bot/."""
    found = set()
    for path in sorted([*(ROOT / "inbox").rglob("*.py"), *(ROOT / "bot").rglob("*.py")]):
        where = str(path.relative_to(ROOT))
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call):
                for kw in node.keywords:
                    if kw.arg == "code" and isinstance(kw.value, ast.Constant):
                        found.add((where, f"error:{kw.value.value}"))
                func = node.func
                if isinstance(func, ast.Name) and func.id == "Text" and node.args:
                    arg = node.args[0]
                    if isinstance(arg, ast.Constant):
                        found.add((where, f"text:{arg.value}"))
                    elif isinstance(arg, ast.JoinedStr):  # f"conversation.requeued_{why}"
                        found.add((where, "text-prefix:" + "".join(
                            str(v.value) for v in arg.values if isinstance(v, ast.Constant)
                        )))  # fmt: skip
            elif isinstance(node, ast.ClassDef):
                for stmt in node.body:
                    if (
                        isinstance(stmt, ast.Assign)
                        and [getattr(t, "id", None) for t in stmt.targets] == ["code"]
                        and isinstance(stmt.value, ast.Constant)
                    ):
                        found.add((where, f"error:{stmt.value.value}"))
    return found


def test_every_code_the_source_uses_is_registered() -> None:
    found = _codes_in_source()
    unknown = []
    for where, tagged in sorted(found):
        kind, _, code = tagged.partition(":")
        if kind == "error" and code not in CODES:
            unknown.append((where, code))
        elif kind == "text" and code not in TEMPLATES:
            unknown.append((where, code))
        elif kind == "text-prefix" and not any(c.startswith(code) for c in TEMPLATES):
            unknown.append((where, code))
    assert unknown == []
    # The walk sees what it should: specific codes, class defaults, and Texts.
    tags = {t for _, t in found}
    assert {
        "error:window_closed",
        "error:login_locked",
        "error:not_found",
        "text:conversation.resolved",
    } <= tags


def test_a_text_is_its_english_rendering_and_knows_its_code() -> None:
    reason = Text("handoff.taken_over", by="Ana")
    note = Text("conversation.handed_off", reason=reason)
    assert note == "Handed to a human: taken over by Ana" and isinstance(note, str)
    assert note.as_json() == {
        "code": "conversation.handed_off",
        "params": {"reason": {"code": "handoff.taken_over", "params": {"by": "Ana"}}},
    }
    # A typed-in value with braces is a value, never a placeholder.
    assert Text("conversation.resolved", by="{name}") == "Resolved by {name}"
    with pytest.raises(KeyError):
        Text("conversation.nonsense")
    with pytest.raises(KeyError):
        Text("conversation.resolved")  # its parameter is missing


def test_an_error_answers_its_code_and_params() -> None:
    assert ActionError("boom").answer() == {"error": "boom", "code": "invalid"}
    exc = Conflict("taken", code="name_taken", params={"field": "name"})
    assert (exc.status, exc.answer()) == (
        409,
        {"error": "taken", "code": "name_taken", "params": {"field": "name"}},
    )


def test_a_reason_naming_its_field_answers_invalid_field() -> None:
    """"field: detail" (the house's way of naming the field) is `invalid_field` unless it has a code."""
    assert Invalid("name: an automation needs a name").answer() == {
        "error": "name: an automation needs a name",
        "code": "invalid_field",
        "params": {"field": "name", "detail": "an automation needs a name"},
    }
    assert Unprocessable("business_hours.start: not HH:MM").answer()["params"] == {
        "field": "business_hours.start",
        "detail": "not HH:MM",
    }
    assert Invalid("nothing to change: give url, events or enabled").code == "invalid"  # no field
    assert Unprocessable("other_id: itself", code="merge_same_contact").answer() == {
        "error": "other_id: itself",
        "code": "merge_same_contact",
    }
    assert Conflict("name: taken").code == "conflict"  # a clash, not bad input
