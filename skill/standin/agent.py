"""The simulated agent: rules, not a language model, turning one message into a plan.

A plan is a list of steps, each what the "model" says (or nothing), the tools it calls,
how long they work and the state change their answers carry. Running the plan (frames,
heartbeats, credits) is `turn.py`'s job; the plan itself is pure and deterministic for
a given seed, turn number and message.

Like the cloud agent: a generation costs 100 credits and comes in two stages (the raw
video, then music, a title and effects); an edit costs 50, and about 30% of edits
answer with tool events only, no text; questions are free. The first text of every
turn carries the "(local simulation)" marker.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from . import timeline as tl
from .replies import Replies
from .rules import Request, Rules
from .scenario import Timing
from .store import Media, SessionRecord

GENERATE_COST, EDIT_COST = 100, 50
DEFAULT_SECONDS, MIN_SECONDS, MAX_SECONDS = 10.0, 2.0, 60.0
DEFAULT_VOLUME, TITLE_SECONDS, CAPTION_SECONDS = 0.3, 3.0, 3.0
EDITS = ("remove", "caption", "title", "music", "volume", "ratio", "trim", "effects")
ANSWERS = ("capabilities", "cost", "export_help", "greeting")  # replies of the same name


@dataclass(frozen=True)
class ToolCall:
    name: str
    args: dict[str, Any]
    result: dict[str, Any]


def tool(name: str, args: dict[str, Any], **result: Any) -> ToolCall:
    """A tool call whose answer is `{"status": "ok", **result}`."""
    return ToolCall(name, args, {"status": "ok", **result})


@dataclass(frozen=True)
class Step:
    text: str | None
    calls: tuple[ToolCall, ...] = ()
    state_delta: dict[str, Any] = field(default_factory=dict)
    work_s: float = 0.0


@dataclass(frozen=True)
class Plan:
    steps: tuple[Step, ...]
    cost: int
    language: str


class Agent:
    def __init__(
        self,
        rules: Rules,
        replies: Replies,
        *,
        seed: int,
        silent_share: float,
        timing: Timing,
        music_url: Callable[[], str],
    ) -> None:
        self.rules, self.replies = rules, replies
        self.seed, self.silent_share, self.timing = seed, silent_share, timing
        self.music_url = music_url

    def is_silent(self, turn: int) -> bool:
        """Whether an edit on this turn answers with tool events only (seeded)."""
        return random.Random(f"{self.seed}:{turn}:silent").random() < self.silent_share

    def with_trailing_issue(self, plan: Plan) -> Plan:
        """The plan, ending with the cloud's spurious "I encountered a temporary issue"."""
        issue = self.replies.say("temporary_issue", plan.language, random.Random(self.seed))
        return Plan((*plan.steps, Step(issue)), plan.cost, plan.language)

    def shortfall(self, plan: Plan, available: int) -> str:
        """The error message when the account cannot pay for the plan."""
        rng = random.Random(self.seed)
        return self.replies.say(
            "out_of_credits", plan.language, rng, cost=plan.cost, available=available
        )

    def plan(self, session: SessionRecord, message: str) -> Plan:
        request = self.rules.understand(message)
        turn = _Turn(self, session, request)
        draft = session.state.get("draft")
        for intent in request.intents:
            if intent in EDITS and not tl.ready(draft):
                continue
            plan = turn.answer(intent) if intent in ANSWERS else getattr(turn, intent)()
            return turn.marked(plan)
        if any(i in EDITS for i in request.intents):
            return turn.marked(turn.answer("no_draft"))
        return turn.marked(turn.answer("unknown"))


