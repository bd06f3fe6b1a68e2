"""The simulated agent's plans: two-stage generation, edits, silence, costs, honesty."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from skill.standin import timeline as tl
from skill.standin.agent import EDIT_COST, GENERATE_COST, Agent, Plan
from skill.standin.replies import load_replies
from skill.standin.rules import load_rules
from skill.standin.scenario import Timing
from skill.standin.store import Media, SessionRecord

MUSIC = "http://127.0.0.1:9/media/sample/sample-music.m4a"


def agent(seed: int = 0, silent: float = 0.0) -> Agent:
    return Agent(
        load_rules(),
        load_replies(),
        seed=seed,
        silent_share=silent,
        timing=Timing(),
        music_url=lambda: MUSIC,
    )


def session(draft: tl.Draft | None = None, media: list[Media] | None = None) -> SessionRecord:
    state: dict[str, Any] = {
        "draft": draft,
        "video_infos": [],
        "generated_media": [],
        "canvas_config": tl.canvas("16:9"),
        "timeline_version": 4,
    }
    return SessionRecord("task", "sid", "client", "en", state, media or [], turns=1)


def drafted() -> tl.Draft:
    return tl.with_music(tl.generated("beach", 10_000, "16:9", seed=2), "Lo-fi", MUSIC, 0.3)


def words(plan: Plan) -> list[str]:
    return [s.text for s in plan.steps if s.text]


def test_generation_is_two_stage_and_costs_a_generation() -> None:
    plan = agent().plan(session(), "generate a 12-second portrait video of a beach at sunset")
    first, second, last = plan.steps
    assert plan.cost == GENERATE_COST
    assert [c.name for c in first.calls] == ["generate_video"]
    raw = first.state_delta["draft"]
    assert [t["tt"] for t in raw["t"]] == [0] and raw["d"] == 12_000 and raw["m"]["ratio"] == "9:16"
    assert first.state_delta["timeline_version"] == 5
    assert first.state_delta["canvas_config"] == tl.canvas("9:16")
    assert first.state_delta["generated_media"][0]["kind"] == "synthetic"
    assert [c.name for c in second.calls] == ["add_background_music", "add_text", "apply_effects"]
    final = second.state_delta["draft"]
    assert [t["tt"] for t in final["t"]] == [0, 1, 7]
    assert final["t"][1]["sg"][0]["m"]["url"] == MUSIC
    assert final["t"][2]["sg"][0]["m"]["text"] == "Beach At Sunset"
    assert second.state_delta["timeline_version"] == 6
    assert not last.calls and last.text
    assert first.text and first.text.startswith("(local simulation)\n")
    assert not any(s.text.startswith("(local") for s in (second, last) if s.text)


def test_generation_from_an_uploaded_photo_uses_it() -> None:
    photo = Media("m1", "p.jpg", Path("/x/p.jpg"), "image", 10, "http://127.0.0.1:9/media/m1/p.jpg")
    plan = agent().plan(session(media=[photo]), "generate a 5-second video from this photo")
    seg = plan.steps[0].state_delta["draft"]["t"][0]["sg"][0]
    assert seg["m"] == {"name": "your photo", "kind": "image", "url": photo.url}
    assert plan.steps[1].state_delta["draft"]["t"][0]["sg"][0]["m"]["effect"] == "zoom"


def test_music_uses_the_users_own_audio_unless_a_style_is_asked() -> None:
    song = Media("m2", "song.mp3", Path("/x/song.mp3"), "audio", 10, "http://127.0.0.1:9/m2")
    own = agent().plan(session(drafted(), [song]), "add some music")
    assert own.steps[0].state_delta["draft"]["t"][1]["sg"][0]["m"]["url"] == song.url
    styled = agent().plan(session(drafted(), [song]), "add jazz music at 20%")
    meta = styled.steps[0].state_delta["draft"]["t"][1]["sg"][0]["m"]
    assert (meta["name"], meta["url"], meta["volume"]) == ("Jazz", MUSIC, 0.2)


@pytest.mark.parametrize(
    ("message", "tool"),
    [
        ("add upbeat music at 40% volume", "add_background_music"),
        ("set the music volume to 60%", "set_volume"),
        ("add a title 'Summer' for 2 seconds", "add_text"),
        ('add a caption "Hi" at 4s', "add_text"),
        ("remove the music", "remove_track"),
        ("trim it to 6 seconds", "trim_video"),
        ("add a zoom effect", "apply_effects"),
        ("添加标题“夏天”", "add_text"),
    ],
)
def test_an_edit_costs_an_edit_and_really_changes_the_draft(message: str, tool: str) -> None:
    before = drafted()
    plan = agent().plan(session(before), message)
    assert plan.cost == EDIT_COST
    step = plan.steps[0]
    assert [c.name for c in step.calls] == [tool]
    assert step.state_delta["draft"] != before
    assert step.state_delta["timeline_version"] == 5
    assert len(plan.steps) == 2 and plan.steps[1].text


def test_about_thirty_percent_of_edits_are_silent_deterministically() -> None:
    a, b = agent(seed=11, silent=0.3), agent(seed=11, silent=0.3)
    silent = [a.is_silent(turn) for turn in range(1, 401)]
    assert silent == [b.is_silent(turn) for turn in range(1, 401)]
    assert 0.24 < sum(silent) / len(silent) < 0.36
    assert silent != [agent(seed=12, silent=0.3).is_silent(t) for t in range(1, 401)]


def test_a_silent_edit_is_tool_events_only() -> None:
    plan = agent(silent=1.0).plan(session(drafted()), "remove the music")
    assert len(plan.steps) == 1 and plan.steps[0].text is None
    assert plan.steps[0].calls and plan.steps[0].state_delta["draft"]["t"][-1]["tt"] == 0
    generation = agent(silent=1.0).plan(session(drafted()), "generate a video of snow")
    assert all(s.text for s in generation.steps)  # generations always talk


def said(text: str, key: str, language: str = "en") -> bool:
    """Whether `text` is one of the reply's variants, whatever fills its placeholders."""
    for variant in load_replies().variants[key][language]:
        pattern = re.sub(r"\\\{\w+\\\}", ".+", re.escape(variant))
        if re.fullmatch(pattern, text):
            return True
    return False


