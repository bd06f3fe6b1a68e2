"""GUI translation by intents/gui.yaml: every row of the GUI table, in English and Chinese."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from skill.common.errors import ConfigError
from skill.conversation import templates
from skill.conversation.gui import load_gui_rules, translate

EXPORT, STATE, CREDITS = ("export",), ("state",), ("credits",)
CLICK, DRAG = ("gui.hint_click",), ("gui.hint_drag",)
UPLOAD, GUI = ("gui.hint_upload",), ("gui.hint_gui",)

# (backend reply, text left for the user, actions, hints)
CASES = [
    # "click …" / "点击": the action through its endpoint
    ("I added a lo-fi track at 30% volume. Click Export to download.",
     "I added a lo-fi track at 30% volume.", EXPORT, ()),
    ("Click the Export button to download your video.", "", EXPORT, ()),
    ("click Export", "", EXPORT, ()),
    ("Click on 'Export' in the top right.", "", EXPORT, ()),
    ("Hit the big Export button when you're ready!", "", EXPORT, ()),
    ("Scroll down and click \"Download\".", "", EXPORT, ()),
    ("Tap the play button to watch.", "", STATE, ()),
    ("Click the Settings icon to change the resolution.", "", (), CLICK),
    ("If you don't like the result, I can regenerate it, or click Retry.",
     "If you don't like the result, I can regenerate it.", (), CLICK),
    ("I added \"Urban Dreams\" as the title (0-3s). Double-click the title to edit the text.",
     "I added \"Urban Dreams\" as the title (0-3s).", (), CLICK),
    ("Select the clip on the timeline and press Delete.", "", (), CLICK),
    ("Upload your photos using the Upload button.", "", (), UPLOAD),
    ("点击导出按钮下载视频", "", EXPORT, ()),
    ("点击右上角的导出", "", EXPORT, ()),
    ("我添加了背景音乐，点击导出按钮下载视频。", "我添加了背景音乐。", EXPORT, ()),
    ("点击播放按钮预览效果", "", STATE, ()),
    ("点击设置图标更改分辨率。", "", (), CLICK),
    ("点击上传按钮添加照片。", "", (), UPLOAD),
    # "open …" / "打开": read the state and show it
    ("Open the timeline panel to see your tracks.", "", STATE, ()),
    ("Open the editor to review your edit.", "", STATE, ()),
    ("The title is set, open your project to check it.", "The title is set.", STATE, ()),
    ("打开时间线面板查看", "", STATE, ()),
    ("标题已添加，打开编辑器即可看到所有轨道。", "标题已添加。", STATE, ()),
    # "drag/drop" / "拖拽": tell the user to say the edit
    ("Drag the clip to reorder", "", (), DRAG),
    ("Drag and drop the music onto the audio track.", "", (), DRAG),
    ("You can drop it onto the timeline.", "", (), DRAG),
    ("I trimmed the intro. You can drag the title to adjust its position.",
     "I trimmed the intro.", (), DRAG),
    ("Drop your files here to upload them.", "", (), UPLOAD),
    ("拖拽片段调整顺序", "", (), DRAG),
    ("请拖动字幕到合适的位置。", "", (), DRAG),
    ("如果想调整顺序，可以直接拖拽片段。", "", (), DRAG),
    ("把图片拖到这里即可上传。", "", (), UPLOAD),
    # "preview in timeline": the track summary
    ("You can preview it in the timeline.", "", STATE, ()),
    ("I added a lo-fi track at 30% volume, and you can preview it in the timeline.",
     "I added a lo-fi track at 30% volume.", STATE, ()),
    ("Check the timeline to see the changes.", "", STATE, ()),
    ("Your tracks are shown in the timeline panel.", "Your tracks are shown.", STATE, ()),
    ("在时间线中预览", "", STATE, ()),
    ("你可以在时间轴上预览效果。", "", STATE, ()),
    ("视频已生成，可以在时间线中预览，满意后点击导出下载。", "视频已生成。", STATE + EXPORT, ()),
    # "Export" / "导出" as a GUI target: the export flow
    ("Your video is ready to export from the Export panel.", "Your video is ready to export.",
     EXPORT, ()),
    ("I added a title, and once you're happy, click Export.", "I added a title.", EXPORT, ()),
    ("Once you're happy with it, click Export to download.", "", EXPORT, ()),
    ("To download, click Export.", "", EXPORT, ()),
    ("Click Export, then choose MP4.", "", EXPORT, ()),
    ("Great news — your video is ready — click Export to get the MP4.",
     "Great news — your video is ready.", EXPORT, ()),
    ("Find the Export button in the top-right corner and click it.", "", EXPORT, ()),
    ("满意的话，点击右上角的导出。", "", EXPORT, ()),
    ("如需下载，请点击导出按钮。", "", EXPORT, ()),
    ("点击导出按钮，即可下载视频。", "", EXPORT, ()),
    ("视频已生成。点击导出按钮下载。", "视频已生成。", EXPORT, ()),
    # "check account/billing": the credits
    ("Check your account/billing page for credits.", "", CREDITS, ()),
    ("Check the billing page to top up.", "", CREDITS, ()),
    ("That used 50 credits. You can head over to your account page to buy more.",
     "That used 50 credits.", CREDITS, ()),
    ("查看您的账户页面了解积分余额。", "", CREDITS, ()),
    ("本次消耗了50积分，可前往个人中心充值。", "本次消耗了50积分。", CREDITS, ()),
    # safety net: any GUI word left
    ("Use the panel on the left to adjust volume.", "", (), GUI),
    ("Use the toolbar button to undo, or tap Undo on mobile.", "", (), GUI),
    ("Next, click-and-drag the music to 0:05.", "", (), DRAG),
    ("在右侧面板中调整音量", "", (), GUI),
    # several rows in one reply; lines and lists
    ("Done! Your 15-second video has a slow zoom. You can preview it in the timeline, and "
     "click Export when you're happy.", "Done! Your 15-second video has a slow zoom.",
     STATE + EXPORT, ()),
    ("Timeline:\n- Video: beach (0-15s)\n- Drag clips to reorder them\n\nClick Export to finish.",
     "Timeline:\n- Video: beach (0-15s)", EXPORT, DRAG),
    # content stays: no imperative GUI verb
    ("The export will be 1080p.", "The export will be 1080p.", (), ()),
    ("I'll export it as MP4 whenever you're ready.",
     "I'll export it as MP4 whenever you're ready.", (), ()),
    ("The beat drop at 0:30 matches the title.", "The beat drop at 0:30 matches the title.",
     (), ()),
    ("The video opens with a drone shot over an open field.",
     "The video opens with a drone shot over an open field.", (), ()),
    ("I placed the title on the timeline at 0-3s, 1.5x speed.",
     "I placed the title on the timeline at 0-3s, 1.5x speed.", (), ()),
    ("Check out the slow zoom at 0:05.", "Check out the slow zoom at 0:05.", (), ()),
    ("Your account has 50 credits left.", "Your account has 50 credits left.", (), ()),
    ("Open with a drone shot, then cut to the beach.",
     "Open with a drone shot, then cut to the beach.", (), ()),
    ("1. Video: beach (0-15s)\n2. BGM: Lo-fi (0-15s, 30%)",
     "1. Video: beach (0-15s)\n2. BGM: Lo-fi (0-15s, 30%)", (), ()),
    ("视频将以1080p导出。", "视频将以1080p导出。", (), ()),
    ("需要的话我可以把音乐换成更欢快的。", "需要的话我可以把音乐换成更欢快的。", (), ()),
    ("我已经打好了草稿：海边日落，15秒。", "我已经打好了草稿：海边日落，15秒。", (), ()),
]  # fmt: skip

# Words that must never reach the user, whatever the backend wrote.
GUI_WORDS = re.compile(
    r"\b(?:click\w*|double-click|tap|taps|tapped|buttons?|panels?|drag\w*)\b"
    r"|\bdrop (?:it|them|the|your)\b|点击|按钮|面板|拖拽|拖动",
    re.IGNORECASE,
)
TRICKY = [
    "Press the button labelled Export.",
    "Right-click the clip and choose Delete.",
    "Use the toolbar button to undo, or tap Undo on mobile.",
    "Clicking Render starts the export.",
    "I've added a solar panel shot; drag it wherever you like.",
    "Drop the logo onto the canvas to place it.",
    "Next, click-and-drag the music to 0:05.",
    "Buttons at the bottom let you switch aspect ratio.",
    "请单击“导出”按钮，然后在弹出的面板里选择MP4。",
    "将音乐拖动到音频轨道上。",
    "按钮在右上角。",
]


@pytest.mark.parametrize(("reply", "text", "actions", "hints"), CASES)
def test_translate(reply: str, text: str, actions: tuple[str, ...], hints: tuple[str, ...]) -> None:
    tr = translate(reply)
    assert (tr.text, tr.actions, tr.hints) == (text, actions, hints)


@pytest.mark.parametrize("reply", [c[0] for c in CASES] + TRICKY)
def test_no_gui_word_survives(reply: str) -> None:
    tr = translate(reply)
    assert not GUI_WORDS.search(tr.text), tr.text
    assert "  " not in tr.text and "\n\n\n" not in tr.text
    orphan = r"^\s*(?:and|then)\b|[,，]\s*[.。]|^[^\w\n]+$"  # a dangling "and", ",." or "."
    assert not re.search(orphan, tr.text, re.MULTILINE | re.IGNORECASE), tr.text
    if tr.text != reply:  # something was removed: the user is told what happens instead
        assert tr.actions or tr.hints


def test_hints_exist_in_both_languages_without_gui_words() -> None:
    rules = load_gui_rules()
    keys = {rule.hint for rule in rules.rules if rule.hint}
    assert keys >= {"gui.hint_click", "gui.hint_drag", "gui.hint_upload", "gui.hint_gui"}
    for key in keys:
        for lang in ("en", "zh"):
            line = templates.render(key, lang)
            assert line and not GUI_WORDS.search(line), (key, lang, line)


GOOD = """\
fragments:
  lead: '^\\s*'
