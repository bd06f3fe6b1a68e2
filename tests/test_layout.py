"""The layout's rules, checked: which part may import which, and no module too long.

The parts, lowest first (each `skill/<part>/__init__.py` says the same in words):

    common        imports nothing else of skill
    wire          common
    conversation  common, wire
    transcripts   common, wire, conversation
    standin       common, wire.protocol (never the client: a shared parsing bug would hide)
    doors         everything

Imports inside functions count too (the CLI imports lazily).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SKILL = Path(__file__).resolve().parents[1] / "skill"
MAX_LINES = 400

ALLOWED: dict[str, set[str]] = {
    "common": set(),
    "wire": {"common"},
    "conversation": {"common", "wire"},
    "transcripts": {"common", "wire", "conversation"},
    "standin": {"common", "wire.protocol"},
    "doors": {"common", "wire", "conversation", "transcripts", "standin"},
    "": {"doors"},  # skill/__init__.py and skill/__main__.py
}


def part_of(module: str) -> str:
    """`skill.wire.sse` → `wire`; the package root → ``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 2 or (len(parts) == 2 and parts[1] in ALLOWED) else ""


def imports(path: Path, root: Path) -> list[tuple[int, str]]:
    """Every `skill.*` module this file imports, resolved to absolute names."""
    package = list(path.relative_to(root.parent).parts[:-1])
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names if a.name.startswith("skill")]
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            module = ".".join(base + ([node.module] if node.module else []))
            if module.startswith("skill"):
                found += [(node.lineno, f"{module}.{a.name}") for a in node.names]
    return found


def allowed(source: str, target: str) -> bool:
    """May part `source` import the module (or name) `target`?"""
    tail = target.split(".")[1:]
    if not tail or tail[0] == source:
        return True
    return any(tail[: len(rule.split("."))] == rule.split(".") for rule in ALLOWED[source])


def violations(root: Path = SKILL) -> list[str]:
    found = []
    for path in sorted(root.rglob("*.py")):
        source = part_of(".".join(path.relative_to(root.parent).with_suffix("").parts))
        for line, target in imports(path, root):
            if not allowed(source, target):
                found.append(
                    f"{path.relative_to(root.parent)}:{line}: {source or 'skill'} imports {target}"
                )
    return found


def test_no_part_imports_a_part_above_it() -> None:
    assert violations() == [], "\n".join(violations())


def test_every_part_is_a_room_with_a_docstring() -> None:
    for part in ALLOWED:
        if part:
            doc = ast.get_docstring(ast.parse((SKILL / part / "__init__.py").read_text()))
            assert doc and "May import" in doc, (
                f"skill/{part}/__init__.py must say what it may import"
            )


@pytest.mark.parametrize(
    ("source", "target", "ok"),
    [
        ("wire", "skill.conversation.runtime.Runtime", False),
        ("wire", "skill.common.errors.NemoError", True),
        ("conversation", "skill.transcripts.format.load", False),
        ("conversation", "skill.doors.cli", False),
        ("standin", "skill.wire.protocol", True),
        ("standin", "skill.wire.client.NemoClient", False),
        ("common", "skill.wire.sse", False),
        ("doors", "skill.standin.render", True),
    ],
)
def test_the_rule_itself(source: str, target: str, ok: bool) -> None:
    assert allowed(source, target) is ok


def test_a_broken_rule_is_caught(tmp_path: Path) -> None:
    """Plant an upward import in a copy of a part and watch the check fail on it."""
    root = tmp_path / "skill"
    (root / "wire").mkdir(parents=True)
    (root / "wire" / "__init__.py").write_text('"""May import: common."""\n')
    (root / "wire" / "sse.py").write_text("def f():\n    from skill.conversation import runtime\n")
    assert violations(root) == ["skill/wire/sse.py:2: wire imports skill.conversation.runtime"]


def test_no_module_is_over_the_limit() -> None:
    long = {
        str(p.relative_to(SKILL.parent)): n
        for p in SKILL.rglob("*.py")
        if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    }
    assert long == {}, f"split these modules (over {MAX_LINES} lines): {long}"


def test_only_the_logs_module_imports_structlog() -> None:
    """The runtime logs through skill.common.logs.get_logger, which configures structlog at
    the first event: a module using structlog itself could log before that, to stdout.
    (The stand-in is its own program and configures structlog itself.)"""
    users = set()
    for path in SKILL.rglob("*.py"):
        if "standin" in path.parts or path.name == "logs.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and not node.level:
                names = [node.module or ""]
            if any(n.partition(".")[0] == "structlog" for n in names):
                users.add(str(path.relative_to(SKILL.parent)))
    assert users == {"skill/transcripts/replay.py"}  # it silences structlog for its run
