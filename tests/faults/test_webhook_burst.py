"""A burst of 5,000 webhooks with 10% duplicates and 5% reordered statuses: counts come out exact.

The burst (sent concurrently over keep-alive) mixes 4,250 distinct customer messages from 250
contacts, 500 repeated deliveries of some of them (a fifth right behind the original, so that they
tend to share a batch with it), and 250 MESSAGE_STATUS events for our 125 replies: half of the
replies were answered by the provider before the burst and get READ early in the burst and
DELIVERED late; the other half are still waiting for the provider's send answer (the fake holds it)
when both of their statuses arrive, in random order. At the end: one row per distinct message, one
conversation per contact, and every reply `read` (the highest status, never moved back), with no
status left parked.
"""

from __future__ import annotations

import random
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from tests.fakes.notificame import notificame_app
from tests.fakes.serve import serve
from tests.faults.harness import (
    Burst,
    Held,
    fetch,
    inbox_serve,
    poll_rows,
    provision,
    seed_replies,
    wait_until,
)
from tests.faults.servers import PgServer
from tests.support import notificame_message, notificame_status

TOTAL = 5000
CONTACTS = 250
REPLY_CONVERSATIONS = 25
REPLIES_PER_CONVERSATION = 5
ANSWERED_BEFORE = 60  # replies the provider answers before the burst; the rest wait for its answer
OUT_ROWS = (
    "SELECT text, status, provider_message_id FROM messages"
    " WHERE tenant_id = $1 AND direction = 'out' AND sender_type = 'agent'"
)


# 64 s under a load average of 6 on the 2-core box, past 120 s at 11: the bound stops a hang only.
@pytest.mark.timeout(300)
async def test_5000_webhooks_with_duplicates_and_reordered_statuses(
    pg_server: PgServer, tmp_path: Path
) -> None:
    rng = random.Random(19)
    db = await pg_server.create_database()
    site = await provision(pg_server.url(db), pg_server.dsn(db), tmp_path)
    nm_app, nm = notificame_app(token="nm-token")
    provider = Held(nm_app, pass_first=ANSWERED_BEFORE)
    replies = REPLY_CONVERSATIONS * REPLIES_PER_CONVERSATION
    async with serve(provider) as nm_url:
        env = {
            **site.env,
            "NOTIFICAME_API_URL": nm_url + "/v1",
            # The held sends must not time out: each must get exactly the provider id planned for it.
            "INBOX_SEND_TIMEOUT_SECONDS": "120",
            "INBOX_SEND_BACKOFF_BASE_SECONDS": "0.05",
        }
        try:
            async with inbox_serve(env, tmp_path / "serve.log") as served:
                try:
                    posted = await seed_replies(
                        served.url, site, REPLY_CONVERSATIONS, REPLIES_PER_CONVERSATION, "5551800"
                    )
                    answered = await poll_rows(
                        site.dsn,
                        OUT_ROWS,
                        (site.tenant_id,),
                        lambda rows: sum(r["status"] == "sent" for r in rows) == ANSWERED_BEFORE,
                        30,
                        "the first replies answered",
                    )
                    await wait_until(lambda: provider.held > 0, 30, "sends waiting for the provider")
                    sent_ids = [r["provider_message_id"] for r in answered if r["status"] == "sent"]
                    # The fake numbers its answers: the held sends will get the ids after these.
                    assert sorted(sent_ids) == sorted(f"nm-msg-{n}" for n in range(1, ANSWERED_BEFORE + 1))
                    waiting_ids = [f"nm-msg-{n}" for n in range(ANSWERED_BEFORE + 1, replies + 1)]

                    bodies, distinct = _burst(site, rng, sent_ids, waiting_ids)
                    assert len(bodies) == TOTAL
                    burst = Burst(served.url, site.channel.webhook_path, concurrency=16)
                    burst.feed(bodies)
                    stats = await burst.close(within=90)
                    assert stats.unexpected == [], stats.unexpected[:5]
                    assert stats.delivered == TOTAL
                    assert sum(provider.answered.values()) == ANSWERED_BEFORE  # the held sends still wait

                    provider.gate.set()
                    out = await poll_rows(
                        site.dsn,
                        OUT_ROWS,
                        (site.tenant_id,),
                        lambda rows: all(r["status"] == "read" for r in rows),
                        40,
                        "every reply read",
                    )
                except BaseException:
                    print(served.log_tail())
                    raise
        finally:
            provider.gate.set()

    stored = await fetch(
        site.dsn,
        "SELECT provider_message_id, count(*) AS n FROM messages"
        " WHERE tenant_id = $1 AND direction = 'in' GROUP BY 1",
        site.tenant_id,
    )
    counts = {r["provider_message_id"]: r["n"] for r in stored}
    assert {k for k in counts if k.startswith("burst-")} == distinct
    assert len(counts) == len(distinct) + REPLY_CONVERSATIONS  # and the replies' opening messages
    assert all(n == 1 for n in counts.values())
    conversations = await fetch(
        site.dsn, "SELECT count(*) AS n FROM conversations WHERE tenant_id = $1", site.tenant_id
    )
    assert conversations[0]["n"] == CONTACTS + REPLY_CONVERSATIONS
    assert sorted(r["text"] for r in out) == sorted(posted)
    assert Counter(r["status"] for r in out) == {"read": replies}
    assert {r["provider_message_id"] for r in out} == {*sent_ids, *waiting_ids}
    assert len(nm.requests) == replies  # no send was repeated
    parked = await fetch(site.dsn, "SELECT count(*) AS n FROM pending_statuses")
    assert parked[0]["n"] == 0
    print(
        f"\nfaults: burst: webhooks {TOTAL} (attempts {stats.attempts}, 503s {stats.unavailable}), "
        f"messages {len(distinct)} distinct + {TOTAL - len(distinct) - 2 * replies} duplicates -> stored "
        f"{len(distinct)} once; statuses {2 * replies} "
        f"({len(waiting_ids) * 2} before the send answer, {len(sent_ids) * 2} READ before DELIVERED) "
        f"-> {replies} replies read, each sent once; "
        f"conversations {conversations[0]['n']}"
    )


