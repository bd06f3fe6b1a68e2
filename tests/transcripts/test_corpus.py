"""The corpus: every transcript in tests/transcripts/corpus/ replays through the real runtime
without a difference, holds no secret, and a changed template line or intent keyword
makes a replay fail with a diff that names it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from skill.common.resources import skill_dir
from skill.conversation import intents
from skill.transcripts.format import load
from skill.transcripts.placeholders import find_secrets
from skill.transcripts.replay import replay
from tests.host_schema import check

CORPUS = Path(__file__).parent / "corpus"
TRANSCRIPTS = sorted(CORPUS.glob("*.yaml"))


@pytest.mark.parametrize("path", TRANSCRIPTS, ids=[p.stem for p in TRANSCRIPTS])
async def test_the_transcript_replays_unchanged(path: Path) -> None:
    report = await replay(path)
    assert report.ok, f"{path.name} changed:\n" + "\n".join(report.differences)
    assert len(report.objects) == len(load(path).turns)
    for doc in report.objects:  # what `say --json` would have printed, turn by turn
        check(doc)


def test_the_corpus_is_large_enough_and_small() -> None:
    assert len(TRANSCRIPTS) >= 30
    assert sum(p.stat().st_size for p in TRANSCRIPTS) < 1_000_000


def test_no_transcript_holds_a_secret() -> None:
    found = []
    for path in sorted(CORPUS.rglob("*")):
        if path.suffix not in (".yaml", ".py", ".md"):
            continue
        for line, what, text in find_secrets(path.read_text(encoding="utf-8")):
            found.append(f"{path.relative_to(CORPUS)}:{line}: {what}: {text}")
    assert not found, "\n".join(found)


def test_the_corpus_covers_the_intent_table_in_both_languages() -> None:
    seen: set[tuple[str, str]] = set()
    for path in TRANSCRIPTS:
        for turn in load(path).turns:
            if turn.kind == "say" and turn.text.strip():
                lang = "zh" if any("\u4e00" <= c <= "\u9fff" for c in turn.text) else "en"
                seen.add((intents.classify(turn.text, [Path(f) for f in turn.files]).intent, lang))
    rows = {"export", "credits", "state", "upload", "chat"}
    assert {(row, lang) for row in rows for lang in ("en", "zh")} <= seen


# -- a change of the skill's data shows as a named difference ------------------------------


def _replay_with(changed_skill: Path, transcript: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "NEMO_SKILL_DIR": str(changed_skill)}
    return subprocess.run(
        [sys.executable, "-m", "skill", "replay", str(transcript)],
        env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def _copy_skill(tmp_path: Path) -> Path:
    folder = tmp_path / "skill"
    folder.mkdir()
    source = skill_dir()
    shutil.copy(source / "SKILL.md", folder / "SKILL.md")
    for data in ("prompts", "intents"):
        shutil.copytree(source / data, folder / data)
    return folder


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert text.count(old) == 1, old
    path.write_text(text.replace(old, new), encoding="utf-8")


def test_a_changed_template_line_fails_with_a_diff_naming_it(tmp_path: Path) -> None:
    skill = _copy_skill(tmp_path)
    _edit(skill / "prompts" / "en" / "turn.yaml", "💳 Credits:", "💳 Your credits:")
    done = _replay_with(skill, CORPUS / "intent-credits-en.yaml")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "turn 1 (say 'credits'), replies:" in done.stdout
    assert "-💳 Credits: 100 available — 100 in total." in done.stdout
    assert "+💳 Your credits: 100 available — 100 in total." in done.stdout


def test_a_changed_intent_keyword_fails_with_a_diff_naming_it(tmp_path: Path) -> None:
    skill = _copy_skill(tmp_path)
    old, new = "(?:账户)?(?:积分|余额|点数)(?:余额)?", "(?:账户)?(?:余额|点数)(?:余额)?"
    _edit(skill / "intents" / "routing.yaml", old, new)
    done = _replay_with(skill, CORPUS / "intent-credits-zh.yaml")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "turn 1 (say '积分'), intent: recorded 'credits', replay 'chat'" in done.stdout
    assert "extra request the recording does not have: POST /api/tasks/me/with-se" in done.stdout
    assert "request 2 not made: GET /api/credits/balance/simple" in done.stdout


def test_the_unchanged_skill_replays_in_a_process_of_its_own(tmp_path: Path) -> None:
    done = _replay_with(_copy_skill(tmp_path), CORPUS / "intent-credits-zh.yaml")
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.startswith("OK ")
