"""One chat turn at work: a plan played out as ADK frames, state changes and credits.

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
from .agent import Plan
from .scenario import StreamFaults, Timing
from .store import Account, SessionRecord

MALFORMED = b'data: {"content":{"parts":[{"text":"Sure, gen\n\n'
AGENT_ERROR = "AGENT_ERROR"


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
            if self.faults.error_frame and self.faults.error_after_events == 0:
                await self._fail()
            for step in self.plan.steps:
                calls = [adk.new_call(c.name, c.args) for c in step.calls]
                for event in self.maker.model_call(step.text, calls):
                    await self._emit(event)
                if calls:
                    await asyncio.sleep(step.work_s)
                    self.session.state.update(step.state_delta)
                    answers = [(call, c.result) for call, c in zip(calls, step.calls, strict=True)]
                    await self._emit(self.maker.tool_response(answers, step.state_delta))
            spent = True
        except _Failed:
            pass
        finally:
            account.frozen -= cost
            if not spent:
                account.available += cost
            self.frames.put_nowait(None)

    async def _emit(self, event: adk.Event) -> None:
        self._events += 1
        await self.frames.put(adk.frame(event))
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

    async def _fail(self) -> None:
        message = "The agent stopped unexpectedly (a fault from the stand-in's scenario)."
        shape = self.faults.error_frame or "2.x"
        event = self.maker.error_event(AGENT_ERROR, message) if shape == "2.x" else None
        for data in adk.error_frames(shape, AGENT_ERROR, message, event):
            await self.frames.put(data)
        raise _Failed
