"""WebSockets during an outage (apps.core.outages): an error frame or close 4503, never 1011.

4503 follows Heimdall's 4401/4403/4404 (HTTP status + 4000). RFC 6455's own
1013 "try again later" cannot be used: daphne (autobahn) lets an application
close only with 1000 or 3000-4999.
"""

import contextlib
import json
import logging

from apps.core.exceptions import envelope
from apps.core.outages import CLOSE_TRY_AGAIN_LATER, unavailable_payload, unavailable_reason

logger = logging.getLogger(__name__)


class OutageGuardMixin:
    """First base of a consumer: an outage in a handler never crashes the socket (1011).

    On connect the socket is closed with 4503 (try again later); on a client
    message the client gets an error frame (`SERVICE_UNAVAILABLE`, with
    `retry_after_seconds`) and the socket stays open; on disconnect the
    consumer stops quietly. `error_frame_key` names the frame's kind field
    ("type" for /ws/signals/live, "event" for /ws/training).
    """

    error_frame_key = "type"
    _outage_accepted = False

    async def accept(self, *args, **kwargs):
        self._outage_accepted = True
        await super().accept(*args, **kwargs)

    async def dispatch(self, message):
        from channels.exceptions import StopConsumer

        try:
            await super().dispatch(message)
        except Exception as exc:
            reason = unavailable_reason(exc)
            if reason is None:
                raise
            kind = message.get("type", "")
            logger.warning("websocket %s: %s (%s)", kind, reason, exc.__class__.__name__)
            if kind == "websocket.disconnect":
                raise StopConsumer() from None
            if kind == "websocket.connect":
                if not self._outage_accepted:
                    await self.accept()
                await self.close(code=CLOSE_TRY_AGAIN_LATER)
                return
            await self.send_outage_error(reason)

    async def send_outage_error(self, reason: str) -> None:
        code, message, details = unavailable_payload(reason)
        frame = {self.error_frame_key: "error", **envelope(code, message, details)}
        await self.send(text_data=json.dumps(frame))


def websocket_outage_guard(app):
    """ASGI wrapper for the WebSocket stack: an outage before or around the consumer
    (authentication's user lookup, a consumer without the mixin) closes the socket
    with 4503 instead of a crash (1011) or a refused handshake."""

    async def guarded(scope, receive, send):
        state = {"connect_seen": False, "accepted": False, "closed": False}

        async def tracking_receive():
            message = await receive()
            if message["type"] == "websocket.connect":
                state["connect_seen"] = True
            return message

        async def tracking_send(message):
            if message["type"] == "websocket.accept":
                state["accepted"] = True
            elif message["type"] == "websocket.close":
                state["closed"] = True
            await send(message)

        try:
            return await app(scope, tracking_receive, tracking_send)
        except Exception as exc:
            reason = unavailable_reason(exc)
            if reason is None or state["closed"]:
                raise
            logger.warning("websocket %s: %s before the consumer ran", scope.get("path"), reason)
            with contextlib.suppress(Exception):  # the client may be gone already
                if not state["connect_seen"]:
                    await receive()
                if not state["accepted"]:
                    await send({"type": "websocket.accept"})
                await send({"type": "websocket.close", "code": CLOSE_TRY_AGAIN_LATER})

    return guarded