class _Turn:
    """One message's planning: the intents' methods, sharing what they all need."""

    def __init__(self, agent: Agent, session: SessionRecord, request: Request) -> None:
        self.agent, self.session, self.request = agent, session, request
        self.lang = request.language
        self.rng = random.Random(f"{agent.seed}:{session.turns}:{request.text}")
        self.state = session.state
        self.draft: tl.Draft = session.state.get("draft") or {}
        self.version = int(session.state.get("timeline_version") or 0)

    # -- building blocks ---------------------------------------------------------------

    def say(self, key: str, **values: Any) -> str:
        return self.agent.replies.say(key, self.lang, self.rng, **values)

    def name(self, key: str) -> str:
        return self.agent.replies.name(key, self.lang)

    def answer(self, key: str, **values: Any) -> Plan:
        return Plan((Step(self.say(key, **values)),), 0, self.lang)

    def marked(self, plan: Plan) -> Plan:
        steps = list(plan.steps)
        for i, step in enumerate(steps):
            if step.text:
                marker = self.agent.replies.marker(self.lang)
                # A line of its own, so that no GUI phrase in the same sentence takes it along.
                steps[i] = Step(f"{marker}\n{step.text}", step.calls, step.state_delta, step.work_s)
                break
        return Plan(tuple(steps), plan.cost, plan.language)

    def changed(self, draft: tl.Draft, **extra: Any) -> dict[str, Any]:
        self.version += 1
        return {"draft": draft, "timeline_version": self.version, **extra}

    def edit(self, key: str, call: ToolCall, draft: tl.Draft, **values: Any) -> Plan:
        """An edit: words, the tool, words again; or, on a silent turn, the tool alone."""
        delta, work = self.changed(draft), self.agent.timing.edit
        if self.agent.is_silent(self.session.turns):
            return Plan((Step(None, (call,), delta, work),), EDIT_COST, self.lang)
        values |= {"tracks": self.tracks(draft)}
        steps = (
            Step(self.say(f"{key}_before", **values), (call,), delta, work),
            Step(self.say(f"{key}_done", **values)),
        )
        return Plan(steps, EDIT_COST, self.lang)

    def tracks(self, draft: tl.Draft) -> str:
        return ("、" if self.lang == "zh" else ", ").join(tl.track_names(draft))

    def latest(self, *kinds: str) -> Media | None:
        return next((m for m in reversed(self.session.media) if m.kind in kinds), None)

    # -- generation --------------------------------------------------------------------

    def generate(self) -> Plan:
        req, timing = self.request, self.agent.timing
        seconds = _clamp(req.duration_s or DEFAULT_SECONDS)
        ratio = req.ratio or "16:9"
        media = {
            "image": self.latest("image"),
            "video": self.latest("video"),
            "upload": self.latest("image", "video"),
        }.get(req.media or "")
        old_name = _video_name(self.draft) if tl.ready(self.draft) else None
        subject = req.subject or (
            self.name(f"your_{media.kind}") if media else old_name or req.text[:60]
        )
        seed = self.rng.randrange(1, 2**31)
        raw = tl.generated(
            subject, int(seconds * 1000), ratio, seed=seed, media=media.info() if media else None
        )
        made = {
            "id": f"gen_{seed:x}",
            "kind": media.kind if media else "synthetic",
            "prompt": subject,
            "seed": seed,
            "duration": seconds,
            "ratio": ratio,
        }
        args = {"prompt": subject, "duration": seconds, "aspect_ratio": ratio}
        gen_call = tool(
            "generate_video",
            args | ({"source": media.url} if media else {}),
            media_id=made["id"],
            duration=seconds,
        )
        stage1 = self.changed(
            raw,
            generated_media=[*self.state["generated_media"], made],
            canvas_config=tl.canvas(ratio),
        )
        music_name, music_url = self.music_choice()
        volume = req.volume if req.volume is not None else DEFAULT_VOLUME
        title = req.quoted or req.words or _title_case(subject)
        title_s = min(TITLE_SECONDS, seconds)
        final = tl.with_effects(
            tl.with_text(
                tl.with_music(raw, music_name, music_url, volume),
                title,
                0,
                int(title_s * 1000),
                title=True,
            )
        )
        stage2_calls = (
            tool("add_background_music", {"name": music_name, "volume": volume}, track="BGM"),
            tool(
                "add_text",
                {"text": title, "start": 0, "end": title_s, "role": "title"},
                track=tl.TITLE,
            ),
            tool("apply_effects", {"effect": "auto"}),
        )
        values = {"seconds": _num(seconds), "ratio": self.name(ratio), "subject": subject}
        done = {**values, "count": len(final["t"]), "tracks": self.tracks(final)}
        steps = (
            Step(self.say("generate_start", **values), (gen_call,), stage1, timing.generate),
            Step(self.say("raw_ready"), stage2_calls, self.changed(final), timing.edit),
            Step(self.say("generate_done", **done)),
        )
        return Plan(steps, GENERATE_COST, self.lang)

    def music_choice(self) -> tuple[str, str]:
        """The requested style on the sample track, else the user's own audio, else sample."""
        upload = self.latest("audio")
        if self.request.style is None and upload is not None:
            return upload.name, upload.url
        return self.request.style or self.name("music_name"), self.agent.music_url()

    def ratio(self) -> Plan:
        ratio = self.request.ratio
        current = self.draft.get("m", {}).get("ratio")
        if ratio is None:
            return self.answer("unknown")
        if ratio == current:
            return self.answer("same_ratio", ratio=self.name(ratio))
        video = next((t for t in self.draft["t"] if t["tt"] == 0 and t["sg"]), None)
        meta = dict(video["sg"][0]["m"]) if video else {"name": "video", "kind": "synthetic"}
        media = {"type": meta["kind"], "url": meta["url"]} if meta.get("url") else None
        fresh = tl.generated(
            meta.get("name", "video"),
            self.draft["d"],
            ratio,
            seed=int(meta.get("seed", 1)),
            media=media,
        )
        draft = tl.with_effects(tl.reframed(self.draft, fresh))
        call = tool("set_aspect_ratio", {"aspect_ratio": ratio})
        delta = self.changed(draft, canvas_config=tl.canvas(ratio))
        seconds = _num(draft["d"] / 1000)
        done = {"seconds": seconds, "count": len(draft["t"]), "tracks": self.tracks(draft)}
        steps = (
            Step(
                self.say("regenerate_start", ratio=self.name(ratio)),
                (call,),
                delta,
                self.agent.timing.generate,
            ),
            Step(self.say("generate_done", **done)),
        )
        return Plan(steps, GENERATE_COST, self.lang)

    # -- edits -------------------------------------------------------------------------

    def music(self) -> Plan:
        name, url = self.music_choice()
        volume = self.request.volume if self.request.volume is not None else DEFAULT_VOLUME
        call = tool("add_background_music", {"name": name, "volume": volume}, track="BGM")
        draft = tl.with_music(self.draft, name, url, volume)
        return self.edit("music", call, draft, music=name, percent=_percent(volume))

    def volume(self) -> Plan:
        if not tl.has(self.draft, "music"):
            return self.answer("no_music")
        volume = self.request.volume if self.request.volume is not None else 0.5
        call = tool("set_volume", {"track": "BGM", "volume": volume})
        return self.edit(
            "volume", call, tl.with_volume(self.draft, volume), percent=_percent(volume)
        )

    def title(self) -> Plan:
        text = self.request.quoted or self.request.words or _title_case(_video_name(self.draft))
        return self.text(text, title=True)

    def caption(self) -> Plan:
        text = self.request.quoted or self.request.words
        return self.text(text, title=False) if text else self.answer("need_text")

    def text(self, text: str, *, title: bool) -> Plan:
        req = self.request
        start = req.start_s or 0.0
        length = req.length_s or ((req.end_s - start) if req.end_s else None)
        length = length if length and length > 0 else (TITLE_SECONDS if title else CAPTION_SECONDS)
        draft = tl.with_text(self.draft, text, int(start * 1000), int(length * 1000), title=title)
        added = [s for t in draft["t"] if t["tt"] == 7 for s in t["sg"] if s["m"]["text"] == text]
        seg = added[-1]
        start_s, end_s = seg["s"] / 1000, (seg["s"] + seg["d"]) / 1000
        role = "title" if title else "caption"
        args = {"text": text, "start": start_s, "end": end_s, "role": role}
        call = tool("add_text", args, track=tl.TITLE if title else tl.CAPTIONS)
        return self.edit(role, call, draft, text=text, start=_num(start_s), end=_num(end_s))

    def remove(self) -> Plan:
        target = self.request.target
        if target is None:
            return self.answer("unknown")
        what = self.name(target)
        if not tl.has(self.draft, target):
            return self.answer("nothing_to_remove", what=what)
        call = tool("remove_track", {"target": target}, removed=target)
        return self.edit("remove", call, tl.without(self.draft, target), what=what)

    def trim(self) -> Plan:
        seconds = self.request.duration_s or self.request.end_s
        if seconds is None:
            return self.answer("unknown")
        seconds = _clamp(seconds)
        call = tool("trim_video", {"duration": seconds}, duration=seconds)
        draft = tl.trimmed(self.draft, int(seconds * 1000))
        return self.edit("trim", call, draft, seconds=_num(seconds))

    def effects(self) -> Plan:
        call = tool("apply_effects", {"effect": "auto"})
        return self.edit("effects", call, tl.with_effects(self.draft))


def _clamp(seconds: float) -> float:
    return min(max(seconds, MIN_SECONDS), MAX_SECONDS)


def _num(value: float) -> str:
    return f"{value:g}"


def _percent(volume: float) -> int:
    return round(volume * 100)


def _video_name(draft: tl.Draft) -> str:
    for track in draft.get("t", []):
        if track.get("tt") == 0 and track.get("sg"):
            return str(track["sg"][0]["m"].get("name") or "video")
    return "video"


def _title_case(text: str) -> str:
    words = text.split()
    if words and words[0].lower() in ("a", "an", "the"):
        words = words[1:]
    title = " ".join(w[:1].upper() + w[1:] for w in words) or text
    return title[:40]
