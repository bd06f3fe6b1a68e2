"""The contract suite's agent: a real ADK LlmAgent whose Gemini client is scripted.

Nothing here talks to a network. `Gemini` is google-adk's own model class; only its
google-genai client's `aio.models.generate_content[_stream]` are replaced, so every
answer goes through ADK's real path (`LlmResponse.create`, the no-content check in
`_model_call.py`, the function-call flow, the API server's `run_sse`). The tools edit
the draft in session state (`tool_context.state["draft"]`), which ADK sends as the
function response event's `actions.stateDelta`.

A script is a list of steps, one per model call, set by the test through the backend's
`POST /test/script` (see ../../backend.py):

    {"text": "..."}                         a text answer (finish STOP)
    {"calls": [{"name": ..., "args": {}}]}  function calls (with "text" too, if given)
    {"empty": true}                         content with no parts, finish STOP
    {"finish": "MAX_TOKENS"}                no content, this finish reason
    {"block": "PROHIBITED_CONTENT"}         no candidate: the prompt was blocked
    {"raise": "message"}                    the model call raises
    "delay": seconds                        on any step: answer this much later
"""

from __future__ import annotations

import asyncio
import copy
from collections.abc import AsyncIterator
from typing import Any

from google import genai
from google.adk.agents import LlmAgent
from google.adk.models import Gemini
from google.adk.tools import LongRunningFunctionTool, ToolContext
from google.genai import types

SCRIPT: list[dict[str, Any]] = []  # the steps still to play, set through POST /test/script
REQUESTS: list[int] = []  # how many contents each model call received, for the tests


def _response(step: dict[str, Any]) -> types.GenerateContentResponse:
    usage = types.GenerateContentResponseUsageMetadata(
        prompt_token_count=120, candidates_token_count=18, total_token_count=138
    )
    if "block" in step:
        feedback = types.GenerateContentResponsePromptFeedback(block_reason=step["block"])
        return types.GenerateContentResponse(prompt_feedback=feedback, usage_metadata=usage)
    parts: list[types.Part] = []
    if step.get("text"):
        parts.append(types.Part(text=step["text"]))
    for call in step.get("calls", []):
        parts.append(types.Part(function_call=types.FunctionCall(**call)))
    content = None if "finish" in step and not parts else types.Content(role="model", parts=parts)
    candidate = types.Candidate(content=content, finish_reason=step.get("finish", "STOP"))
    return types.GenerateContentResponse(
        candidates=[candidate], usage_metadata=usage, model_version="scripted-gemini"
    )


async def _next(contents: Any) -> types.GenerateContentResponse:
    REQUESTS.append(len(contents or []))
    step = SCRIPT.pop(0) if SCRIPT else {"text": "OK."}
    if step.get("delay"):
        await asyncio.sleep(float(step["delay"]))
    if "raise" in step:
        raise RuntimeError(step["raise"])
    return _response(step)


async def _generate_content(
    *, model: str, contents: Any, config: Any = None
) -> types.GenerateContentResponse:
    return await _next(contents)


async def _generate_content_stream(
    *, model: str, contents: Any, config: Any = None
) -> AsyncIterator[types.GenerateContentResponse]:
    response = await _next(contents)

    async def one() -> AsyncIterator[types.GenerateContentResponse]:
        yield response

    return one()


def scripted_client() -> genai.Client:
    client = genai.Client(api_key="offline-contract-suite")
    models = client.aio.models  # the same object on every access
    models.generate_content = _generate_content  # type: ignore[method-assign]
    models.generate_content_stream = _generate_content_stream  # type: ignore[method-assign]
    return client


# -- tools: each changes the draft in session state ------------------------------------------


def _draft(ctx: ToolContext) -> dict[str, Any]:
    found = ctx.state.get("draft")
    return copy.deepcopy(found) if isinstance(found, dict) else {"d": 0, "t": []}


def _track(kind: int, name: str, segment: dict[str, Any]) -> dict[str, Any]:
    return {"tt": kind, "m": {"name": name}, "sg": [segment]}


def generate_video(prompt: str, duration: float, tool_context: ToolContext) -> dict[str, Any]:
    """Generate the raw video from a prompt."""
    ms = int(duration * 1000)
    draft = {"d": ms, "t": [_track(0, "Video", {"s": 0, "d": ms, "m": {"name": prompt}})]}
    tool_context.state["draft"] = draft
    return {"status": "ok", "duration": duration}


def add_background_music(name: str, volume: float, tool_context: ToolContext) -> dict[str, Any]:
    """Add a background music track."""
    draft = _draft(tool_context)
    seg = {"s": 0, "d": draft.get("d", 0), "m": {"name": name, "volume": volume}}
    draft["t"].append(_track(1, "BGM", seg))
    tool_context.state["draft"] = draft
    return {"status": "ok", "track": "BGM"}


def add_text(text: str, tool_context: ToolContext) -> dict[str, Any]:
    """Add a title."""
    draft = _draft(tool_context)
    draft["t"].append(_track(7, "Title", {"s": 0, "d": 3000, "m": {"text": text}}))
    tool_context.state["draft"] = draft
    return {"status": "ok", "track": "Title"}


def broken_tool(tool_context: ToolContext) -> dict[str, Any]:
    """A tool that fails."""
    raise RuntimeError("the render farm is unreachable")


def start_render(tool_context: ToolContext) -> None:
    """A long task: answers later (returns nothing now)."""
    return None


root_agent = LlmAgent(
    name="nemo_agent",
    model=Gemini(model="gemini-2.5-flash", client=scripted_client()),
    instruction="You edit videos.",
    tools=[
        generate_video, add_background_music, add_text, broken_tool,
        LongRunningFunctionTool(func=start_render),
    ],
)  # fmt: skip
