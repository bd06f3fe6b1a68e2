"""How a command ends when it cannot end as a turn: one line, one exit code, and with
`--json` still the one object of skill/conversation/contract.py (stderr may carry detail).

    bad command line       usage        exit 2    argparse's usage and message on stderr
    setting or file wrong  config       exit 4    (or input, exit 3: stdin not UTF-8)
    SIGINT / SIGTERM       interrupted  exit 130 / 143
    a bug (any exception)  internal     exit 70   the traceback on stderr and in the log

An interruption loses nothing on disk: the conversation file and the pending-render
journal are written atomically when they change (a render's job id before its first
poll), so what was done is there for the next call; `next` says when a render is left
to collect.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import signal
import sys
import traceback
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from types import FrameType
from typing import TYPE_CHECKING, Any, NoReturn

if TYPE_CHECKING:
    from skill.common.errors import NemoError
    from skill.conversation.store import ConversationStore

COMMAND_INTENTS = {"status": "state", "say": "chat"}  # others report their own name


class BadCommandLine(Exception):
    """What argparse would have printed before exiting 2, kept to print as we choose."""

    def __init__(self, prog: str, usage: str, message: str) -> None:
        super().__init__(message)
        self.prog, self.usage, self.message = prog, usage, message


class Parser(argparse.ArgumentParser):
    """argparse that raises BadCommandLine instead of printing and exiting."""

    commands: Mapping[str, argparse.ArgumentParser]

    def error(self, message: str) -> NoReturn:
        raise BadCommandLine(self.prog, self.format_usage(), message)

    def parse_args(self, *a: Any, **kw: Any) -> Any:
        """Also: `say` takes its message as TEXT or --stdin, exactly one of the two."""
        args = super().parse_args(*a, **kw)
        if getattr(args, "command", None) == "say" and (args.text is None) == (not args.stdin):
            self.commands["say"].error(
                "the message came twice: give TEXT or --stdin, not both" if args.stdin
                else "the message is missing: give it as TEXT or --stdin"
            )  # fmt: skip
        return args


def print_schema() -> int:
    """`nemo-video schema`: the JSON Schema of the --json object, as shipped."""
    from skill.conversation.contract import SCHEMA

    sys.stdout.write(SCHEMA.read_text(encoding="utf-8"))
    return 0


def read_stdin() -> str:
    """The message on standard input, byte for byte as UTF-8; the one newline a heredoc
    adds at the end is dropped."""
    from skill.common.errors import InputError

    data = sys.stdin.buffer.read()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        where = f"stdin is not UTF-8 (byte {exc.start})"
        raise InputError(where, key="turn.stdin_not_utf8") from None
    return text.removesuffix("\n").removesuffix("\r")


def emit(doc: dict[str, Any]) -> None:
    """Print the one object as UTF-8 whatever the locale, on one line."""
    sys.stdout.flush()
    sys.stdout.buffer.write((json.dumps(doc, ensure_ascii=False) + "\n").encode("utf-8"))
    sys.stdout.buffer.flush()


@dataclass
class Status:
    """What `caught()` hands the command: where to put its exit code and, once known,
    the conversation (so an interruption can tell whether a render is left)."""

    code: int = 0
    store: ConversationStore | None = None


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where SIGINT raises KeyboardInterrupt, so both unwind alike."""


def _on_sigterm(signum: int, frame: FrameType | None) -> NoReturn:
    raise Terminated


@contextlib.contextmanager
def caught(args: argparse.Namespace, json_mode: bool) -> Iterator[Status]:
    """Run a command; an interruption or a bug still ends it with its line and code."""
    status = Status()
    previous = signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        yield status
    except KeyboardInterrupt as exc:
        status.code = _interrupted(args, json_mode, status.store, isinstance(exc, Terminated))
    except Exception:
        status.code = _internal(args, json_mode)
    finally:
        signal.signal(signal.SIGTERM, previous)


def usage(bad: BadCommandLine, json_mode: bool) -> int:
    from skill.common.errors import NemoError
    from skill.conversation.contract import failure

    sys.stderr.write(f"{bad.usage}{bad.prog}: error: {bad.message}\n")
    if json_mode:
        line = bad.message
        with contextlib.suppress(NemoError):
            line = _render("error.usage", "en", detail=bad.message)
        emit(failure(None, "usage", line))
    return 2


def setup(args: argparse.Namespace, exc: NemoError, json_mode: bool) -> int:
    """A setting, a data file or the input on stdin is unusable, before any turn ran."""
    from skill.common.errors import NemoError
    from skill.conversation.contract import failure
    from skill.conversation.outcome import exit_code

    line = exc.message
    with contextlib.suppress(NemoError):
        line = _render(exc.key, _language(args), detail=exc.message, **exc.details)
    if not json_mode:
        print(line, file=sys.stderr)
    else:
        emit(failure(intent_of(args), exc.kind, line))
    return exit_code(exc.kind)


def intent_of(args: argparse.Namespace) -> str | None:
    """The intent to report for a command that did not get to route its message."""
    from skill.common.errors import NemoError
    from skill.conversation import attachments
    from skill.conversation.intents import classify

    command: str | None = getattr(args, "command", None)
    if command == "say" and getattr(args, "text", None):
        with contextlib.suppress(NemoError, OSError):
            text, typed = attachments.extract(args.text)
            return classify(text, [*args.file, *typed]).intent
    if command in (None, "chat", "replay", "classify", "schema", "standin"):
        return None
    return COMMAND_INTENTS.get(command, command)


def _interrupted(
    args: argparse.Namespace, json_mode: bool, store: ConversationStore | None, term: bool
) -> int:
    from skill.common.errors import NemoError
    from skill.conversation.contract import failure, next_step
    from skill.conversation.outcome import EXIT_CODES, EXIT_SIGTERM, TurnOutcome

    next_ = next_step(TurnOutcome("chat", "interrupted"), store)
    line = "interrupted"
    with contextlib.suppress(NemoError):
        line = _render("error.interrupted", _language(args, store), pending=next_ is not None)
    if json_mode:
        emit(failure(intent_of(args), "interrupted", line, next_))
    else:
        print(line, file=sys.stderr)
    return EXIT_SIGTERM if term else EXIT_CODES["interrupted"]


def _internal(args: argparse.Namespace, json_mode: bool) -> int:
    from skill.common.errors import NemoError
    from skill.common.logs import get_logger
    from skill.conversation.contract import failure
    from skill.conversation.outcome import EXIT_CODES

    get_logger("nemo.cli").exception("cli.internal_error", command=args.command)
    traceback.print_exc(file=sys.stderr)
    line = "internal error"
    with contextlib.suppress(NemoError):
        line = _render("error.internal", _language(args))
    if json_mode:
        emit(failure(intent_of(args), "internal", line))
    else:
        print(line, file=sys.stderr)
    return EXIT_CODES["internal"]


def _language(args: argparse.Namespace, store: ConversationStore | None = None) -> str:
    from skill.common.errors import NemoError
    from skill.conversation.templates import DEFAULT_LANG, detect_language

    if getattr(args, "text", None):
        return detect_language(args.text)
    with contextlib.suppress(NemoError):
        if store is not None:
            return store.load().language
    return DEFAULT_LANG


def _render(key: str, lang: str, **ctx: Any) -> str:
    from skill.conversation.templates import render

    return render(key, lang, **ctx)
