"""Property tests: whatever bytes arrive, `parse` returns well-formed events or raises InvalidPayload.

Three sources of input: arbitrary bytes, arbitrary JSON (biased towards the field names the providers
use), and the real fixture envelopes with random subtrees replaced or deleted - the last reaches deep
into the parsers, where a wrong type in one field must not become a crash.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any, get_args

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from channels.base import (
    Adapter,
    Attachment,
    ChannelConfig,
    ContactRef,
    ContentKind,
    DeliveryStatus,
    InvalidPayload,
    MessageDeleted,
    MessageReceived,
    StatusUpdate,
)
from channels.meta import MetaAdapter
from channels.notificame import NotificameAdapter

FIXTURES = Path(__file__).parent / "fixtures"
KINDS = ["whatsapp", "instagram", "messenger", "telegram"]
ADAPTERS: dict[str, Adapter] = {
    "notificame": NotificameAdapter(api_url="https://hub.invalid/v1"),
    "meta": MetaAdapter(graph_url="https://graph.invalid/v21.0"),
}
# 100 examples per (test, adapter, kind) in the suite: 1,600 documents a run, new ones each run. For a
# deep run: INBOX_FUZZ_EXAMPLES=5000 pytest tests/channels/test_fuzz.py
SETTINGS = settings(
    max_examples=int(os.environ.get("INBOX_FUZZ_EXAMPLES", "100")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
)

# Field names and values the parsers look at, so random documents hit real branches often.
KEYS = """
    object entry id time messaging standby changes field value sender recipient timestamp message
    mid text is_echo is_deleted is_unsupported attachments type payload url sticker_id coordinates
    lat long title reply_to story quick_reply reaction action emoji postback delivery mids watermark
    read contacts profile name wa_id messages from to context statuses status errors code error_data
    details recipient_id image document audio video sticker location latitude longitude interactive
    button_reply list_reply button caption mime_type filename message_id direction channel visitor
    contents fileUrl fileMimeType fileCaption fileName messageId messageStatus causes description
    reason channelErrorCode
""".split()
VALUES = """
    page instagram whatsapp_business_account MESSAGE MESSAGE_STATUS IN OUT whatsapp facebook
    telegram text file image audio video location contacts fallback template story_mention share
    ig_reel reaction interactive button button_reply list_reply unsupported react unreact sent
    delivered read failed SENT READ REJECTED DELETED messages 1714564800 2024-05-01T12:00:00Z
    image/png
