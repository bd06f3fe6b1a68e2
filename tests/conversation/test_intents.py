"""Routing by intents/routing.yaml: the seed's table, its synonyms, guards and uploads."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from skill.common.errors import ConfigError
from skill.common.resources import data_path
from skill.conversation.intents import classify, explain, load_rules

PHOTO = (Path("photo.jpg"),)

# (message, attached files, intent, rule expected to decide, instruction sent after upload)
CASES = [
    # export (seed: "export" / "导出" / "download" / "send me the video")
    ("export", (), "export", "export", None),
    ("Export!", (), "export", "export", None),
    ("export 1080p MP4", (), "export", "export", None),
    ("please export the video", (), "export", "export", None),
    ("download", (), "export", "export", None),
    ("I want to download the video", (), "export", "export", None),
    ("send me the video", (), "export", "export", None),
    ("send me the final cut", (), "export", "export", None),
    ("save it as mp4", (), "export", "export", None),
    ("can you export it?", (), "export", "export", None),
    ("导出", (), "export", "export", None),
    ("导出视频", (), "export", "export", None),
    ("帮我导出一下", (), "export", "export", None),
    ("下载视频", (), "export", "export", None),
    ("把视频发给我", (), "export", "export", None),
    ("可以帮我导出吗？", (), "export", "export", None),
    # word boundaries
    ("what does the exporter do", (), "chat", "question", None),
    ("exporter settings", (), "chat", "chat", None),
    ("the downloads folder is full", (), "chat", "chat", None),
    # credits (seed: "credits" / "积分" / "balance" / "余额")
    ("credits", (), "credits", "credits", None),
    ("balance", (), "credits", "credits", None),
    ("check my credits", (), "credits", "own-balance-question", None),
    ("credits?", (), "credits", "own-balance-question", None),
    ("how many credits do I have left?", (), "credits", "own-balance-question", None),
    ("what's my balance?", (), "credits", "own-balance-question", None),
    ("积分", (), "credits", "credits", None),
    ("余额", (), "credits", "credits", None),
    ("查看余额", (), "credits", "own-balance-question", None),
    ("我还有多少积分？", (), "credits", "own-balance-question", None),
    ("积分还剩多少", (), "credits", "own-balance-question", None),
    # questions about the product, not the user's own numbers
    ("how many credits does a video cost?", (), "chat", "question", None),
    ("do I have enough credits for a 30s video?", (), "chat", "question", None),
    ("生成一个视频需要多少积分？", (), "chat", "question", None),
    ("导出要花积分吗", (), "chat", "question", None),
    # state (seed: "status" / "状态" / "show tracks")
    ("status", (), "state", "state", None),
    ("show tracks", (), "state", "state", None),
    ("show me the timeline", (), "state", "state", None),
    ("what's on my timeline?", (), "state", "own-state-question", None),
    ("what is the status?", (), "state", "own-state-question", None),
    ("状态", (), "state", "state", None),
    ("查看轨道", (), "state", "state", None),
    ("显示时间线", (), "state", "state", None),
    ("进度怎么样？", (), "state", "own-state-question", None),
    # upload (seed: "upload" / "上传" / the user sends a file)
    ("upload", (), "upload", "upload", None),
    ("上传", (), "upload", "upload", None),
    ("", PHOTO, "upload", "upload-file", None),
    ("here's my photo", PHOTO, "upload", "upload-file", None),
    ("upload this please", PHOTO, "upload", "upload-file", None),
    ("这是我的照片", PHOTO, "upload", "upload-file", None),
    ("here's my photo, make a 15s video from it", PHOTO, "upload", "upload-file",
     "here's my photo, make a 15s video from it"),
    ("用它生成15秒视频", PHOTO, "upload", "upload-file", "用它生成15秒视频"),
    ("export", PHOTO, "upload", "upload-file", "export"),
    # negations and questions are not commands
    ("don't export yet", (), "chat", "negation", None),
    ("do not download anything", (), "chat", "negation", None),
    ("never mind the credits", (), "chat", "negation", None),
    ("先不导出", (), "chat", "negation", None),
    ("暂时不要下载", (), "chat", "negation", None),
    ("别导出", (), "chat", "negation", None),
    ("how do I export?", (), "chat", "question", None),
    ("show me how to export", (), "chat", "question", None),
    ("why is the status red", (), "chat", "question", None),
    ("怎么导出视频", (), "chat", "question", None),
    ("导出的视频是什么格式？", (), "chat", "question", None),
    # a command with an edit to make first goes to the chat
    ("export it after adding a title", (), "chat", "edit", None),
    ("make a 15s video and export it", (), "chat", "edit", None),
    ("download it with a new title", (), "chat", "edit", None),
    ("加上标题后导出", (), "chat", "edit", None),
    ("download a song for the intro", (), "chat", "edit", None),
    ("下载一首轻音乐", (), "chat", "edit", None),
    ("把音乐调小然后导出", (), "chat", "edit", None),
    # everything else
    ("add lo-fi BGM", (), "chat", "edit", None),
    ("generate a 15-second video from this photo", (), "chat", "edit", None),
    ("添加背景音乐", (), "chat", "edit", None),
    ("hello there", (), "chat", "chat", None),
    ("a cat surfing at sunset, cinematic", (), "chat", "chat", None),
    ("", (), "chat", "chat", None),
]  # fmt: skip

# (message, intent, rule, URLs uploaded, instruction)
URL_CASES = [
    ("https://x.com/a.jpg", "upload", "upload-media-url", ("https://x.com/a.jpg",), None),
    ("here's my photo https://x.com/a.jpg", "upload", "upload-media-url",
     ("https://x.com/a.jpg",), None),
    ("here's my photo https://x.com/a.jpg make a 15s video from it", "upload",
     "upload-media-url", ("https://x.com/a.jpg",), "here's my photo make a 15s video from it"),
    ("这是我的照片 https://x.com/a.png", "upload", "upload-media-url", ("https://x.com/a.png",),
     None),
    ("用它生成15秒视频：https://x.com/a.png", "upload", "upload-media-url",
     ("https://x.com/a.png",), "用它生成15秒视频"),
    ("upload https://example.com/watch?v=1", "upload", "upload-url",
     ("https://example.com/watch?v=1",), None),
    ("上传 https://example.com/watch?v=1", "upload", "upload-url",
     ("https://example.com/watch?v=1",), None),
    ("make something like https://example.com/page", "chat", "edit", (), None),
    ("https://example.com/export", "chat", "chat", (), None),
    ("don't upload https://x.com/a.jpg yet", "chat", "negation", (), None),
]  # fmt: skip


@pytest.mark.parametrize(("text", "files", "intent", "rule", "instruction"), CASES)
def test_classify(
    text: str, files: tuple[Path, ...], intent: str, rule: str, instruction: str | None
) -> None:
    route = classify(text, files)
    assert (route.intent, route.rule, route.instruction) == (intent, rule, instruction)
    assert route.urls == ()


@pytest.mark.parametrize(("text", "intent", "rule", "urls", "instruction"), URL_CASES)
def test_classify_urls(
    text: str, intent: str, rule: str, urls: tuple[str, ...], instruction: str | None
) -> None:
    route = classify(text)
    assert (route.intent, route.rule, route.urls, route.instruction) == (
        intent,
        rule,
        urls,
        instruction,
    )


GOOD = """\
terms:
  go:
    en: [go]
