"""Secrets at rest: provider tokens and app secrets are stored as Fernet tokens.

Owns the key (from `INBOX_SECRET_KEY` or generated once into the data dir) and encrypt/decrypt.
Decrypted secrets live only in memory, in `ChannelConfig`; they are never logged or serialized.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

KEY_FILE = "secret.key"


def load_or_create_key(secret_key: str | None, data_dir: Path) -> str:
    """The configured key, else the one in the data dir, else a new one written there.

    Of several processes starting at once exactly one key wins: each writes a private temp file and
    hard-links it into place, which fails when the name already exists; losers read the winner's.
    """
    if secret_key:
        return secret_key
    path = data_dir / KEY_FILE
    if path.exists():
        return path.read_text().strip()
    data_dir.mkdir(parents=True, exist_ok=True)
    tmp = data_dir / f".{KEY_FILE}.{os.getpid()}.{secrets.token_hex(4)}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(secrets.token_urlsafe(32) + "\n")
    try:
        os.link(tmp, path)
    except FileExistsError:
        pass
    finally:
        tmp.unlink()
    return path.read_text().strip()


class SecretBox:
    def __init__(self, key: str) -> None:
        # Any string works as a key: it is stretched to the 32 bytes Fernet wants.
        digest = hashlib.sha256(key.encode()).digest()
        self._fernet = Fernet(base64.urlsafe_b64encode(digest))
        # A separate key for signatures (signed file addresses), derived from the same secret.
        self._signing = hashlib.sha256(b"inbox-signing:" + key.encode()).digest()

    def sign(self, message: str) -> str:
        """HMAC-SHA256 of `message`, URL-safe (unguessable without the secret key)."""
        mac = hmac.new(self._signing, message.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(mac).decode().rstrip("=")

    def verify(self, message: str, signature: str) -> bool:
        return hmac.compare_digest(self.sign(message), signature)

    def seal(self, values: dict[str, str]) -> str:
        return self._fernet.encrypt(json.dumps(values, sort_keys=True).encode()).decode()

    def open(self, token: str) -> dict[str, str]:
        try:
            data = json.loads(self._fernet.decrypt(token.encode()))
        except InvalidToken as exc:
            raise ValueError("channel secrets cannot be decrypted with this INBOX_SECRET_KEY") from exc
        return {str(k): str(v) for k, v in data.items()}
