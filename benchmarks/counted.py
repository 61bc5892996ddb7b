"""`inbox serve` with its database work counted, for the outbound phase: SQL statements sent (an
executemany is one), transactions begun and committed, between SIGUSR1 and SIGUSR2, written to
REPORT as JSON at SIGUSR2. With INBOX_BENCH_PROFILE set, the same window is also profiled
(benchmarks/profiled.py). Counts are structural: unlike the time a drain takes, they barely move with
the machine's load.

usage: python -m benchmarks.counted REPORT serve --host ... --port ...
"""

from __future__ import annotations

import collections
import json
import os
import sys
from collections.abc import Callable
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine

from benchmarks.profiled import profiler, serve_between


def counter(report: str) -> tuple[Callable[[], None], Callable[[], None]]:
    counts = {"statements": 0, "transactions": 0, "commits": 0}
    by_text: collections.Counter[str] = collections.Counter()
    on = [False]

    def bump(key: str) -> Callable[..., None]:
        def listener(*_: Any, **__: Any) -> None:
            if on[0]:
                counts[key] += 1

        return listener

    def statement(_conn: Any, _cursor: Any, text: str, *_: Any) -> None:
        if on[0]:
            counts["statements"] += 1
            by_text[" ".join(text.split())[:90]] += 1

    # On the Engine class: every engine of the process, the async ones' sync cores included.
    event.listen(Engine, "before_cursor_execute", statement)
    event.listen(Engine, "begin", bump("transactions"))
    event.listen(Engine, "commit", bump("commits"))

    def start() -> None:
        counts.update(dict.fromkeys(counts, 0))
        by_text.clear()
        on[0] = True

    def stop() -> None:
        on[0] = False
        tmp = report + ".tmp"
        with open(tmp, "w") as f:
            json.dump({**counts, "top": by_text.most_common(25)}, f)
        os.replace(tmp, report)

    return start, stop


def main() -> None:
    hooks = [counter(sys.argv[1])]
    if out := os.environ.get("INBOX_BENCH_PROFILE"):
        # First: the counts' file tells the bench that the window is written up, profile included.
        hooks.insert(0, profiler(f"{out}/serve-outbound-{os.getpid()}.txt"))
    serve_between(sys.argv[2:], hooks)


if __name__ == "__main__":
    main()
