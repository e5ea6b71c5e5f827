"""ASGI middleware refusing request bodies over a size limit with 413, before parsing them."""

from __future__ import annotations

import json

#: default audio duration limit (s) of the service, uploads and path requests alike
DEFAULT_MAX_DURATION_S: float = 15 * 60.0


class _TooLarge(Exception):
    pass


class BodySizeLimit:
    """Refuse bodies larger than ``max_bytes`` (413 Payload Too Large).

    A declared ``Content-Length`` over the limit is refused before anything is read; a body
    without one (chunked) is counted as it streams and refused as soon as it passes the
    limit, so an oversized upload is never spooled whole.
    """

    def __init__(self, app, max_bytes: int):
        self.app = app
        self.max_bytes = int(max_bytes)

    async def _refuse(self, send) -> None:
        body = json.dumps(
            {"detail": f"request body larger than the limit of {self.max_bytes} bytes"}
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = dict(scope.get("headers") or [])
        declared = headers.get(b"content-length")
        if declared is not None:
            try:
                too_big = int(declared) > self.max_bytes
            except ValueError:
                too_big = False
            if too_big:
                return await self._refuse(send)
        received = 0
        started = overflow = False

        async def limited_receive():
            nonlocal received, overflow
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    overflow = True
                    raise _TooLarge
            return message

        async def guarded_send(message):
            # after an overflow the app may answer with its own error (a form parser turns
            # the exception into 400): that answer is replaced by the 413
            nonlocal started
            if overflow:
                if message["type"] == "http.response.start" and not started:
                    started = True
                    await self._refuse(send)
                return
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, guarded_send)
        except _TooLarge:
            pass
        if overflow and not started:
            await self._refuse(send)
