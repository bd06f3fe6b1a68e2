"""A turn stopped on the user's word (`nemo-video cancel`).

Its stream is closed, which aborts the agent's run (ADK >= 2.2); what the agent had
done by then stays done. The state is read and compared with the draft from before the
turn, and the user is told what changed, or that nothing did.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import replace
from typing import Any

from skill.common.errors import NemoError
from skill.conversation import templates, timeline
from skill.conversation.outcome import Outcome, TurnOutcome
from skill.conversation.runtime import Runtime

STATE_WAIT = 15.0  # the longest the report waits for the state
RECANCEL = 0.05  # Python 3.11's wait_for can swallow a cancel (bpo-42130): cancel again


async def cancel_until_done(task: asyncio.Future[Any]) -> None:
    """Cancel `task` until it has ended (once is not always enough on Python < 3.12)."""
    while not task.done():
        task.cancel()
        await asyncio.wait({task}, timeout=RECANCEL)


async def report_stop(
    rt: Runtime, intent: str, before_draft: dict[str, Any] | None, *, sent: bool
) -> TurnOutcome:
    """Say the turn was stopped and what it had done; `sent`: its chat message went out."""
    lang = rt.lang
    rt.out.reply(templates.render("turns.cancelled", lang))
    lines: list[str] = []
    with contextlib.suppress(NemoError, asyncio.TimeoutError):
        conv = rt.store.load()
        if conv.session_id and sent:
            state = await asyncio.wait_for(rt.client.state(conv.session_id), STATE_WAIT)
            rt.store.update(lambda c: replace(c, draft=state.draft))
            before, after = timeline.parse_draft(before_draft), timeline.parse_draft(state.draft)
            lines = timeline.describe_changes(timeline.diff(before, after), lang)
    if lines:
        rt.out.reply(templates.render("turns.cancelled_done", lang))
        for line in lines:
            rt.out.reply(line)
    else:
        rt.out.reply(templates.render("turns.cancelled_nothing", lang))
    return TurnOutcome(intent, outcome=Outcome.PARTIAL if lines else Outcome.REPLIED)
