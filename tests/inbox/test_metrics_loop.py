"""The webhook hot path's own instruments (inbox/metrics_loop.py) expose exactly what prometheus-client's
Counter and Histogram expose for the same updates (bounds included: a value equal to a bound counts in
that bound's bucket), and the provider ids of message frames are read as the regex reads them, in
Python's and PostgreSQL's JSON layouts."""

from __future__ import annotations

import json

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from inbox.events import EventRecord
from inbox.metrics import _FAST, _PROVIDER_ID, provider_ids
from inbox.metrics_loop import LoopCounter, LoopHistogram

VALUES = [0.0, 0.0004, 0.001, 0.0010001, 0.003, 0.0025, 0.05, 0.7, 5.0, 5.5, 120.0]


def _samples(registry: CollectorRegistry) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(generate_latest(registry).decode())
        for s in family.samples
        if not s.name.endswith("_created")
    }


def test_the_loop_instruments_expose_what_prometheus_client_does() -> None:
    ours, theirs = CollectorRegistry(), CollectorRegistry()
    counter = LoopCounter("t_hooks", "doc", ["provider", "outcome"], [("a", "x"), ("a", "y"), ("b", "x")])
    hist = LoopHistogram("t_seconds", "doc", _FAST)
    ours.register(counter)
    ours.register(hist)
    ref_counter = Counter("t_hooks", "doc", ["provider", "outcome"], registry=theirs)
    ref_hist = Histogram("t_seconds", "doc", buckets=_FAST, registry=theirs)
    for labels in [("a", "x"), ("a", "x"), ("b", "x")]:
        counter.values[labels] += 1
        ref_counter.labels(*labels).inc()
    ref_counter.labels("a", "y")  # every series exists from the start
    for v in VALUES:
        hist.observe(v)
        ref_hist.observe(v)
    got, want = _samples(ours), _samples(theirs)
    assert got == want, set(got.items()) ^ set(want.items())
    assert got[("t_seconds_bucket", (("le", "0.001"),))] == 3  # 0.0, 0.0004 and 0.001 itself


def _record(frame: dict[str, object], compact: bool, type_: str = "message.created") -> EventRecord:
    # PostgreSQL's json_build_object writes `"k" : "v"`; Python's json.dumps here writes `"k":"v"`.
    text = json.dumps(frame, separators=(",", ":") if compact else (", ", " : "), ensure_ascii=False)
    return EventRecord(1, 1, type_, 1, None, None, None, text)


def test_provider_ids_read_as_the_regex_reads_them() -> None:
    ids = ["wamid.HBgNNTUx==", 'a"quoted\\id', "ends-with-backslash\\", "ção-ü", ""]
    for compact in (True, False):
        records = [
            _record({"type": "message.created", "data": {"text": "Olá", "provider_message_id": pid}}, compact)
            for pid in ids
        ]
        records.append(_record({"data": {"provider_message_id": None, "x": '"y"'}}, compact))
        records.append(
            _record({"data": {"provider_message_id": "not-a-message"}}, compact, "conversation.updated")
        )
        regex = {
            hit.group(1)
            for r in records
            if r.type.startswith("message.") and (hit := _PROVIDER_ID.search(r.frame)) is not None
        }
        assert provider_ids(records) == regex
        assert {"wamid.HBgNNTUx==", "ção-ü", ""} <= provider_ids(records)
        assert "not-a-message" not in provider_ids(records) and "y" not in provider_ids(records)