def _burst(
    site: Any, rng: random.Random, sent_ids: list[str], waiting_ids: list[str]
) -> tuple[list[dict[str, Any]], set[str]]:
    """The burst's bodies in sending order, and the distinct customer message ids among them."""
    statuses = 2 * (len(sent_ids) + len(waiting_ids))
    duplicates = TOTAL // 10
    distinct = TOTAL - duplicates - statuses
    messages = [
        notificame_message(
            site.channel,
            text=f"burst {i}",
            sender=f"5561900{i % CONTACTS:06d}",
            message_id=f"burst-{i}",
        )
        for i in range(distinct)
    ]
    # A fifth of the repeats go right behind their original (sent concurrently, so they tend to share
    # a batch with it); the rest anywhere. Both statuses of a waiting reply likewise travel together
    # half of the time.
    repeated = rng.sample(messages, duplicates)
    close_by = {id(m) for m in repeated[: duplicates // 5]}
    slots: list[list[dict[str, Any]]] = [[m, m] if id(m) in close_by else [m] for m in messages]
    for n, pid in enumerate(waiting_ids):
        pair = [notificame_status(pid, code) for code in rng.sample(["DELIVERED", "READ"], 2)]
        slots += [pair] if n % 2 else [[pair[0]], [pair[1]]]
    rng.shuffle(slots)
    body = [item for slot in slots for item in slot]
    for m in repeated[duplicates // 5 :]:
        body.insert(rng.randrange(len(body) + 1), m)
    # Replies the provider already answered: READ somewhere in the first 40%, DELIVERED in the last 40%.
    for pid in sent_ids:
        body.insert(rng.randrange(0, len(body) * 4 // 10), notificame_status(pid, "READ"))
    for pid in sent_ids:
        body.insert(rng.randrange(len(body) * 6 // 10, len(body) + 1), notificame_status(pid, "DELIVERED"))
    return body, {f"burst-{i}" for i in range(distinct)}
