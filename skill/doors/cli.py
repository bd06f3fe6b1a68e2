"""`nemo-video`: the command agent hosts call, one turn per call.

Heavy imports (aiohttp, jinja2, the runtime) happen inside the commands, so that
`--help` and `classify` start fast.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from skill.doors import exits
from skill.doors.exits import Parser

# The --host choices (skill.doors.installers.HOSTS, checked by a test): no import for --help.
HOST_NAMES = ("agents", "claude-code", "claude-desktop", "codex", "cursor", "openclaw")

if TYPE_CHECKING:
    from skill.common.output import CollectedOutput
    from skill.conversation.outcome import TurnOutcome
    from skill.conversation.runtime import Runtime
    from skill.conversation.store import ConversationStore

EPILOG = """\
conversations:
  Each working folder has its own conversation (backend session, last timeline,
  pending renders), kept in the config folder, so every `say` continues the same
  project. `--conversation NAME` (or NEMO_CONVERSATION) picks another; `new` starts afresh.

environment:
  NEMO_TOKEN        use this token (else a free anonymous one is obtained and kept)
  NEMO_API_URL      backend API (default https://mega-api-prod.nemovideo.ai)
  NEMO_WEB_URL      web app for browser links (default https://nemovideo.com)
  NEMO_CLIENT_ID    client id (else a persisted random one)
  NEMO_CONFIG_DIR   config folder (default $XDG_CONFIG_HOME/nemovideo or ~/.config/nemovideo)
  NEMO_OUTPUT_DIR   where exported MP4s go (default ./nemovideo-exports)
  SKILL_SOURCE      the host platform reported to the backend (else detected)

--json output (say, credits, status, upload, export, new):
  exactly one object on stdout, whatever happens (its JSON Schema: `nemo-video schema`):
  {"intent": str | null, "outcome": str, "replies": [str], "files": [path],
   "links": [url], "error": {"code": str, "message": str} | null,
   "next": {"command": str} | null}
  outcome: replied | edited | asked | running (exit 0) | partial | refused | failed
  Show `replies` only: error.message repeats a reply, links repeat URLs in the replies.

exit codes:
  0 done   1 backend or network error   2 bad command line
  3 unusable input (file, text)   4 configuration problem   70 internal error
  130 interrupted (SIGINT)   143 terminated (SIGTERM)
"""


def build_parser() -> Parser:
    p = Parser(
        prog="nemo-video",
        description="Generate and edit AI videos with NemoVideo from the command line.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _common_options(p, top=True)
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    p.commands = sub.choices

    def cmd(name: str, help_: str, *, json_flag: bool = True) -> argparse.ArgumentParser:
        sp = sub.add_parser(name, help=help_, description=help_)
        _common_options(sp, top=False)
        if json_flag:
            sp.add_argument("--json", action="store_true", help="print one JSON object")
        return sp

    say = cmd("say", "send one message (a turn) and print the replies")
    say.add_argument("text", nargs="?", help="the user's message, verbatim")
    say.add_argument("--stdin", action="store_true",
                     help="read the message from standard input (UTF-8, verbatim)")  # fmt: skip
    say.add_argument("--file", "-f", action="append", type=Path, default=[], metavar="PATH",
                     help="attach a file (repeatable)")  # fmt: skip
    say.add_argument("--out", type=Path, metavar="DIR", help="where exported MP4s go")
    say.add_argument("--record", type=Path, metavar="FILE",
                     help="also append this turn to a transcript FILE (secrets become "
                     "placeholders; their real values stay in <config>/recordings/, mode 0600)",
                     )  # fmt: skip
    _wait_option(say)
    wt = cmd("wait", "wait for the running turn (started by say or export) and print its outcome")
    _wait_option(wt)
    cmd("cancel", "stop the running turn and its render; drop queued messages")
    cmd("jobs", "list running turns, queued messages and pending renders")
    sub.add_parser("worker", help=argparse.SUPPRESS)  # started by say: runs the turns

    chat = cmd("chat", "interactive chat in the terminal", json_flag=False)
    chat.add_argument("--out", type=Path, metavar="DIR", help="where exported MP4s go")
    chat.add_argument("--record", type=Path, metavar="FILE",
                      help="also write the session to a transcript FILE")  # fmt: skip

    cmd("credits", "show available, frozen and total credits")
    cmd("status", "show the timeline of the current project")
    up = cmd("upload", "upload files or media URLs to the current project")
    up.add_argument("items", nargs="+", metavar="PATH|URL")
    ex = cmd("export", "render the project to MP4 and download it")
    ex.add_argument("--out", type=Path, metavar="DIR", help="where the MP4 goes")
    ex.add_argument("--resume", action="store_true",
                    help="only collect renders a previous run left unfinished")  # fmt: skip
    _wait_option(ex)
    cmd("new", "start a new project (renders still running are kept)")
    cmd("schema", "print the JSON Schema of the --json object", json_flag=False)

    rp = cmd("replay", "replay transcripts through the runtime; exit 1 on any difference",
             json_flag=False)  # fmt: skip
    rp.add_argument("files", nargs="+", type=Path, metavar="FILE")

    cl = cmd("classify", "print the intent a message routes to (no network)", json_flag=False)
    cl.add_argument("text")
    cl.add_argument("--file", "-f", action="append", type=Path, default=[], metavar="PATH")
    cl.add_argument("--debug", action="store_true", help="show the rule that matched")
    cl.add_argument("--busy", action="store_true",
                    help="route as while a turn runs (status questions, stops)")  # fmt: skip
    cl.add_argument("--explain", action="store_true",
                    help="print the deciding rule and clause, runner-up, typos read")  # fmt: skip

    ins = cmd("install-skill", "install the skill (and its MCP server) for an agent host",
              json_flag=False)  # fmt: skip
    ins.add_argument("--host", required=True, choices=sorted(HOST_NAMES),
                     help="the agent host to install for")  # fmt: skip
    ins.add_argument("--project", action="store_true",
                     help="install into this folder's project, not your home")  # fmt: skip
    ins.add_argument("--link", action="store_true",
                     help="link the skill folder instead of copying SKILL.md")  # fmt: skip

    mcp = cmd("mcp", "run the MCP server (stdio; --http for streamable HTTP); needs the "
              "'mcp' extra. Each client session has its own conversation unless "
              "--conversation names one", json_flag=False)  # fmt: skip
    mcp.add_argument("--http", metavar="[HOST:]PORT",
                     help="serve streamable HTTP (host default 127.0.0.1)")  # fmt: skip
    mcp.add_argument("--wait", type=float, default=45.0, metavar="SECONDS",
                     help="return 'running' after this long (default 45)")  # fmt: skip
    mcp.add_argument("--out", type=Path, metavar="DIR", help="where exported MP4s go")
    mcp.add_argument("--heartbeat", type=float, default=15.0, help=argparse.SUPPRESS)

    cmd("standin", "run the local stand-in backend (simulated AI, real rendering); "
        "see `nemo-video standin --help`", json_flag=False)  # fmt: skip
    return p


def _wait_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--wait", default=os.environ.get("NEMO_WAIT") or "90", metavar="SECONDS",
                        type=wait_seconds,
                        help="return after this long with outcome `running` if the turn "
                        "goes on (default 90, env NEMO_WAIT; 0: at once; forever)")  # fmt: skip


def wait_seconds(value: str) -> float | None:
    """`--wait`: seconds (0 returns at once) or `forever` (None)."""
    if value.strip().lower() == "forever":
        return None
    try:
        seconds = float(value)
    except ValueError:
        seconds = -1.0
    if not seconds >= 0:  # also NaN
        raise argparse.ArgumentTypeError(
            f"{value!r} is not a number of seconds: use e.g. --wait 90, --wait 0 or --wait forever"
        )
    return seconds


def _common_options(parser: argparse.ArgumentParser, *, top: bool) -> None:
    """Accepted before or after the command: `nemo-video -v say …` and `nemo-video say … -v`."""
    unset = argparse.SUPPRESS  # a command's copy must not overwrite what came before it
    parser.add_argument(
        "--conversation",
        metavar="NAME",
        default=None if top else unset,
        help="conversation to continue (default: this folder's)",
    )
    parser.add_argument("--verbose", "-v", action="store_true", default=False if top else unset,
                        help="also log to stderr")  # fmt: skip


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["standin"]:  # its own parser and --help
        from skill.standin.server import main as standin_main

        return standin_main(argv[1:])
    json_mode = "--json" in argv  # known before parsing, so a bad command line is an object too
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except exits.BadCommandLine as bad:
        return exits.usage(bad, json_mode)
    if args.command is None:
        build_parser().print_help()
        return 2
    if args.command == "schema":
        return exits.print_schema()
    if args.command == "replay":
        from skill.transcripts.replay import main as replay_main

        return replay_main(args.files, verbose=args.verbose)
    if args.command == "classify":
        return _classify(args)
    if args.command == "install-skill":
        return _install_skill(args)
    if args.command == "mcp":
        return _mcp(args)
    with exits.caught(args, json_mode) as status:
        status.code = _run(args, status)
    return status.code


def _classify(args: argparse.Namespace) -> int:
    from skill.common.errors import NemoError
    from skill.conversation import attachments
    from skill.conversation.intents import explain

    try:
        text, found = attachments.extract(args.text)
        how = explain(text, [*args.file, *found], busy=args.busy)
    except NemoError as exc:
        print(exc.message, file=sys.stderr)
        return 4
    route = how.route
    print(route.intent)
    if args.explain:  # for developers tuning intents/routing.yaml
        second = how.runner_up
        print(f"rule: {route.rule} (in {how.clause!r})")
        print(f"runner-up: {f'{second.id} ({second.intent})' if second else 'none'}")
        print("clauses: " + " | ".join(repr(c) for c in how.clauses))
        for typed, meant in how.corrected:
            print(f"typo: {typed!r} read as {meant!r}")
    if args.debug:
        print(f"rule: {route.rule}", file=sys.stderr)
        if route.instruction:
            print(f"instruction: {route.instruction}", file=sys.stderr)
        for url in route.urls:
            print(f"url: {url}", file=sys.stderr)
    return 0


def _install_skill(args: argparse.Namespace) -> int:
    from skill.common.errors import ConfigError, InputError
    from skill.conversation.templates import render
    from skill.doors.installers import HOSTS, install

    lang = "zh" if os.environ.get("LANG", "").startswith("zh") else "en"
    host = HOSTS[args.host]
    try:
        steps = install(args.host, project=args.project, link=args.link)
    except (ConfigError, InputError) as exc:
        detail = {"detail": exc.message, "host": host.label, **exc.details}
        print(render(exc.key, lang, **detail), file=sys.stderr)
        return 4 if isinstance(exc, ConfigError) else 3
    for step in steps:
        print(render(step.key, lang, path=step.path, target=step.target))
    changed = any(not step.key.endswith("_unchanged") for step in steps)
    print(
        render("install.restart" if changed else "install.nothing_changed", lang, host=host.label)
    )
    return 0


def _mcp(args: argparse.Namespace) -> int:
    import importlib.util

    from skill.common.config import Settings
    from skill.common.errors import ConfigError
    from skill.common.logs import configure_logging
    from skill.conversation.templates import render

    lang = "zh" if os.environ.get("LANG", "").startswith("zh") else "en"
    if importlib.util.find_spec("mcp") is None:
        print(render("mcp.not_installed", lang), file=sys.stderr)
        return 4
    from skill.doors.mcp import parse_listen, serve
    from skill.doors.relay import Relay

    listen = parse_listen(args.http) if args.http is not None else None
    if args.http is not None and listen is None:
        print(render("mcp.bad_listen", lang, value=args.http), file=sys.stderr)
        return 2
    try:
        settings = Settings.from_env()
        configure_logging(settings.config_dir, verbose=args.verbose)  # stderr: stdout is MCP's
    except ConfigError as exc:
        print(exc.message, file=sys.stderr)
        return 4
    out_dir = _out_dir(args, settings)
    if Path.cwd() == Path(Path.cwd().anchor) and not (args.out or settings.output_dir):
        out_dir = Path.home() / "nemovideo-exports"  # hosts may start us in / (not writable)
    name = args.conversation or os.environ.get("NEMO_CONVERSATION")
    serve(Relay(settings, out_dir, name=name, wait=args.wait, heartbeat=args.heartbeat), listen)
    return 0


def _run(args: argparse.Namespace, status: exits.Status) -> int:
    from skill.common.config import Settings
    from skill.common.errors import ConfigError, InputError
    from skill.common.logs import configure_logging
    from skill.conversation import contract, stores
    from skill.conversation.store import default_name

    json_mode = bool(getattr(args, "json", False))
    try:
        if getattr(args, "stdin", False):
            args.text = exits.read_stdin()
        settings = Settings.from_env()
        configure_logging(settings.config_dir, verbose=args.verbose)
        name = args.conversation or os.environ.get("NEMO_CONVERSATION") or default_name(Path.cwd())
        store = status.store = stores.conversation_store(settings, name)
        if args.command == "new":
            return _new(store, json_mode)
    except (ConfigError, InputError) as exc:
        return exits.setup(args, exc, json_mode)
    if args.command == "chat":
        from skill.doors.terminal import interactive

        return interactive(settings, store, _out_dir(args, settings), record=args.record)

    if args.command in ("say", "wait", "cancel", "jobs", "worker", "export") and not getattr(
        args, "record", None
    ):
        from skill.doors import host

        return host.run(args, settings, store, _out_dir(args, settings), json_mode)
    import asyncio

    from skill.common.output import CollectedOutput
    from skill.doors.terminal import TerminalOutput

    out: CollectedOutput | TerminalOutput = CollectedOutput() if json_mode else TerminalOutput()
    outcome = asyncio.run(_one(args, settings, store, out))
    next_ = contract.next_step(outcome, store)
    if isinstance(out, CollectedOutput):
        exits.emit(contract.document(outcome, out, next_))
    else:
        out.close()
        if next_ is not None:  # a terminal user is the host: the command, without --json
            print("next: " + next_["command"].removesuffix(" --json"), file=sys.stderr)
    return outcome.exit_code


def _new(store: ConversationStore, json_mode: bool) -> int:
    from skill.common.errors import ConfigError
    from skill.conversation.templates import render

    try:
        store.load()
    except ConfigError:  # an unreadable conversation file: starting afresh is what `new` is for
        store.path.unlink(missing_ok=True)
    store.reset()
    line = render("turn.new_project", store.load().language)
    if not json_mode:
        print(line)
        return 0
    from skill.common.output import CollectedOutput
    from skill.conversation.contract import document
    from skill.conversation.outcome import TurnOutcome

    exits.emit(document(TurnOutcome("new"), CollectedOutput(replies=[line]), None))
    return 0


async def _one(args: argparse.Namespace, settings: Any, store: Any, out: Any) -> TurnOutcome:
    from skill.conversation.runtime import open_runtime

    if getattr(args, "record", None):  # say --record
        from skill.transcripts.format import Turn
        from skill.transcripts.recorder import record_turn

        turn = Turn("say", args.text, tuple(str(f) for f in args.file))
        return await record_turn(
            args.record, settings, store, out, out_dir=_out_dir(args, settings), turn=turn
        )
    async with open_runtime(settings, store, out, out_dir=_out_dir(args, settings)) as rt:
        return await _dispatch(rt, args)


async def _dispatch(rt: Runtime, args: argparse.Namespace) -> TurnOutcome:
    if args.command == "say":
        return await rt.turn(args.text, args.file)
    if args.command == "credits":
        return await rt.command("credits")
    if args.command == "status":
        return await rt.command("state")
    if args.command == "upload":
        return await rt.upload(args.items)
    return await rt.command("resume" if args.resume else "export")


def _out_dir(args: argparse.Namespace, settings: Any) -> Path:
    chosen = getattr(args, "out", None) or settings.output_dir
    return Path(chosen) if chosen else Path.cwd() / "nemovideo-exports"


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
