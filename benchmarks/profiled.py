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


def main() -> None:
    from pyinstrument import Profiler

    report = sys.argv[1]
    sys.argv = ["inbox", *sys.argv[2:]]
    profiler = Profiler(interval=0.0005, async_mode="disabled")

    def start(*_: Any) -> None:
        profiler.start()

    def stop(*_: Any) -> None:
        profiler.stop()
        text = profiler.output_text(unicode=False, show_all=True, timeline=False)
        with open(report, "w") as f:
            f.write(_flat(profiler.last_session) + "\n\n" + text)

    signal.signal(signal.SIGUSR1, start)
    signal.signal(signal.SIGUSR2, stop)
    # uvicorn re-raises SIGTERM after its graceful shutdown; exit normally instead.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        runpy.run_module("inbox.cli", run_name="__main__")
    except SystemExit:
        pass


if __name__ == "__main__":
    main()
