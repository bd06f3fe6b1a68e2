"""Placeholders: real values out, stable names in, and back again for a replay."""

from __future__ import annotations

import time

import pytest

from skill.transcripts.placeholders import Placeholders, find_secrets

SID = "3f2b8c1e-9a4d-4e7b-8f00-0a1b2c3d4e5f"
CID = "c0ffee00-1234-4abc-8def-000000000001"


def test_names_count_first_appearances_and_stay_stable() -> None:
    marks = Placeholders()
    doc = {"data": {"session_id": SID, "task_id": "task_abc", "token": "nmv_usr_0123456789"}}
    assert marks.scrub_doc(doc) == {
        "data": {"session_id": "<session-1>", "task_id": "<task-1>", "token": "<token-1>"}
    }
    assert marks.scrub(f"/api/state/nemo_agent/me/{SID}/latest") == (
        "/api/state/nemo_agent/me/<session-1>/latest"
    )
    assert marks.name("nmv_usr_other00000", "token") == "<token-2>"
    assert marks.name("nmv_usr_0123456789", "token") == "<token-1>"


@pytest.mark.parametrize(
    ("text", "scrubbed"),
    [
        ("token nmv_usr_deadbeef99 here", "token <token-1> here"),
        ("claim clm_0011223344", "claim <claim-token-1>"),
        ("job render_1764000000123 done", "job <render-1> done"),
        (f"event adk-{SID}", "event adk-<id-1>"),
        ("see http://127.0.0.1:41234/renders/x.mp4", "see <host-1>/renders/x.mp4"),
        ("http://[::1]:8080/a?X-Amz-Signature=abc&Expires=9", "<host-1>/a?<signature>"),
        ("render_12 is too short to be a job id", "render_12 is too short to be a job id"),
    ],
)
def test_values_are_recognised_by_their_shape(text: str, scrubbed: str) -> None:
    assert Placeholders().scrub(text) == scrubbed


def test_a_known_value_is_not_replaced_inside_a_longer_one() -> None:
    marks = Placeholders({"http://127.0.0.1:4000": "<api>", "abc": "<task-1>"})
    assert marks.scrub("http://127.0.0.1:40001/x abcd abc") == "<host-1>/x abcd <task-1>"


def test_a_token_expiry_becomes_relative_and_comes_back_as_a_number() -> None:
    now = 1_800_000_000.0
    marks = Placeholders()
    doc = {"expires_at": int(now) + 604800, "expiresAt": int(now * 1000) + 5000, "n": 2e9}
    kept = marks.scrub_doc(doc, now=now)
    assert kept == {"expires_at": "<epoch+604800>", "expiresAt": "<epoch-ms+5000>", "n": 2e9}
    served = Placeholders().fill_doc(kept)
    assert abs(served["expires_at"] - (time.time() + 604800)) < 5
    assert abs(served["expiresAt"] - (time.time() * 1000 + 5000)) < 5000
    assert marks.scrub_doc(doc) == {**doc}  # a request: no `now`, numbers stay


def test_fill_gives_each_name_its_own_value_and_scrub_takes_it_back() -> None:
    marks = Placeholders({"http://127.0.0.1:9": "<api>"})
    text = "<api>/api/state/nemo_agent/me/<session-1>/latest <session-10> <out>"
    filled = marks.fill(text)
    assert "<session-1>" not in filled and "<session-10>" not in filled
    assert filled.endswith(" <out>")  # a fixed name without a value stays
    assert marks.scrub(filled) == text


def test_find_secrets_names_the_line_and_what_it_found() -> None:
    text = "fine\nauth: Bearer nmv_usr_x\nid: " + CID + "\nurl: http://localhost:8080/"
    found = [(line, what) for line, what, _ in find_secrets(text)]
    assert (2, "a NemoVideo token") in found
    assert (2, "a bearer token") in found
    assert (3, "a UUID (a client or session id?)") in found
    assert (4, "a loopback address with its port") in found
    assert not list(find_secrets("<token-1> <client-id-1> <host-1>/x?<signature>"))
