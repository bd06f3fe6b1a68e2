"""Re-record the stand-in transcripts: `python tests/transcripts/corpus/record_corpus.py [NAME...]`.

Each case below starts a fresh local stand-in with its scenario, a fresh config folder,
and plays its turns through `skill.transcripts.recorder.record_turn`, exactly as `nemo-video say
--record` does. Run it after an intended change of behaviour, read `git diff`, commit.
Rendering is real (ffmpeg), so a full run takes a few minutes. The transcripts not
listed here (`hand-*.yaml`) are written by hand and never touched by this script.

Seeds pick the simulated agent's wording: each gui-* case's title names the phrase its
seed yields; a change of skill/standin/replies.yaml may need new seeds.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(ROOT))

from skill.common.config import DEFAULT_WEB_URL, Settings, Timings  # noqa: E402
from skill.common.output import CollectedOutput  # noqa: E402
from skill.conversation.store import ConversationStore  # noqa: E402
from skill.standin.server import start_standin  # noqa: E402
from skill.transcripts.format import Turn  # noqa: E402
from skill.transcripts.recorder import record_turn  # noqa: E402

PHOTO = ROOT / "skill" / "standin" / "media" / "sample-photo.jpg"
FILES = HERE / "files"
FAST = {"generate": 1.0, "edit": 0.3, "frame_gap": 0.0, "render_queue": 0.2}
QUICK_RECOVERY = {"recovery_waits": (0.5, 1.0, 1.0, 1.0, 1.0)}
BEACH = "generate a 3-second video of a beach at sunset"
BEACH_ZH = "生成一段3秒的海边日落视频"


# Whole events only (no partial deltas) where streaming is not what a case is about: the
# corpus stays small. intent-chat-*, gui-*, heartbeat-still-working, disconnect-*,
# trailing-issue, legacy-adk-1.39 and workflow-iterative stream.
WHOLE = {"streaming": False}
WHOLE_EVENTS = (
    "intent-export-en",
    "intent-export-zh",
    "intent-state-en",
    "intent-state-zh",
    "intent-upload-en",
    "intent-upload-zh",
    "error-1002-session-lost",
    "error-2001-credits-frame",
    "error-402-export",
    "error-agent-frame-2x",
    "error-agent-frame-1x",
    "silent-edits",
    "heartbeat-comment",
    "heartbeat-event",
    "render-fails-once",
    "render-fails-twice",
    "legacy-render-shape",
    "workflow-batch",
    "workflow-quick-edit",
    *(
        f"ending-{n}"
        for n in (
            "edited-no-content",
            "partial-max-tokens",
            "partial-malformed-call",
            "partial-too-many-calls",
            "partial-model-error",
            "partial-tool-error",
            "refused-safety",
            "refused-recitation",
            "refused-prohibited",
            "running-long-tool",
            "replied-usage-event",
            "failed-html",
            "failed-broken-frames",
            "asked",
        )
    ),
)


def say(text: str, *files: Path) -> Turn:
    return Turn("say", text, tuple(str(f) for f in files))


def cmd(name: str) -> Turn:
    return Turn("command", name)


@dataclass(frozen=True)
class Case:
    name: str
    title: str
    turns: tuple[Turn, ...]
    scenario: dict[str, Any] = field(default_factory=dict)
    timings: dict[str, Any] = field(default_factory=dict)
    about: str = ""


CASES = (
    # -- the intent table, English and Chinese ------------------------------------------
    Case("intent-export-en", "Intent: export, download, send me the video (English)",
         (say(BEACH), say("export"), say("download it"), say("send me the video")), {"seed": 3}),
    Case("intent-export-zh", "Intent: 导出, 下载 (Chinese)",
         (say(BEACH_ZH), say("导出"), say("下载")), {"seed": 3}),
    Case("intent-credits-en", "Intent: credits, balance (English)",
         (say("credits"), say("balance"), say("how many credits do I have left?"))),
    Case("intent-credits-zh", "Intent: 积分, 余额 (Chinese)",
         (say("积分"), say("余额"), say("我还有多少积分？"))),
    Case("intent-state-en", "Intent: status, show tracks (English)",
         (say(BEACH), say("status"), say("show tracks")), {"seed": 3}),
    Case("intent-state-zh", "Intent: 状态, 查看轨道 (Chinese)",
         (say(BEACH_ZH), say("状态"), say("查看轨道")), {"seed": 3}),
    Case("intent-upload-en", "Intent: upload a file, a media URL, a file with an instruction",
         (say("upload this", PHOTO), say("upload {cdn}/media/sample/sample-photo.jpg"),
          say("here's my photo, make a 3-second video from it", PHOTO)), {"seed": 3}),
    Case("intent-upload-zh", "Intent: 上传, a file with an instruction (Chinese)",
         (say("上传", PHOTO), say("这是我的照片，用它生成一段3秒的视频", PHOTO)), {"seed": 3}),
    Case("intent-chat-en", "Intent: everything else goes to the chat (English)",
         (say("hello"), say("what can you do?"), say(BEACH), say("add a title 'Golden Hour'")),
         {"seed": 3, "silent_edits": 0, "starting_credits": 300}),
    Case("intent-chat-zh", "Intent: everything else goes to the chat (Chinese)",
         (say("你好"), say(BEACH_ZH), say("添加标题“黄金时刻”")),
         {"seed": 3, "silent_edits": 0, "starting_credits": 300}),
    # -- every error code ----------------------------------------------------------------
    Case("error-1001-token-expired", "1001: the token expires, a new one is fetched, retried",
         (say("credits"), say("balance")), {"expire_token_after": 1}),
    Case("error-1002-session-lost", "1002: the backend lost the session, a new one is opened",
         (say("hello"), say("what can you do?")), {"lose_session_after": 1}),
    Case("error-2001-credits-frame", "2001 as an error frame mid-stream: the registration link",
         (say(BEACH),), {"starting_credits": 50}),
    Case("error-2001-credits-envelope", "2001 as an envelope before the stream",
         (say(BEACH),), {"starting_credits": 50, "credits_error": "envelope"}),
    Case("error-4001-unsupported", "4001: the backend refuses the file type",
         (say("upload this", PHOTO),), {"faults": [{"endpoint": "upload", "code": 4001}]}),
    Case("error-4002-too-large", "4002: the backend says the file is too large",
         (say("upload this", PHOTO),), {"faults": [{"endpoint": "upload", "code": 4002}]}),
    Case("error-400-client-id", "HTTP 400 on anonymous-token: a new client id, retried",
         (say("credits"),), {"faults": [{"endpoint": "anonymous_token", "status": 400}]}),
    Case("error-402-export", "HTTP 402 on export: a subscription matter, not credits",
         (say(BEACH), say("export")),
         {"seed": 3, "faults": [{"endpoint": "render_submit", "status": 402}]}),
    Case("error-429-rate-limited", "HTTP 429: waited out once; twice is an error line",
         (say("credits"), say("credits")),
         {"faults": [{"endpoint": "credits", "status": 429, "retry_after": 1, "times": 3}]}),
    Case("error-500-server", "HTTP 500: reads retried with back-off, then an error line",
         (say("credits"), say("credits")),
         {"faults": [{"endpoint": "credits", "status": 500, "times": 6}]}),
    Case("error-agent-frame-2x", "The agent fails mid-stream (ADK 2.x error event)",
         (say(BEACH),), {"stream": {"error_frame": "2.x"}}),
    Case("error-agent-frame-1x", "The agent fails mid-stream (ADK 1.x error frame)",
         (say(BEACH),), {"stream": {"error_frame": "1.x"}}),
    # -- silent edits, heartbeats, disconnects -------------------------------------------
    Case("silent-edits", "Silent edits: no text, the runtime says what changed",
         (say(BEACH), say("add lo-fi music at 30%"), say("add a title 'Hello'")),
         {"seed": 3, "silent_edits": 1.0, "starting_credits": 300}),
    Case("heartbeat-still-working", "Heartbeats (empty data:) and the Still working line",
         (say(BEACH),), {"seed": 3, "timing": {"generate": 2.5, "heartbeat": 0.3}},
         {"still_working_every": 1.0}),
    Case("heartbeat-comment", "Heartbeats as SSE comments (: ping)",
         (say(BEACH),), {"seed": 3, "stream": {"heartbeat": "comment"},
                         "timing": {"heartbeat": 0.3}}),
    Case("heartbeat-event", "Heartbeats as heartbeat events",
         (say(BEACH),), {"seed": 3, "stream": {"heartbeat": "event"},
                         "timing": {"heartbeat": 0.3}}),
    Case("stall-timeout", "Only heartbeats until the runtime gives up, then recovery",
         (say("what can you do?"),), {"stream": {"stall": True}, "timing": {"heartbeat": 0.3}},
         {"still_working_every": 1.0, "heartbeat_only_timeout": 2.5, "stream_idle_timeout": 10.0,
          **QUICK_RECOVERY}),
    Case("disconnect-recovery", "The stream drops mid-generation; the state shows the result",
         (say(BEACH),), {"seed": 3, "stream": {"drop_after_events": 4, "times": 1}},
         QUICK_RECOVERY),
    Case("disconnect-no-change", "The stream drops and nothing changes: five reads, then sorry",
         (say("what can you do?"),), {"stream": {"drop_after_events": 1}}, QUICK_RECOVERY),
    Case("trailing-issue", "A trailing 'I encountered a temporary issue' is dropped",
         (say(BEACH),), {"seed": 3, "stream": {"trailing_issue": True}}),
    # -- how a turn ends (skill/conversation/outcome.py), each as real ADK 2.13 ends it --
    *(Case(f"ending-{name}", title, turns, {"seed": 3, "stream": {"ending": ending}})
      for name, ending, title, turns in (
        ("edited-no-content", "no_content",
         "edited: tools ran, then MODEL_RETURNED_NO_CONTENT: the state diff", (say(BEACH),)),
        ("partial-max-tokens", "max_tokens",
         "partial: a tool ran, then MAX_TOKENS: what changed, no re-send", (say(BEACH),)),
        ("partial-malformed-call", "malformed_call",
         "partial: a tool ran, then MALFORMED_FUNCTION_CALL", (say(BEACH),)),
        ("partial-too-many-calls", "too_many_calls",
         "partial: a tool ran, then TOO_MANY_TOOL_CALLS", (say(BEACH),)),
        ("partial-model-error", "model_error",
         "partial: a tool ran, then the run raised (errorCode event and echo)", (say(BEACH),)),
        ("partial-tool-error", "tool_error",
         "partial: the tool raised (a call with no response)", (say(BEACH),)),
        ("refused-safety", "safety", "refused: SAFETY before any tool", (say(BEACH),)),
        ("refused-recitation", "recitation", "refused: RECITATION", (say(BEACH),)),
        ("refused-prohibited", "prohibited", "refused: the prompt blocked (PROHIBITED_CONTENT)",
         (say(BEACH),)),
        ("running-long-tool", "long_running",
         "running: a long-running tool (longRunningToolIds) still going", (say(BEACH),)),
        ("replied-duplicate", "duplicate", "replied: every frame twice, shown once",
         (say(BEACH),)),
        ("replied-usage-event", "usage_event", "replied: a usageMetadata-only event first",
         (say(BEACH),)),
        ("failed-html", "html", "failed: a 200 text/html page instead of a stream",
         (say(BEACH),)),
        ("failed-broken-frames", "broken_frames", "failed: only frames that are not JSON",
         (say(BEACH),)),
    )),
    Case("ending-asked", "asked: the agent asks back (a question, with how to answer)",
         (say(BEACH), say("add a caption")), {"seed": 3, "silent_edits": 0}),
    Case("long-turn-generation",
         "A generation as long as the real one (200 s, render 90 s; scaled by 0.01)",
         (say(BEACH), say("export")), {"seed": 3, "time_scale": 0.01, "timing": {
             "generate": 200.0, "edit": 40.0, "render": 90.0, "render_queue": 5.0,
             "heartbeat": 30.0}}, {"still_working_every": 0.5}),
    Case("cancelled-turn",
         "The user stops a long generation (nemo-video cancel) once two lines showed",
         (replace(say(BEACH), cancel_after=2), say("credits")),
         {"seed": 3, "time_scale": 0.01, "abort_on_disconnect": True, "timing": {
             "generate": 200.0, "edit": 40.0, "heartbeat": 30.0}}),
    # -- renders -------------------------------------------------------------------------
    Case("render-fails-once", "A render fails once: submitted again with a new id",
         (say(BEACH), say("export")), {"seed": 3, "render": {"fail_next": 1}}),
    Case("render-fails-twice", "A render fails twice: the user is told",
         (say(BEACH), say("export")), {"seed": 3, "render": {"fail_next": 2}}),
    Case("legacy-render-shape", "The older render-status shape: data.status / data.outputUrl",
         (say(BEACH), say("export")), {"seed": 3, "render": {"legacy_shape": True}}),
    Case("legacy-adk-1.39", "ADK 1.39 stream order (aggregate without partial before calls)",
         (say(BEACH), say("add a caption 'Hi' at 1s")),
         {"seed": 3, "adk": "1.39", "silent_edits": 0, "starting_credits": 300}),
    # -- GUI phrases ---------------------------------------------------------------------
    Case("gui-click-export-en", "GUI: 'Click the Export button' runs the export",
         (say(BEACH),), {"seed": 1}),
    Case("gui-open-timeline-en", "GUI: 'Open the timeline panel to preview it, then hit Export'",
         (say(BEACH),), {"seed": 7}),
    Case("gui-drag-en", "GUI: 'drag the clip on the timeline' becomes a hint",
         (say(BEACH),), {"seed": 0}),
    Case("gui-check-account-en", "GUI: 'Check your account page' shows the credits",
         (say("how many credits does a video cost?"),), {"seed": 0}),
    Case("gui-click-export-zh", "GUI: 点击导出按钮 runs the export",
         (say(BEACH_ZH),), {"seed": 0}),
    Case("gui-open-timeline-zh", "GUI: 打开时间线面板预览 shows the timeline",
         (say(BEACH_ZH),), {"seed": 1}),
    Case("gui-drag-zh", "GUI: 拖拽 becomes a hint", (say(BEACH_ZH),), {"seed": 2}),
    Case("gui-check-account-zh", "GUI: 账户页面 shows the credits",
         (say("生成一个视频要多少积分？"),), {"seed": 0}),
    # -- the seed skill's three workflows ------------------------------------------------
    Case("workflow-quick-edit", "Workflow: quick edit (upload, one edit, export)",
         (say("upload this photo", PHOTO), say("make a 3-second video from this photo"),
          say("add lo-fi music at 30%"), say("export")),
         {"seed": 3, "starting_credits": 300, "silent_edits": 0}),
    Case("workflow-batch", "Workflow: a batch of files, each its own project and render",
         tuple(t for f in ("beach", "city", "forest") for t in (
             cmd("new"), say("make a 3-second video from this photo", FILES / f"{f}.jpg"),
             say("export"))),
         {"seed": 3, "starting_credits": 400}),
    Case("workflow-iterative", "Workflow: iterative refinement over several turns",
         (say("generate a 4-second video of a forest"), say("add upbeat music at 40%"),
          say("add a title 'Into the Woods'"), say("make it 3 seconds"),
          say("set the music volume to 20%"), say("status"), say("export")),
         {"seed": 3, "starting_credits": 400, "silent_edits": 0}),
)  # fmt: skip


async def record(case: Case) -> Path:
    path = HERE / f"{case.name}.yaml"
    path.unlink(missing_ok=True)
    scenario = {**case.scenario, "timing": {**FAST, **case.scenario.get("timing", {})}}
    if case.name in WHOLE_EVENTS:
        scenario |= WHOLE
    with tempfile.TemporaryDirectory(prefix="nemo-corpus-") as tmp:
        standin = await start_standin(scenario=scenario)
        try:
            settings = Settings(
                api_url=standin.api_url,
                web_url=DEFAULT_WEB_URL,
                config_dir=Path(tmp) / "config",
                skill_source="transcripts",
                timings=replace(Timings(), **case.timings),
            )
            store = ConversationStore(settings.config_dir, "corpus")
            for turn in case.turns:
                turn = replace(turn, text=turn.text.format(cdn=standin.cdn_url))
                await record_turn(
                    path, settings, store, CollectedOutput(), out_dir=Path(tmp) / "out",
                    turn=turn, title=case.title, about=case.about or _about(case),
                )  # fmt: skip
        finally:
            await standin.close()
    return path


def _about(case: Case) -> str:
    scenario = yaml.safe_dump(case.scenario, default_flow_style=True, allow_unicode=True).strip()
    return f"Recorded by record_corpus.py against the local stand-in, scenario {scenario}"


async def main(names: list[str]) -> int:
    import structlog

    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(50))
    unknown = set(names) - {c.name for c in CASES}
    if unknown:
        print(f"unknown case(s): {', '.join(sorted(unknown))}", file=sys.stderr)
        return 2
    for case in CASES:
        if names and case.name not in names:
            continue
        started = time.monotonic()
        path = await record(case)
        kb, took = path.stat().st_size / 1024, time.monotonic() - started
        print(f"{case.name}: {len(case.turns)} turns, {kb:.1f} KB, {took:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main(sys.argv[1:])))
