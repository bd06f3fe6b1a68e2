"""One chat turn at work: a plan played out as ADK frames, state changes and credits.

Endings follow real ADK 2.13 (scenario `stream.ending`; tests/contract/ runs the real
server): without streaming, a model call after the tools that says nothing ends the turn
with a MODEL_RETURNED_NO_CONTENT event, as every silent edit does there.

The turn runs as its own task and puts frames on a queue; the HTTP stream only reads
that queue. So, like the cloud, a turn whose client went away (or whose stream a
scenario dropped) still finishes: the draft changes and the credits are spent, and a
runtime that recovers by reading the state sees the result.

Credits: the plan's cost is frozen when the turn starts (`frozen` > 0 while it runs)
and spent when it ends; a turn that fails gives them back.
"""

from __future__ import annotations

import asyncio

from . import adk
from .agent import Plan, Step
from .scenario import StreamFaults, Timing
from .store import Account, SessionRecord

MALFORMED = b'data: {"content":{"parts":[{"text":"Sure, gen\n\n'
ERROR_KIND = "RuntimeError"  # real ADK names the exception's type in errorCode
# How a model call ends without content after the first tool (finishReason = errorCode).
CUT_SHORT = {
    "max_tokens": "MAX_TOKENS",
    "malformed_call": "MALFORMED_FUNCTION_CALL",
    "too_many_calls": "TOO_MANY_TOOL_CALLS",
}
REFUSED = {"safety": "SAFETY", "recitation": "RECITATION"}


class _Failed(Exception):
    """The scenario made the agent fail mid-turn."""


class Turn:
    def __init__(
        self,
        session: SessionRecord,
        account: Account,
        plan: Plan,
        maker: adk.EventMaker,
        faults: StreamFaults,
        timing: Timing,
    ) -> None:
        self.session, self.account, self.plan = session, account, plan
        self.maker, self.faults, self.timing = maker, faults, timing
        self.frames: asyncio.Queue[bytes | None] = asyncio.Queue()
        self._events = 0

    async def run(self) -> None:
        cost, account = self.plan.cost, self.account
        account.available -= cost
        account.frozen += cost
        spent = False
        try:
            spent = await self._play()
        except _Failed:
            pass
        finally:
            account.frozen -= cost
            if not spent:
                account.available += cost
            self.frames.put_nowait(None)

    async def _play(self) -> bool:
        """Play the plan as frames; True when its work was done (and is charged)."""
        ending = self.faults.ending
        if self.faults.error_frame and self.faults.error_after_events == 0:
            await self._fail()
        if ending == "usage_event":
            await self._emit(self.maker.usage_only())
        if ending in REFUSED:
            await self._emit(self.maker.ended(REFUSED[ending], REFUSED[ending]))
            return False
        if ending == "prohibited":
            await self._emit(self.maker.ended(None, "PROHIBITED_CONTENT"))
            return False
        worked = False
        for step in self.plan.steps:
            if ending == "no_content" and worked and not step.calls:
                break  # the model's closing words never come: no content instead
            calls = [adk.new_call(c.name, c.args) for c in step.calls]
            later = ending == "long_running" and bool(calls)
            for event in self.maker.model_call(step.text, calls, long_running=later):
                await self._emit(event)
            if not calls:
                continue
            if ending == "tool_error":
                await self._fail("the render farm is unreachable (a stand-in scenario fault)")
            if later:  # the stream ends here; the tool finishes on its own
                asyncio.get_running_loop().create_task(self._finish_later(step))
                return True
            await asyncio.sleep(step.work_s)
            self.session.state.update(step.state_delta)
            answers = [(call, c.result) for call, c in zip(calls, step.calls, strict=True)]
            await self._emit(self.maker.tool_response(answers, step.state_delta))
            worked = True
            if ending in CUT_SHORT:
                await self._emit(self.maker.ended(CUT_SHORT[ending], CUT_SHORT[ending]))
                return True
            if ending == "model_error":
                await self._fail("the model backend is overloaded (a stand-in scenario fault)")
        last = self.plan.steps[-1] if self.plan.steps else None
        silent = worked and last is not None and (bool(last.calls) or not last.text)
        if ending == "no_content" or (silent and not self.maker.streaming):
            # ADK without streaming marks a model call that says nothing as an error
            await self._emit(self.maker.ended("STOP", adk.NO_CONTENT, adk.NO_CONTENT_MESSAGE))
        return True

    async def _finish_later(self, step: Step) -> None:
        await asyncio.sleep(step.work_s)
        self.session.state.update(step.state_delta)

    async def _emit(self, event: adk.Event) -> None:
        self._events += 1
        await self.frames.put(adk.frame(event))
        if self.faults.ending == "duplicate":
            await self.frames.put(adk.frame(event))  # the same frame again, byte for byte
        if self._events == 1:
            if self.faults.malformed_frame:
                await self.frames.put(MALFORMED)
            if self.faults.oversized_frame_bytes:
                await self.frames.put(
                    adk.frame(self.maker.padded(self.faults.oversized_frame_bytes))
                )
        if self.faults.error_frame and self._events >= self.faults.error_after_events:
            await self._fail()
        await asyncio.sleep(self.timing.frame_gap)

    async def _fail(self, message: str | None = None) -> None:
        message = (
            message or "The agent stopped unexpectedly (a fault from the stand-in's scenario)."
        )
        shape = self.faults.error_frame or "2.x"
        event = self.maker.error_event(ERROR_KIND, message) if shape == "2.x" else None
        for data in adk.error_frames(shape, ERROR_KIND, message, event, self.maker.clock()):
            await self.frames.put(data)
        raise _Failed
