"""HTTP routes. Each module exposes `routes`; `inbox.app` mounts them all."""
