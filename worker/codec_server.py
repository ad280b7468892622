"""The worker's codec endpoint: Temporal's remote-codec protocol, so the Temporal UI and the ``temporal`` CLI show
journeys decoded.

``POST /decode`` and ``POST /encode`` take and return ``{"payloads": [...]}`` (Temporal's JSON of ``Payloads``);
the UI calls them from the operator's browser, hence CORS for the UI's origins. It reads every journey, so it
listens on loopback by default; in production it goes behind the operators' own authentication (README,
"Operating Diana"). What can no longer be read (an erased journey's key is gone) is returned as it came:
encrypted.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import Final

from aiohttp import web
from google.protobuf import json_format
from temporalio.api.common.v1 import Payload, Payloads

from infra.payload_codec import JourneyCodec

log = logging.getLogger("diana.codec")

MAX_BODY: Final = 16 * 1024 * 1024  # a page of a long history
_ALLOWED_HEADERS: Final = "Content-Type, X-Namespace, Authorization"


def codec_app(codec: JourneyCodec, namespace: str, origins: Iterable[str]) -> web.Application:
    allowed = frozenset(origins)

    def cors(request: web.Request, response: web.StreamResponse) -> web.StreamResponse:
        origin = request.headers.get("Origin")
        if origin and origin in allowed:
            response.headers["Access-Control-Allow-Origin"] = origin
            response.headers["Access-Control-Allow-Methods"] = "POST, OPTIONS"
            response.headers["Access-Control-Allow-Headers"] = _ALLOWED_HEADERS
            response.headers["Access-Control-Allow-Credentials"] = "true"
            response.headers["Vary"] = "Origin"
        return response

    def endpoint(change: Callable[[Payloads], Awaitable[list[Payload]]]) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:  # fmt: skip
        async def handle(request: web.Request) -> web.StreamResponse:
            if request.method == "OPTIONS":
                return cors(request, web.Response(status=204))
            asked = request.headers.get("X-Namespace")
            if asked and asked != namespace:
                return cors(request, web.json_response({"error": f"this codec serves namespace {namespace}"},
                                                       status=403))  # fmt: skip
            try:
                payloads = json_format.Parse(await request.text(), Payloads())
            except (json_format.ParseError, UnicodeDecodeError) as error:
                return cors(request, web.json_response({"error": f"not a Payloads JSON: {error}"}, status=400))
            changed = Payloads(payloads=await change(payloads))
            return cors(request, web.Response(text=json_format.MessageToJson(changed), content_type="application/json"))

        return handle

    async def decode(payloads: Payloads) -> list[Payload]:
        return list(await codec.decode_readable(payloads.payloads))

    async def encode(payloads: Payloads) -> list[Payload]:
        # Outside any workflow's context (the UI sending a signal): Diana's own key.
        return list(await codec.encode(payloads.payloads))

    app = web.Application(client_max_size=MAX_BODY)
    app.router.add_route("*", "/decode", endpoint(decode))
    app.router.add_route("*", "/encode", endpoint(encode))
    return app


class CodecServer:
    """Serves ``codec_app`` on ``host:port`` (port 0: nothing); a port already taken is logged, not fatal."""

    def __init__(self, codec: JourneyCodec, namespace: str, *, host: str, port: int, origins: Iterable[str]) -> None:
        self.app = codec_app(codec, namespace, origins)
        self.host, self.port = host, port
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        if not self.port:
            return
        runner = web.AppRunner(self.app, access_log=None)
        await runner.setup()
        try:
            await web.TCPSite(runner, self.host, self.port).start()
        except OSError as error:
            log.error("codec endpoint not served on %s:%s: %s", self.host, self.port, error)
            await runner.cleanup()
            return
        self._runner = runner
        log.info("codec endpoint on http://%s:%s (/decode, /encode)", self.host, self.port)

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