breaks: ['\\s*,\\s+']
lead_in:
  en: ['^once\\b']
continuation:
  en: ['^and\\b']
connectors:
  en: ['^and\\s+']
rules:
  - id: click
    action: export
    en: ['{lead}click export']
"""

# (a replacement applied to GOOD, the line and the key the error must name)
BROKEN = [
    (("action: export", "action: launch"), 12, "rules[0].action"),
    (("{lead}click", "{leed}click"), 13, "rules[0].en[0]"),
    (("['{lead}click export']", "['(click']"), 13, "rules[0].en[0]"),
    (("    action: export", "    action: export\n    remove: line"), 13, "rules[0].remove"),
    (("    action: export", "    action: export\n    hint: hint_x"), 13, "rules[0].hint"),
    (("    action: export", "    action: export\n    generic: yes please"), 13,
     "rules[0].generic"),
    (("    en: ['{lead}click export']", ""), 11, "rules[0]"),
    (("  - id: click", "  - id: click\n    colour: red"), 12, "rules[0].colour"),
    (("lead_in:\n  en: ['^once\\b']\n", ""), 1, "(top)"),
    (("breaks: ['\\s*,\\s+']", "breaks: []"), 3, "breaks"),
    (("  en: ['^and\\b']", "  en: []"), 6, "continuation"),
]  # fmt: skip


@pytest.mark.parametrize(("change", "line", "key"), BROKEN)
def test_broken_gui_rules_name_file_line_and_key(
    tmp_path: Path, change: tuple[str, str], line: int, key: str
) -> None:
    assert change[0] in GOOD
    path = tmp_path / "gui.yaml"
    path.write_text(GOOD.replace(*change), encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_gui_rules(path)
    assert f"{path}:{line}: {key}" in caught.value.message


def test_good_gui_rules_file_translates(tmp_path: Path) -> None:
    path = tmp_path / "gui.yaml"
    path.write_text(GOOD, encoding="utf-8")
    tr = translate("Done, click export.", rules=load_gui_rules(path))
    assert (tr.text, tr.actions) == ("Done.", EXPORT)