""".split()

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
    st.sampled_from(VALUES),
)
keys = st.one_of(st.sampled_from(KEYS), st.text(max_size=8))
json_values = st.recursive(
    scalars,
    lambda children: st.one_of(st.lists(children, max_size=4), st.dictionaries(keys, children, max_size=6)),
    max_leaves=40,
)


def _fixture_documents() -> list[Any]:
    return [json.loads(p.read_bytes()) for p in sorted(FIXTURES.glob("*/*.json"))]


DOCUMENTS = _fixture_documents()
_DELETE = object()


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield prefix
    if isinstance(value, dict):
        for key, child in value.items():
            yield from _paths(child, (*prefix, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            yield from _paths(child, (*prefix, index))


def _replace(value: Any, path: tuple[Any, ...], new: Any) -> Any:
    """A copy of `value` with the node at `path` replaced by `new` (or removed, for `_DELETE`)."""
    if not path:
        return None if new is _DELETE else new
    head, rest = path[0], path[1:]
    copy: Any = dict(value) if isinstance(value, dict) else list(value)
    if new is _DELETE and not rest:
        del copy[head]
    else:
        copy[head] = _replace(value[head], rest, new)
    return copy


@st.composite
def mutated_documents(draw: st.DrawFn) -> Any:
    document = draw(st.sampled_from(DOCUMENTS))
    for _ in range(draw(st.integers(min_value=1, max_value=4))):
        path = draw(st.sampled_from(list(_paths(document))))
        document = _replace(document, path, draw(st.one_of(st.just(_DELETE), json_values)))
    return document


def _encode(document: Any) -> bytes:
    return json.dumps(document, allow_nan=True).encode()


def _channel(kind: str, provider: str) -> ChannelConfig:
    return ChannelConfig(1, 1, kind, provider, "fuzz", "ext-1", {"app_secret": "s"})  # type: ignore[arg-type]


def _aware(value: datetime | None) -> bool:
    return value is None or value.utcoffset() is not None


def _check_contact(contact: ContactRef | None) -> None:
    if contact is not None:
        assert contact.kind in KINDS
        assert isinstance(contact.external_id, str) and contact.external_id
        assert contact.name is None or isinstance(contact.name, str)


def _check_attachment(attachment: Attachment) -> None:
    assert isinstance(attachment, Attachment)
    assert attachment.kind in ("image", "audio", "video", "file", "sticker")
    for value in (attachment.url, attachment.mime_type, attachment.name):
        assert value is None or isinstance(value, str)


def check_parse(adapter: Adapter, kind: str, raw: bytes) -> None:
    """The property: a list of well-formed base events, or InvalidPayload - nothing else."""
    try:
        events = adapter.parse(_channel(kind, adapter.provider), raw)
    except InvalidPayload:
        return
    assert isinstance(events, list)
    for event in events:
        if isinstance(event, MessageReceived):
            _check_contact(event.contact)
            assert isinstance(event.provider_message_id, str) and event.provider_message_id
            assert event.kind in get_args(ContentKind)
            assert event.text is None or (isinstance(event.text, str) and event.text)
            assert isinstance(event.attachments, tuple)
            for attachment in event.attachments:
                _check_attachment(attachment)
            assert event.reply_to is None or isinstance(event.reply_to, str)
            assert event.direction in ("in", "out")
            assert _aware(event.timestamp)
            assert (event.raw is not None) == (event.kind == "unsupported")
            # Nothing blank reaches an agent: text kinds carry text, media kinds an attachment.
            if event.kind in ("text", "location", "contacts"):
                assert event.text
            if event.kind in ("image", "audio", "video", "file", "sticker"):
                assert event.attachments
        elif isinstance(event, StatusUpdate):
            assert event.status in get_args(DeliveryStatus)
            assert event.provider_message_id is not None or event.watermark is not None
            assert event.error is None or isinstance(event.error, str)
            assert _aware(event.timestamp) and _aware(event.watermark)
            _check_contact(event.contact)
        else:
            assert isinstance(event, MessageDeleted), event
            assert isinstance(event.provider_message_id, str) and event.provider_message_id
            _check_contact(event.contact)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("provider", sorted(ADAPTERS))
@SETTINGS
@given(document=json_values)
def test_arbitrary_json(provider: str, kind: str, document: Any) -> None:
    check_parse(ADAPTERS[provider], kind, _encode(document))


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("provider", sorted(ADAPTERS))
@SETTINGS
@given(document=mutated_documents())
def test_mutated_fixture_envelopes(provider: str, kind: str, document: Any) -> None:
    check_parse(ADAPTERS[provider], kind, _encode(document))


@pytest.mark.parametrize("provider", sorted(ADAPTERS))
@SETTINGS
@given(raw=st.binary(max_size=200))
def test_arbitrary_bytes(provider: str, raw: bytes) -> None:
    check_parse(ADAPTERS[provider], "whatsapp", raw)


@pytest.mark.parametrize("provider", sorted(ADAPTERS))
def test_every_fixture_passes_the_property(provider: str) -> None:
    for document in DOCUMENTS:
        for kind in KINDS:
            check_parse(ADAPTERS[provider], kind, _encode(document))


# Exhaustive type confusion: every node of every fixture replaced, in turn, by a value of each JSON
# type (or removed). Deterministic and quick, it reaches the branches random mutation rarely hits.
ODD_VALUES: list[Any] = [_DELETE, None, True, 0, -1, 1e300, "", "x", [], [None], {}, {"id": 1}]


@pytest.mark.parametrize("provider", sorted(ADAPTERS))
def test_every_node_of_every_fixture_replaced_by_odd_values(provider: str) -> None:
    adapter = ADAPTERS[provider]
    for fixture in sorted((FIXTURES / provider).glob("*.json")):
        document = json.loads(fixture.read_bytes())
        for path in _paths(document):
            for odd in ODD_VALUES:
                try:
                    check_parse(adapter, "whatsapp", _encode(_replace(document, path, odd)))
                except Exception as exc:
                    raise AssertionError(f"{fixture.name} at {path!r} <- {odd!r}") from exc
