"""The chat stream read off an open `/run_sse` response: bytes in, decoded events out.

A read that sees nothing for `idle` seconds (not even a heartbeat) is StreamIdleTimeout;
a connection that breaks is StreamDropped. The response is released when the stream
ended cleanly and closed otherwise (the consumer stopped early, or it broke).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import aiohttp

from skill.common import errors
from skill.common.logs import get_logger
from skill.wire.sse import ServerSentEvent, SSEDecoder

log = get_logger("nemo.client")


async def read_stream(resp: aiohttp.ClientResponse, idle: float) -> AsyncIterator[ServerSentEvent]:
    decoder, events, finished, started = SSEDecoder(), 0, False, time.monotonic()
    try:
        while True:
            try:
                chunk = await resp.content.readany()
            except asyncio.TimeoutError:
                raise errors.StreamIdleTimeout(
                    f"the chat stream sent nothing for {idle:g} s", idle_s=idle
                ) from None
            except aiohttp.ClientError as exc:
                raise errors.StreamDropped(
                    f"the chat stream broke off after {events} events ({type(exc).__name__})"
                ) from None
            batch = decoder.feed(chunk) if chunk else decoder.close()
            for event in batch:
                events += 1
                yield event
            if not chunk:
                finished = True
                return
    finally:
        elapsed = round((time.monotonic() - started) * 1000)
        log.info("chat_stream", events=events, finished=finished, elapsed_ms=elapsed)
        if finished:
            resp.release()
        else:
            resp.close()  # the consumer stopped early or the stream broke: drop it
