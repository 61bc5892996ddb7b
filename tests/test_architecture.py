"""The house rules that keep the tree growable, checked on the source itself.

- Provider knowledge lives behind the adapters: no provider is named in the core (`inbox/`) or the
  bot (`bot/`); every list of providers is derived from `channels.registry`.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PROVIDER_NAMES = re.compile(r"\b(notificame|notifica\.me|meta|graph\.facebook\.com)\b", re.IGNORECASE)


def _sources(*packages: str) -> list[Path]:
    return sorted(p for package in packages for p in (ROOT / package).rglob("*.py"))


def test_no_provider_is_named_outside_channels() -> None:
    found = [
        f"{path.relative_to(ROOT)}:{n}: {line.strip()}"
        for path in _sources("inbox", "bot")
        for n, line in enumerate(path.read_text().splitlines(), start=1)
        if PROVIDER_NAMES.search(line)
    ]
    assert found == []


def test_the_check_sees_a_provider_name() -> None:
    assert PROVIDER_NAMES.search('if channel.provider == "meta":')
    assert PROVIDER_NAMES.search("# Notifica.me does not sign")
    assert not PROVIDER_NAMES.search("metadata = MetaData()")
