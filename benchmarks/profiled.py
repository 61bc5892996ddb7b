"""`inbox serve` under pyinstrument, for INBOX_BENCH_PROFILE=DIR (a debugging aid, not a dependency:
`pip install pyinstrument`). The ingest phase starts the profiler with SIGUSR1 and stops it with
SIGUSR2, so the report covers the timed webhooks only: DIR/serve-DATABASE-PORT.txt, a flat list of
where the time went (self time by package and by function, then inclusive) and pyinstrument's tree.

usage: python -m benchmarks.profiled REPORT serve --host ... --port ...
"""

from __future__ import annotations

import collections
import runpy
import signal
import sys
from collections.abc import Callable
from typing import Any


def _flat(session: Any, top: int = 60) -> str:
    own: collections.Counter[str] = collections.Counter()
    packages: collections.Counter[str] = collections.Counter()
    inclusive: collections.Counter[str] = collections.Counter()

    def walk(frame: Any, stack: frozenset[str]) -> None:
        path = frame.file_path or ""
        key = f"{frame.function} {frame.file_path_short}:{frame.line_no}" if path else frame.function
        own[key] += frame.total_self_time
        if "site-packages/" in path:
            package = path.split("site-packages/")[-1].split("/")[0]
        else:
            package = path.rsplit("/", 1)[-1] or frame.function
        packages[package] += frame.total_self_time
        if key not in stack:
            inclusive[key] += frame.time
        for child in frame.children:
            walk(child, stack | {key})

    walk(session.root_frame(), frozenset())
    lines = [f"duration {session.duration:.2f} s, cpu {session.cpu_time:.2f} s", "== self time by package"]
    lines += [f"{v:8.3f} {k}" for k, v in packages.most_common(25)]
    lines += ["== self time by function"] + [f"{v:8.3f} {k}" for k, v in own.most_common(top)]
    lines += ["== inclusive time by function"] + [f"{v:8.3f} {k}" for k, v in inclusive.most_common(top * 2)]
    return "\n".join(lines)


def profiler(report: str) -> tuple[Callable[[], None], Callable[[], None]]:
    """(start, stop) of a pyinstrument profile whose stop writes `report`."""
    from pyinstrument import Profiler

    prof = Profiler(interval=0.0005, async_mode="disabled")

    def stop() -> None:
        prof.stop()
        text = prof.output_text(unicode=False, show_all=True, timeline=False)
        with open(report, "w") as f:
            f.write(_flat(prof.last_session) + "\n\n" + text)

    return prof.start, stop


def serve_between(argv: list[str], hooks: list[tuple[Callable[[], None], Callable[[], None]]]) -> None:
    """`inbox ARGV` with each hook's start on SIGUSR1 and its stop on SIGUSR2."""
    sys.argv = ["inbox", *argv]
    signal.signal(signal.SIGUSR1, lambda *_: [start() for start, _ in hooks])
    signal.signal(signal.SIGUSR2, lambda *_: [stop() for _, stop in hooks])
    # uvicorn re-raises SIGTERM after its graceful shutdown; exit normally instead.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        runpy.run_module("inbox.cli", run_name="__main__")
    except SystemExit:
        pass


def main() -> None:
    serve_between(sys.argv[2:], [profiler(sys.argv[1])])


if __name__ == "__main__":
    main()
