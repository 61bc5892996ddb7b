"""Provider adapters: verify a webhook, parse it into normalized events, send a message."""