filler:
  en: [the]
rules:
  - id: go
    intent: export
    when: [go]
  - id: rest
    intent: chat
"""

# (a replacement applied to GOOD, the line and the key the error must name)
BROKEN = [
    (("intent: export", "intent: exprt"), 8, "rules[0].intent"),
    (("    when: [go]", "    when: [gone]"), 9, "rules[0].when[0]"),
    (("    when: [go]", "    when: [go]\n    colour: red"), 10, "rules[0].colour"),
    (("    en: [go]", "    en: ['(go']"), 3, "terms.go.en[0]"),
    (("    en: [go]", "    en: go"), 3, "terms.go.en"),
    (("    en: [go]", "    fr: [go]"), 3, "terms.go.fr"),
    (("  - id: rest\n    intent: chat\n", "  - id: rest\n    intent: chat\n    when: [go]\n"),
     6, "rules"),
    (("  - id: rest", "  - id: go"), 10, "rules[1].id"),
    (("filler:\n  en: [the]\n", ""), 1, "(top)"),
    (("  go:\n", "  url:\n"), 2, "terms.url"),
    (("terms:\n  go:\n", "terms:\n  go:\n    en: [x]\n  go:\n"), 4, "invalid YAML"),
    (("    intent: chat", "    intent: [chat"), 12, "invalid YAML"),
    (("    en: [go]", "    en: ['{nowhere}']"), 3, "terms.go.en[0]"),
    (("    intent: export\n", "    intent: export\n    veto: true\n"), 9, "rules[0].veto"),
    (("  - id: rest\n", "  - id: rest\n    veto: maybe\n"), 11, "rules[1].veto"),
    (("rules:\n", "typos:\n  shortest: 2\n  words: [going]\nrules:\n"), 7, "typos.shortest"),
    (("rules:\n", "typos:\n  shortest: 5\n  words: [go]\nrules:\n"), 8, "typos.words"),
    (("rules:\n", "typos:\n  shortest: 5\n  words: [Going]\nrules:\n"), 8, "typos.words"),
    (("rules:\n", "clauses:\n  split: ['(']\n  connectors: {en: [then]}\nrules:\n"), 7,
     "clauses.split[0]"),
    (("rules:\n", "clauses:\n  split: [x]\nrules:\n"), 6, "clauses"),
    (("    en: [go]", "    frame: 'x'\n    re: [go]"), 3, "terms.go.frame"),
    (("    en: [go]", "    frame: '{*}'\n    en: [go]"), 3, "terms.go.frame"),
    (("    en: [go]", "    frame: '({*}'\n    re: [go]"), 3, "terms.go.frame"),
    (("    en: [go]", "    frame: '{*}'\n    re: ['(go']"), 4, "terms.go.re[0]"),
]  # fmt: skip


@pytest.mark.parametrize(("change", "line", "key"), BROKEN)
def test_broken_rules_name_file_line_and_key(
    tmp_path: Path, change: tuple[str, str], line: int, key: str
) -> None:
    assert change[0] in GOOD
    path = tmp_path / "routing.yaml"
    path.write_text(GOOD.replace(*change), encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_rules(path)
    assert f"{path}:{line}: {key}" in caught.value.message


def test_good_rules_file_routes(tmp_path: Path) -> None:
    path = tmp_path / "routing.yaml"
    path.write_text(GOOD, encoding="utf-8")
    rules = load_rules(path)
    assert classify("let's go", rules=rules).intent == "export"
    assert classify("going", rules=rules).intent == "chat"


def test_a_frame_puts_the_patterns_where_it_says(tmp_path: Path) -> None:
    path = tmp_path / "routing.yaml"
    framed = GOOD.replace("    en: [go]", "    frame: '^(?:please )?(?:{*})$'\n    re: [go, run]")
    path.write_text(framed, encoding="utf-8")
    rules = load_rules(path)
    assert [classify(t, rules=rules).intent for t in ("please run", "go", "go away")] == [
        "export",
        "export",
        "chat",
    ]


# -- the rule families of issue 14 --------------------------------------------------------

# (message, intent, rule that decides): one or two per family, both languages
FAMILIES = [
    # balance and remaining phrasing
    ("how much balance remains", "credits", "own-balance-question"),
    ("is my balance empty?", "credits", "own-balance-question"),
    ("账户里还有积分吗", "credits", "own-balance-question"),
    # state asked as a question about the result
    ("how's the edit looking at the moment", "state", "own-state-question"),
    ("recap the tracks", "state", "own-state-question"),
    ("时间线上现在有什么", "state", "own-state-question"),
    # typos of command words (five letters or more)
    ("exoprt pls", "export", "export"),
    ("crdits", "credits", "credits"),
    ("uplaod", "upload", "upload"),
    ("make it look expert", "chat", "edit"),
    # negation and deferral without "don't"
    ("not ready to export yet", "chat", "negation"),
    ("skip the download for now", "chat", "negation"),
    ("暂时别导出", "chat", "negation"),
    # the command word is the subject matter
    ("a video about exporting", "chat", "subject"),
    ("the shipping status shown as a caption", "chat", "subject"),
    ("render the text in gold", "chat", "subject"),
    ("end credits with the crew's names", "chat", "subject"),
    ("to balance the audio, lower the music", "chat", "subject"),
    ("做一个关于导出的视频", "chat", "subject"),
    ("显示物流状态的字幕", "chat", "subject"),
    # clauses: the last command decides, an edit anywhere keeps the commands away
    ("is it finished? then export it", "export", "export"),
    ("looks great — download it", "export", "export"),
    ("好了吗？然后导出", "export", "export"),
    ("cut the ending — then export", "chat", "edit"),
    ("把音乐调小，然后导出", "chat", "edit"),
    # a command needs the imperative, and export no hesitation
    ("my download speed is terrible", "chat", "subject"),
    ("I exported it yesterday", "chat", "chat"),
    ("export it, if the music is fixed", "chat", "chat"),
    ("帮我 export 一下", "export", "export"),
    # after a comma, only a remark that still addresses the tool
    ("export pls, I need it for a meeting", "export", "export"),
    ("credits, john and mary", "chat", "chat"),
    ("download, the app icon bounces", "chat", "chat"),
]  # fmt: skip


@pytest.mark.parametrize(("text", "intent", "rule"), FAMILIES)
def test_the_rule_families_route(text: str, intent: str, rule: str) -> None:
    route = classify(text)
    assert (route.intent, route.rule) == (intent, rule)


def test_explain_names_the_clause_the_runner_up_and_the_typos() -> None:
    how = explain("is it finished? then exoprt it")
    assert how.clauses == ("is it finished?", "export it")
    assert (how.route.intent, how.route.rule, how.clause) == ("export", "export", "export it")
    assert how.runner_up is not None and how.runner_up.id == "question"
    assert how.corrected == (("exoprt", "export"),)
    vetoed = explain("add end credits — download it")
    assert (vetoed.route.rule, vetoed.clause) == ("subject", "add end credits")
    assert vetoed.runner_up is not None and vetoed.runner_up.intent == "export"
    assert explain("hello").runner_up is None


def test_a_whole_message_rule_decides_before_the_clauses() -> None:
    how = explain("don't export yet — take this clip", [Path("d.mp4")])
    assert (how.route.intent, how.route.rule, how.clause) == ("upload", "upload-file", how.clause)
    assert how.route.instruction == "don't export yet — take this clip"


def test_the_rule_file_keeps_its_policy() -> None:
    """Commands are anchored imperatives (or own questions, answered from state); every
    guard that sends an edit to the chat is tried before them; export refuses hesitation."""
    path = data_path("intents", "routing.yaml")
    text = path.read_text(encoding="utf-8")
    assert text.startswith("# Policy. A command runs only on positive evidence")
    raw = yaml.safe_load(text)
    assert raw["fragments"]["lead"].startswith("^")
    for command in ("export", "credits", "state", "upload"):
        assert set(raw["terms"][command]) == {"frame", "re"}, command
        assert raw["terms"][command]["frame"] == "{lead}(?:{*}){tail}", command
    rules = load_rules().rules
    first_command = next(i for i, r in enumerate(rules) if r.id == "export")
    assert all(i < first_command for i, r in enumerate(rules) if r.veto)
    assert {r.id for r in rules if r.veto} == {"negation", "subject", "edit"}
    assert all(r.intent == "chat" for r in rules[first_command - 4 : first_command])
    assert "tentative" in rules[first_command].unless


# -- while a turn runs (issue 12's phrases, folded into routing.yaml) ----------------------

# (message, intent while a turn runs, intent otherwise)
RUNNING = [
    ("is it done?", "wait", "chat"), ("Is it ready yet", "wait", "chat"),
    ("how's it going", "wait", "chat"), ("How is the video coming along?", "wait", "chat"),
    ("any progress?", "wait", "chat"), ("好了吗", "wait", "chat"), ("视频好了没？", "wait", "chat"),
    ("还要多久", "wait", "chat"), ("status", "wait", "state"), ("状态", "wait", "state"),
    ("cancel", "cancel", "chat"), ("Stop!", "cancel", "chat"),
    ("stop the render", "cancel", "chat"), ("取消", "cancel", "chat"),
    ("never mind", "cancel", "chat"),
    # only the whole message counts
    ("is it possible to add BGM", "chat", "chat"), ("stop the music at 5 s", "chat", "chat"),
    ("add a title that says is it done", "chat", "chat"), ("generate a video", "chat", "chat"),
    ("状态栏", "chat", "chat"), ("export", "export", "export"),
]  # fmt: skip


@pytest.mark.parametrize(("text", "busy", "idle"), RUNNING)
def test_while_a_turn_runs_status_questions_wait_and_stops_cancel(
    text: str, busy: str, idle: str
) -> None:
    assert classify(text, busy=True).intent == busy
    assert classify(text).intent == idle
