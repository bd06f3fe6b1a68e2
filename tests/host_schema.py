"""The host contract's check, shared by the tests: one JSON object, valid against the
schema the package ships (skill/schema/turn.json), and the rules a schema cannot say."""

from __future__ import annotations

import json
from functools import cache
from typing import Any

from jsonschema import Draft202012Validator

from skill.conversation.contract import SCHEMA


@cache
def validator() -> Draft202012Validator:
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


def check(doc: Any) -> dict[str, Any]:
    """`doc` follows the contract; returns it. Beyond the schema: an error's message is one
    of the replies (shown once, by showing the replies), and every link is in a reply."""
    errors = sorted(validator().iter_errors(doc), key=lambda e: list(e.path))
    assert not errors, "\n".join(f"{list(e.path)}: {e.message}" for e in errors) + f"\n{doc}"
    if doc["error"] is not None:
        assert doc["error"]["message"] in doc["replies"], doc
    for url in doc["links"]:
        assert any(url in reply for reply in doc["replies"]), f"{url} in no reply: {doc}"
    for reply in doc["replies"]:
        assert "nemo-video " not in reply and "--resume" not in reply, f"a command line: {reply}"
    return doc


def one_object(stdout: str) -> dict[str, Any]:
    """The one JSON object stdout must hold, checked (fails when there is anything else)."""
    doc, end = json.JSONDecoder().raw_decode(stdout)
    assert stdout[end:].strip() == "", stdout
    return check(doc)
