"""Where the shipped folders are: next to the package in a checkout, inside it when installed."""

from __future__ import annotations

from pathlib import Path

_PKG = Path(__file__).resolve().parent


def shipped(name: str) -> Path:
    """`static` or `migrations`: `pip install .` maps them to `inbox/static`, `inbox/migrations`."""
    for candidate in (_PKG / name, _PKG.parent / name):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"cannot find the {name}/ folder next to {_PKG}")
