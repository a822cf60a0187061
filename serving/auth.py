"""API-key access control (an ASGI middleware) for the service.

The key is read once at start-up from ``ATHLETE_MM_API_KEY`` or from the file named by
``ATHLETE_MM_API_KEY_FILE`` (a secrets mount); never from the bento. Health and readiness
(``/healthz``, ``/livez``, ``/readyz``) stay open; every other path answers 401 without the key
(``Authorization: Bearer <key>`` or ``X-API-Key: <key>``) before any work is done.
"""
from __future__ import annotations

import hmac
import json
import os
from pathlib import Path

OPEN_PATHS = ("/healthz", "/livez", "/readyz")


def load_api_key(env: dict | None = None) -> str | None:
    env = os.environ if env is None else env
    key = env.get("ATHLETE_MM_API_KEY")
    path = env.get("ATHLETE_MM_API_KEY_FILE")
    if not key and path:
        p = Path(path)
        if not p.is_file():
            raise RuntimeError(f"ATHLETE_MM_API_KEY_FILE={path}: file not found")
        key = p.read_text().strip()
        if not key:
            raise RuntimeError(f"ATHLETE_MM_API_KEY_FILE={path}: the file is empty")
    return key or None


class ApiKeyMiddleware:
    def __init__(self, app, key: str):
        self.app, self.key = app, key.encode()

    def _authorised(self, headers: list[tuple[bytes, bytes]]) -> bool:
        h = dict(headers)
        given = h.get(b"x-api-key")
        auth = h.get(b"authorization", b"")
        if given is None and auth.lower().startswith(b"bearer "):
            given = auth[7:].strip()
        return given is not None and hmac.compare_digest(given, self.key)

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["path"] in OPEN_PATHS or self._authorised(scope.get("headers", [])):
            return await self.app(scope, receive, send)
        body = json.dumps({"error": "missing or wrong API key (Authorization: Bearer <key> or X-API-Key)"}).encode()
        await send({"type": "http.response.start", "status": 401,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                                (b"www-authenticate", b"Bearer")]})
        await send({"type": "http.response.body", "body": body})
