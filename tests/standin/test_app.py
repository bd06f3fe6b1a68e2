"""The account endpoints and the envelope, over plain HTTP: token, session, credits, state,
claim token; X-Request-Id everywhere; errors as the contract's table says."""

from __future__ import annotations

import aiohttp

from .conftest import Raw, Start

SESSION = "/api/tasks/me/with-session/nemo_agent"
CREDITS = "/api/credits/balance/simple"


def state_path(sid: str) -> str:
    return f"/api/state/nemo_agent/me/{sid}/latest"


async def test_anonymous_token_envelope(raw: Raw) -> None:
    status, body, headers = await raw.call(
        "POST", "/api/auth/anonymous-token", headers={"X-Client-Id": "c-1"}
    )
    assert status == 200 and body["code"] == 0 and body["message"] == "success"
    data = body["data"]
    assert data["token"].startswith("nmv_usr_") and len(data["token"]) > 20
    assert data["credits"] == 100 and data["expires_in"] == 604800
    assert headers["X-Request-Id"].startswith("req_")


async def test_token_rules_like_the_cloud(start: Start, http: aiohttp.ClientSession) -> None:
    now = [1_000_000.0]
    raw = Raw(http, await start(clock=lambda: now[0]))
    status, body, _ = await raw.call("POST", "/api/auth/anonymous-token")
    assert (status, body["code"]) == (400, 400) and "X-Client-Id" in body["message"]
    token = await raw.token("same")
    status, body, _ = await raw.call(
        "POST", "/api/auth/anonymous-token", headers={"X-Client-Id": "same"}
    )
    assert (status, body["code"]) == (429, 429)  # one per client id per 7 days
    now[0] += 7 * 24 * 3600
    status, body, _ = await raw.call("GET", CREDITS, token)
    assert (status, body["code"]) == (200, 1001)  # expired after 7 days
    renewed = await raw.token("same")  # ... and the same client id gets a new one
    assert renewed != token


async def test_about_ten_tokens_per_address_per_week(raw: Raw) -> None:
    for i in range(10):
        await raw.token(f"client-{i}")
    status, body, _ = await raw.call(
        "POST", "/api/auth/anonymous-token", headers={"X-Client-Id": "client-10"}
    )
    assert (status, body["code"]) == (429, 429)


async def test_unknown_or_missing_tokens_are_1001(raw: Raw) -> None:
    for token in (None, "nmv_usr_unknown"):
        status, body, headers = await raw.call("GET", CREDITS, token)
        assert (status, body["code"]) == (200, 1001)
        assert "X-Request-Id" in headers


async def test_session_credits_and_state(raw: Raw) -> None:
    token = await raw.token()
    status, body, _ = await raw.call(
        "POST", SESSION, token, json={"task_name": "project", "language": "zh"}
    )
    assert status == 200 and body["code"] == 0
    sid = body["data"]["session_id"]
    assert body["data"]["task_id"].startswith("task_") and sid
    status, body, _ = await raw.call("GET", CREDITS, token)
    assert body == {
        "code": 0,
        "message": "success",
        "data": {"available": 100, "frozen": 0, "total": 100},
    }
    status, body, _ = await raw.call("GET", state_path(sid), token)
    assert status == 200 and body["data"]["session_id"] == sid
    assert body["data"]["state"] == {
        "draft": None,
        "video_infos": [],
        "generated_media": [],
        "canvas_config": {"width": 1920, "height": 1080, "ratio": "16:9"},
        "timeline_version": 0,
    }


async def test_unknown_and_foreign_sessions_are_1002(raw: Raw) -> None:
    mine, sid = await raw.ready("me")
    theirs = await raw.token("them")
    for token, session in ((mine, "no-such-session"), (theirs, sid)):
        status, body, _ = await raw.call("GET", state_path(session), token)
        assert (status, body["code"]) == (200, 1002) and session in body["message"]


async def test_claim_token(raw: Raw) -> None:
    token = await raw.token()
    _, body, _ = await raw.call("POST", SESSION, token, json={})
    task, sid = body["data"]["task_id"], body["data"]["session_id"]
    status, body, _ = await raw.call(
        "POST", "/api/auth/claim-token", token, json={"task_id": task, "session_id": sid}
    )
    assert status == 200 and body["code"] == 0
    claim = body["data"]["claim_token"]
    assert claim.startswith("clm_") and body["data"]["expires_in"] == 604800
    status, page, _ = await raw.call("GET", f"/workspace/claim?ct={claim}")
    assert status == 200 and b"simulation" in page
    status, _, _ = await raw.call("GET", "/workspace/claim?ct=clm_nope")
    assert status == 404
    _, body, _ = await raw.call(
        "POST", "/api/auth/claim-token", token, json={"task_id": "other", "session_id": sid}
    )
    assert body["code"] == 1002


async def test_unknown_paths_and_methods_answer_json(raw: Raw) -> None:
    status, body, headers = await raw.call("GET", "/api/nothing-here")
    assert (status, body["code"]) == (404, 404) and "X-Request-Id" in headers
    status, body, _ = await raw.call("DELETE", CREDITS)
    assert (status, body["code"]) == (405, 405)


async def test_bad_json_bodies_are_400(raw: Raw) -> None:
    token = await raw.token()
    status, body, _ = await raw.call(
        "POST", SESSION, token, data=b"{nope", headers={"Content-Type": "application/json"}
    )
    assert (status, body["code"]) == (400, 400)
