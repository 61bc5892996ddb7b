"""The provider failing for a while (500, 503, 429 with Retry-After, answers slower than the send
timeout) delays replies but loses none and doubles none on our side.

The fake Notifica.me answers a scripted run of faults to whatever sends arrive first, then recovers.
With small backoff settings the outbox retries through all of it; at the end every reply is `sent`,
once, with a provider id the fake handed out, and the outbox is empty. A timed-out call may have
reached the provider (it answered late), so the provider may see a reply twice: at-least-once toward
Notifica.me, which has no idempotency key, and exactly once in our rows.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from tests.fakes.notificame import Reply, notificame_app
from tests.fakes.serve import serve
from tests.faults.harness import fetch, first_heard_in_order, inbox_serve, poll_rows, provision, seed_replies
from tests.faults.servers import PgServer

CONVERSATIONS = 12
PER_CONVERSATION = 2
ROUNDS = 16  # each round: 500, 429 + Retry-After, too slow, 503
SEND_TIMEOUT = 0.5
OUT_ROWS = (
    "SELECT id, text, status, error, provider_message_id FROM messages"
    " WHERE tenant_id = $1 AND direction = 'out' AND sender_type = 'agent'"
)


async def test_provider_errors_rate_limits_and_timeouts_then_everything_goes_out_once(
    pg_server: PgServer, tmp_path: Path
) -> None:
    db = await pg_server.create_database()
    site = await provision(pg_server.url(db), pg_server.dsn(db), tmp_path)
    nm_app, nm = notificame_app(token="nm-token")
    faults = [
        Reply(500),
        Reply.rate_limited(1),
        Reply(delay=SEND_TIMEOUT + 0.7),  # a success the sender no longer waits for
        Reply(503),
    ]
    nm.script(*(faults * ROUNDS))
    async with serve(nm_app) as nm_url:
        env = {
            **site.env,
            "NOTIFICAME_API_URL": nm_url + "/v1",
            "INBOX_SEND_TIMEOUT_SECONDS": str(SEND_TIMEOUT),
            "INBOX_SEND_BACKOFF_BASE_SECONDS": "0.2",
            "INBOX_SEND_BACKOFF_MAX_SECONDS": "1.5",
            "INBOX_SEND_MAX_ATTEMPTS": "100",
            "INBOX_SEND_LEASE_SECONDS": "5",
        }
        async with inbox_serve(env, tmp_path / "serve.log") as served:
            try:
                posted = await seed_replies(served.url, site, CONVERSATIONS, PER_CONVERSATION, "5541900")
                rows = await poll_rows(
                    site.dsn,
                    OUT_ROWS,
                    (site.tenant_id,),
                    lambda rows: len(rows) == len(posted) and all(r["status"] != "queued" for r in rows),
                    60,
                    "every reply to leave the queue",
                )
            except AssertionError:
                print(served.log_tail())
                raise
        outbox = await fetch(
            site.dsn, "SELECT count(*) AS n FROM outbox WHERE tenant_id = $1", site.tenant_id
        )

    assert nm.pending == 0, "the provider's faults were not all met"
    statuses = Counter(r["status"] for r in rows)
    assert statuses == {"sent": len(posted)}, [dict(r) for r in rows if r["status"] != "sent"][:5]
    texts = [r["text"] for r in rows]
    assert sorted(texts) == sorted(posted)  # one row per reply
    assert outbox[0]["n"] == 0
    ids = [r["provider_message_id"] for r in rows]
    assert len(set(ids)) == len(ids) and set(ids) <= set(nm.sent_ids)
    # What the provider accepted: every call after the scripted faults, and the too-slow ones.
    n_faults = len(faults) * ROUNDS
    slow = {i for i in range(n_faults) if faults[i % len(faults)].delay}
    accepted = Counter(_text(r) for i, r in enumerate(nm.requests) if i >= n_faults or i in slow)
    assert set(accepted) == set(posted)
    twice = sum(n - 1 for n in accepted.values())
    assert twice <= len(slow)  # only a call we gave up on can reach the provider a second time
    # Per conversation, the provider first heard of each reply in posting order.
    assert first_heard_in_order([_text(r) for r in nm.requests], posted)
    print(
        f"\nfaults: provider faults: replies {len(posted)}, provider calls {len(nm.requests)} "
        f"(faults {n_faults}: {ROUNDS} each of 500, 429, timeout, 503), "
        f"accepted by the provider {sum(accepted.values())} ({twice} twice after a timeout), "
        f"stored {len(rows)} rows once, all sent"
    )


def _text(request: object) -> str:
    body = getattr(request, "json", None)
    return str(body["contents"][0]["text"]) if isinstance(body, dict) else ""
