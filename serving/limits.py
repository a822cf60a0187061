"""Request limits and malformed uploads answered as 4xx before the service parses them.

``RequestLimits`` (an ASGI middleware) reads the whole body, up to ``max_bytes``
(``ATHLETE_MM_MAX_REQUEST_MB``, default 64): a larger body is a 413 naming the limit. A
``multipart/form-data`` upload without a boundary, or whose parts do not parse, is a 400 naming
the problem (BentoML's own form parsing would answer 500). The body is then replayed unchanged.
"""
from __future__ import annotations

import json
import os

DEFAULT_MAX_MB = 64.0


def max_request_bytes(env: dict | None = None) -> int:
    env = os.environ if env is None else env
    raw = env.get("ATHLETE_MM_MAX_REQUEST_MB", str(DEFAULT_MAX_MB))
    try:
        mb = float(raw)
    except ValueError:
        raise RuntimeError(f"ATHLETE_MM_MAX_REQUEST_MB={raw!r}: expected a number of megabytes") from None
    if mb <= 0:
        raise RuntimeError(f"ATHLETE_MM_MAX_REQUEST_MB={raw!r}: expected > 0")
    return int(mb * 1024 * 1024)


async def _reply(send, status: int, message: str) -> None:
    body = json.dumps({"error": message}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


def multipart_problem(content_type: str, body: bytes) -> str | None:
    """Why a multipart body cannot be parsed (None when it parses)."""
    from python_multipart.multipart import MultipartParser, parse_options_header

    _, params = parse_options_header(content_type)
    boundary = params.get(b"boundary")
    if not boundary:
        return "multipart/form-data without a boundary parameter in Content-Type"
    state = {"names": 0, "done": False}

    def on_header_value(data, start, end):
        if b"name=" in data[start:end]:
            state["names"] += 1

    def on_end():
        state["done"] = True

    try:
        p = MultipartParser(boundary, {"on_header_value": on_header_value, "on_end": on_end})
        p.write(body)
        p.finalize()
    except Exception as exc:  # the parser's own errors: a malformed body
        return f"malformed multipart body ({type(exc).__name__}: {exc})"
    if not state["done"] or state["names"] == 0:
        return "malformed multipart body: no complete named part"
    return None


class RequestLimits:
    def __init__(self, app, max_bytes: int):
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["method"] not in ("POST", "PUT", "PATCH"):
            return await self.app(scope, receive, send)
        headers = dict(scope.get("headers", []))
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            return await _reply(send, 413, f"request body of {int(declared)} bytes exceeds the limit of "
                                           f"{self.max_bytes} bytes (ATHLETE_MM_MAX_REQUEST_MB)")
        chunks, size = [], 0
        while True:
            msg = await receive()
            if msg["type"] == "http.disconnect":
                return
            chunk = msg.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                return await _reply(send, 413, f"request body exceeds the limit of {self.max_bytes} bytes "
                                               "(ATHLETE_MM_MAX_REQUEST_MB)")
            chunks.append(chunk)
            if not msg.get("more_body", False):
                break
        body = b"".join(chunks)
        ctype = headers.get(b"content-type", b"").decode("latin-1")
        if ctype.lower().startswith("multipart/"):
            problem = multipart_problem(ctype, body)
            if problem:
                return await _reply(send, 400, problem)
        sent = False

        async def replay():
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        return await self.app(scope, replay, send)