@pytest.mark.parametrize(
    ("message", "draft", "key"),
    [
        ("add a title 'x'", None, "no_draft"),
        ("what can you do?", None, "capabilities"),
        ("how many credits does a video cost?", None, "cost"),
        ("how do I export it?", None, "export_help"),
        ("hi", None, "greeting"),
        ("write me a poem", None, "unknown"),
        ("remove the captions", "yes", "nothing_to_remove"),
        ("add a caption", "yes", "need_text"),
        ("make it landscape", "yes", "same_ratio"),
        ("set the volume to 10%", "music-less", "no_music"),
    ],
)
def test_what_it_cannot_act_on_gets_a_free_answer(message: str, draft: Any, key: str) -> None:
    d = {None: None, "yes": drafted(), "music-less": tl.generated("x", 5000, "16:9", seed=1)}[draft]
    plan = agent().plan(session(d), message)
    assert plan.cost == 0 and len(plan.steps) == 1 and not plan.steps[0].calls
    text = plan.steps[0].text or ""
    assert text.startswith("(local simulation)\n")
    assert said(text.removeprefix("(local simulation)\n"), key)


def test_changing_the_aspect_ratio_regenerates() -> None:
    plan = agent().plan(session(drafted()), "make it portrait")
    assert plan.cost == GENERATE_COST
    delta = plan.steps[0].state_delta
    assert delta["draft"]["m"]["ratio"] == "9:16" and delta["canvas_config"]["ratio"] == "9:16"
    assert [t["tt"] for t in delta["draft"]["t"]] == [0, 1]
    assert delta["draft"]["t"][0]["sg"][0]["m"]["seed"] == 2


def test_chinese_requests_get_chinese_answers_with_the_chinese_marker() -> None:
    plan = agent().plan(session(), "生成一个15秒的竖屏视频，内容是海边日落")
    assert plan.language == "zh" and plan.cost == GENERATE_COST
    first = plan.steps[0].text or ""
    assert first.startswith("（本地模拟）\n") and "海边日落" in first
    assert plan.steps[0].state_delta["draft"]["d"] == 15_000


def test_gui_phrases_turn_up_in_finished_generations() -> None:
    finals = {
        agent(seed=s).plan(session(), "generate a video of rain").steps[-1].text for s in range(30)
    }
    assert any("Click the Export button" in (t or "") for t in finals)
    assert any("Open the timeline panel" in (t or "") for t in finals)


def test_trailing_issue_and_shortfall_wording() -> None:
    a = agent()
    plan = a.with_trailing_issue(a.plan(session(), "hello"))
    assert plan.steps[-1].text == "I encountered a temporary issue. Please try again."
    assert a.shortfall(plan, 30) == "Insufficient credits: this needs 0 and 30 are left."
