"""What a transcript keeps of an exchange, what a replay serves, and how requests differ."""

from __future__ import annotations

import hashlib
import json

import aiohttp

from skill.transcripts.capture import (
    request_differences,
    request_record,
    response_record,
    served_body,
    served_headers,
    served_stream,
    sse_pieces,
)
from skill.transcripts.format import FileBody, Part, Pause, Request, Response
from skill.transcripts.placeholders import Placeholders

HEADERS = {
    "X-Skill-Source": "ai-video-generator-free-leonardo",
    "X-Skill-Version": "1.0.0",
    "X-Skill-Platform": "cursor",
    "X-Client-Id": "c0ffee00-1234-4abc-8def-000000000001",
    "Authorization": "Bearer nmv_usr_0123456789",
    "Accept": "*/*",
    "User-Agent": "Python/3.11 aiohttp",
    "Content-Type": "application/json",
}


def test_a_request_keeps_what_matters_under_placeholders() -> None:
    body = {"session_id": "s-1", "new_message": {"parts": [{"text": "hi"}]}}
    r = request_record(
        Placeholders(), method="POST", host=None, path_qs="/run_sse?x=1", headers=HEADERS,
        body=json.dumps(body).encode(), version="1.0.0",
    )  # fmt: skip
    assert r == Request(
        "POST",
        "/run_sse?x=1",
        auth="<token-1>",
        headers={
            "X-Skill-Source": "ai-video-generator-free-leonardo",
            "X-Skill-Version": "<skill-version>",
            "X-Skill-Platform": "cursor",
            "X-Client-Id": "<client-id-1>",
        },
        json={"session_id": "<session-1>", "new_message": {"parts": [{"text": "hi"}]}},
    )


async def test_a_multipart_upload_is_kept_as_its_parts() -> None:
    form = aiohttp.FormData()
    form.add_field("files", b"\xff\xd8\xffjpeg", filename="photo.jpg", content_type="image/jpeg")
    payload = form()
    chunks: list[bytes] = []

    class Sink:
        async def write(self, data: bytes) -> None:
            chunks.append(bytes(data))

    await payload.write(Sink())  # type: ignore[arg-type]
    r = request_record(
        Placeholders(), method="POST", host=None, path_qs="/up",
        headers={"Content-Type": payload.content_type}, body=b"".join(chunks), version="1",
    )  # fmt: skip
    digest = hashlib.sha256(b"\xff\xd8\xffjpeg").hexdigest()
    assert r.multipart == (Part("files", "photo.jpg", "image/jpeg", 7, digest),)


def test_an_event_stream_keeps_its_bytes_and_the_pauses_between() -> None:
    chunks = [
        (10.00, b'data: {"a":1}\n\ndata: {"a"'),
        (10.01, b":2}\n\n"),  # closer than MERGE_GAP: the same piece
        (10.81, b"data:\n\n"),
        (12.00, b"\xff\xfe\n\n"),
    ]
    pieces = sse_pieces(chunks, 10.0, Placeholders())
    assert pieces == (
        'data: {"a":1}\n\n',
        'data: {"a":2}\n\n',
        Pause(0.8),
        "data:\n\n",
        Pause(1.19),
        b"\xff\xfe\n\n",
    )
    served = served_stream(Placeholders(), Response(sse=pieces))
    assert served == [
        b'data: {"a":1}\n\ndata: {"a":2}\n\n',
        0.8,
        b"data:\n\n",
        1.19,
        b"\xff\xfe\n\n",
    ]


def test_answers_keep_json_text_and_files_by_their_kind() -> None:
    marks = Placeholders()
    json_headers = {"Content-Type": "application/json; charset=utf-8", "X-Request-Id": "r1"}
    doc = {"data": {"token": "nmv_usr_0123456789", "expires_in": 60}}
    kept = response_record(marks, status=200, headers=json_headers, body=json.dumps(doc).encode(),
                           now=0.0)  # fmt: skip
    assert kept == Response(200, {}, json={"data": {"token": "<token-1>", "expires_in": 60}})
    mp4 = b"\x00\x00\x00\x18ftypmp42" + bytes(100)
    video = response_record(marks, status=200, headers={"Content-Type": "video/mp4"}, body=mp4,
                            now=0.0)  # fmt: skip
    assert video.file == FileBody(len(mp4), hashlib.sha256(mp4).hexdigest())
    assert len(served_body(marks, video)) == len(mp4)
    assert served_headers(marks, video) == {"Content-Type": "video/mp4"}
    text = response_record(marks, status=404, headers={"Content-Type": "text/html"}, body=b"<p>",
                           now=0.0)  # fmt: skip
    assert text.text == "<p>" and text.headers == {"Content-Type": "text/html"}


def test_differences_name_the_field_and_both_values() -> None:
    def message(text: str) -> dict[str, object]:
        return {"new_message": {"parts": [{"text": text}]}}

    recorded = Request("POST", "/run_sse", auth="<token-1>", json=message("add BGM"))
    actual = Request("POST", "/run_sse", auth="<token-2>", headers={"X-Skill-Source": "other"},
                     json={**message("add lo-fi BGM"), "x": True})  # fmt: skip
    assert request_differences(recorded, actual, {"X-Skill-Source": "mine"}) == [
        'auth: recorded "<token-1>", replay "<token-2>"',
        'headers.X-Skill-Source: recorded "mine", replay "other"',
        'body.new_message.parts[0].text: recorded "add BGM", replay "add lo-fi BGM"',
        "body.x: recorded (none), replay true",
    ]
    assert request_differences(recorded, recorded, {}) == []
    other_host = Request("GET", "/x.mp4", host="<host-1>")
    assert request_differences(other_host, other_host, {"X-Skill-Source": "mine"}) == []
