"""Writing a transcript back as YAML that reads (and greps) like what passed on the wire.

The format itself is documented in skill/transcripts/format.py.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from typing import Any

import yaml

from skill.common.config import DEFAULT_WEB_URL
from skill.transcripts.format import FORMAT, Exchange, Pattern, Pause, Start, Transcript, Turn


def dump(t: Transcript) -> str:
    doc: dict[str, Any] = {"format": FORMAT, "title": t.title}
    for key, value, default in (
        ("about", t.about, ""),
        ("recorded", t.recorded, ""),
        ("platform", t.platform, None),
        ("web_url", t.web_url, DEFAULT_WEB_URL),
        ("timings", dict(t.timings), {}),
    ):
        if value != default:
            doc[key] = value
    if t.start != Start():
        doc["start"] = {"token": t.start.token}
        if t.start.conversation is not None:
            doc["start"]["conversation"] = dict(t.start.conversation)
    doc["headers"] = dict(t.headers)
    doc["turns"] = [_turn_doc(turn) for turn in t.turns]
    return yaml.dump(doc, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=10_000)


def _turn_doc(t: Turn) -> dict[str, Any]:
    doc: dict[str, Any] = {t.kind: t.text}
    if t.files:
        doc["files"] = list(t.files)
    doc["http"] = [_exchange_doc(e) for e in t.http]
    for key, lines in (("replies", t.replies), ("saved", t.saved), ("links", t.links)):
        if lines:
            doc[key] = [{"re": x.regex} if isinstance(x, Pattern) else x for x in lines]
    doc["intent"] = t.intent
    if t.outcome:
        doc["outcome"] = t.outcome
    if t.error is not None:
        doc["error"] = t.error
    if t.cancel_after is not None:
        doc["cancel_after"] = t.cancel_after
    return doc


def _exchange_doc(e: Exchange) -> dict[str, Any]:
    q, s = e.request, e.response
    req: dict[str, Any] = {"method": q.method, "path": q.path}
    _put(
        req, host=q.host, auth=q.auth, headers=q.headers, accept=q.accept, json=q.json, text=q.text
    )
    if q.multipart is not None:
        req["multipart"] = [
            {k: v for k, v in vars(p).items() if v is not None} for p in q.multipart
        ]
    resp: dict[str, Any] = {"status": s.status}
    _put(resp, headers=dict(s.headers) or None, json=s.json, text=s.text)
    if s.sse is not None:
        resp["sse"] = [
            {"pause": p.seconds} if isinstance(p, Pause)
            else {"base64": base64.b64encode(p).decode()} if isinstance(p, bytes)
            else p
            for p in s.sse
        ]  # fmt: skip
    if s.file is not None:
        resp["file"] = {"size": s.file.size, "sha256": s.file.sha256}
    if s.end != "close":
        resp["end"] = s.end
    return {"request": req, "response": resp}


def _put(doc: dict[str, Any], **values: Any) -> None:
    doc.update({k: v for k, v in values.items() if v is not None})


class _Dumper(yaml.SafeDumper):
    """Multi-line text as literal blocks, short collections of scalars on one line, long
    lines never folded: a transcript reads (and greps) like what passed on the wire."""

    def represent_dict(self, data: Any) -> yaml.MappingNode:
        return self.represent_mapping("tag:yaml.org,2002:map", data, flow_style=_short(data))

    def represent_list(self, data: Any) -> yaml.SequenceNode:
        return self.represent_sequence("tag:yaml.org,2002:seq", data, flow_style=_short(data))


def _short(data: Mapping[str, Any] | list[Any]) -> bool:
    """On one line: a collection whose JSON is short, without multi-line text."""
    text = json.dumps(data, ensure_ascii=False, default=str)
    return len(text) <= 96 and "\\n" not in text


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(dict, _Dumper.represent_dict)
_Dumper.add_representer(list, _Dumper.represent_list)
_Dumper.add_representer(str, _str)
