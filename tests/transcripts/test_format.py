"""The transcript format: YAML that comes back exactly as written, and clear errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from skill.common.errors import ConfigError
from skill.transcripts.format import (
    Exchange,
    FileBody,
    Part,
    Pattern,
    Pause,
    Request,
    Response,
    Start,
    Transcript,
    Turn,
    load,
    parse,
)
from skill.transcripts.writer import dump

FRAMES = (
    'data: {"content":{"parts":[{"text":"Hi"}]}}\n\n',
    Pause(0.8),
    ": ping\r\n\r\n",  # CR LF and a comment: not a literal block, still exact
    "data:\n\n",
    "data: trailing space \n\n",
    b"\xff\xfe not utf-8\n\n",
)
FULL = Transcript(
    title="Everything the format holds",
    about="A transcript with every kind of value.",
    recorded="by hand",
    platform="cursor",
    web_url="https://web.example",
    timings={"still_working_every": 1.0, "recovery_waits": [0.5, 1.0]},
    start=Start("stored", {"session_id": "<session-1>", "draft": {"t": []}}),
    headers={"X-Skill-Source": "s", "X-Client-Id": "<client-id-1>"},
    turns=(
        Turn("command", "ready", http=(), replies=("Ready!",), intent="ready"),
        Turn(
            "say",
            "upload this\nand make a video",
            files=("../files/beach.jpg",),
            http=(
                Exchange(
                    Request(
                        "POST",
                        "/upload",
                        auth="<token-1>",
                        multipart=(Part("files", "beach.jpg", "image/jpeg", 1253, "ab" * 32),),
                    ),
                    Response(200, {"Retry-After": "1"}, json={"code": 0, "data": [1, "二"]}),
                ),
                Exchange(
                    Request("POST", "/run_sse", accept="text/event-stream", json={"a": None}),
                    Response(200, sse=FRAMES, end="drop"),
                ),
                Exchange(
                    Request("GET", "/renders/x.mp4", host="<host-1>", headers={}),
                    Response(200, {"Content-Type": "video/mp4"}, file=FileBody(9, "cd" * 32)),
                ),
                Exchange(Request("GET", "/text", text="a=1"), Response(404, text="gone\n")),
                Exchange(Request("GET", "/broken"), Response(0, end="drop")),
            ),
            replies=("Line one", Pattern(r"nemovideo-\d{8}\.mp4"), "two\nlines"),
            saved=(Pattern(r"nemovideo-\d+\.mp4"),),
            links=("https://web.example/workspace/claim?ct=<claim-token-1>",),
            intent="upload",
            error="2001",
        ),
    ),
)


def test_a_transcript_comes_back_exactly_as_dumped(tmp_path: Path) -> None:
    path = tmp_path / "t.yaml"
    path.write_text(dump(FULL), encoding="utf-8")
    assert load(path) == FULL
    assert dump(load(path)) == dump(FULL)


def test_event_frames_read_as_literal_blocks() -> None:
    text = dump(FULL)
    assert '      - |+\n        data: {"content":{"parts":[{"text":"Hi"}]}}\n\n' in text
    assert "- {pause: 0.8}" in text


def _doc(**turn: Any) -> dict[str, Any]:
    return {"format": 1, "title": "t", "turns": [{"say": "hi", **turn}]}


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ("- just a list", "the transcript must be a mapping"),
        ({"format": 2, "title": "t", "turns": []}, "format must be 1"),
        ({"format": 1, "turns": []}, "needs the key 'title'"),
        ({**_doc(), "colour": "red"}, "colour is not a known key"),
        ({**_doc(), "timings": {"nap": 1}}, "timings.nap is not a known key"),
        ({**_doc(), "start": {"token": "maybe"}}, "start.token is 'maybe'; choose one of"),
        ({"format": 1, "title": "t", "turns": [{"files": []}]}, "turns[0] needs one of"),
        ({"format": 1, "title": "t", "turns": [{"command": "dance"}]}, "turns[0].command is"),
        (_doc(http=[{"request": {"method": "GET"}, "response": {}}]),
         "turns[0].http[0].request needs the key 'path'"),
        (_doc(http=[{"request": {"method": "GET", "path": "/"}, "response": {"status": "ok"}}]),
         "turns[0].http[0].response.status must be an integer"),
        (_doc(http=[{"request": {"method": "GET", "path": "/"},
                     "response": {"sse": [{"nap": 1}]}}]),
         "turns[0].http[0].response.sse[0].nap is not a known key"),
        (_doc(http=[{"request": {"method": "GET", "path": "/"},
                     "response": {"sse": [], "end": "later"}}]),
         "response.end is 'later'; choose one of close, drop, client"),
        (_doc(replies=[{"regex": "x"}]), "turns[0].replies[0].regex is not a known key"),
    ],
)  # fmt: skip
def test_a_bad_transcript_names_the_file_and_the_key(doc: Any, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse(yaml.safe_load(doc) if isinstance(doc, str) else doc, "t.yaml")
    assert caught.value.message.startswith("t.yaml: ")
    assert message in caught.value.message


def test_a_file_that_is_not_yaml_says_so(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("turns: [", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"bad\.yaml: not valid YAML"):
        load(path)
    with pytest.raises(ConfigError, match="cannot read"):
        load(tmp_path / "missing.yaml")
