from __future__ import annotations

from channels.base import ContactRef, MessageReceived, StatusUpdate
from inbox.sanitize import ID_MAX, NAME_MAX, clean, ident


def test_nul_characters_are_dropped_everywhere() -> None:
    ev = MessageReceived(
        contact=ContactRef("whatsapp", "55\x0011", name="Ma\x00ria"),
        provider_message_id="wamid.\x001",
        kind="unsupported",
        text="o\x00i",
        raw={"k\x00": ["v\x00", {"x": "\x00"}]},
    )
    out = clean(ev)
    assert isinstance(out, MessageReceived)
    assert (out.contact.external_id, out.contact.name, out.provider_message_id, out.text) == (
        "5511",
        "Maria",
        "wamid.1",
        "oi",
    )
    assert out.raw == {"k": ["v", {"x": ""}]}


def test_long_identifiers_shorten_deterministically_and_stay_distinct() -> None:
    a, b = "x" * 500 + "a", "x" * 500 + "b"
    assert len(ident(a) or "") == ID_MAX
    assert ident(a) == ident(a) and ident(a) != ident(b)
    assert ident("short") == "short"
    long_name = clean(MessageReceived(ContactRef("whatsapp", "1", "n" * 1000), "id", "text"))
    assert isinstance(long_name, MessageReceived) and len(long_name.contact.name or "") == NAME_MAX
    status = clean(StatusUpdate("failed", provider_message_id=a, error="bad\x00"))
    assert (
        isinstance(status, StatusUpdate) and status.provider_message_id == ident(a) and status.error == "bad"
    )


def test_non_finite_numbers_in_raw_json_become_null() -> None:
    ev = MessageReceived(
        contact=ContactRef("messenger", "123"),
        provider_message_id="m1",
        kind="unsupported",
        raw={"a": float("-inf"), "b": [float("nan"), 1.5, float("inf")], "c": {"d": 2}},
    )
    out = clean(ev)
    assert isinstance(out, MessageReceived)
    assert out.raw == {"a": None, "b": [None, 1.5, None], "c": {"d": 2}}


def test_an_event_that_needs_nothing_is_not_copied() -> None:
    ev = MessageReceived(
        contact=ContactRef("whatsapp", "5511", name="Maria"), provider_message_id="m1", kind="text", text="oi"
    )
    assert clean(ev) is ev
    status = StatusUpdate(provider_message_id="m1", status="read")
    assert clean(status) is status


def test_lone_surrogates_become_replacement_characters() -> None:
    ev = MessageReceived(
        contact=ContactRef("whatsapp", "5511", name="Ana \udfff"),
        provider_message_id="m1",
        kind="text",
        text="oi \ud800 🎉 ção",
        raw={"k": "\ud83c"},
    )
    out = clean(ev)
    assert isinstance(out, MessageReceived)
    assert (out.text, out.contact.name, out.raw) == ("oi \ufffd 🎉 ção", "Ana \ufffd", {"k": "\ufffd"})
