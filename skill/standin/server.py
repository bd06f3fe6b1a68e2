"""Starting the stand-in: in-process with `start_standin()` (tests, the demo), or as a
command with `main()` (`nemo-video standin`, `python -m skill.standin`).

Two listeners on loopback: the API, and a second port for media and finished renders
so that download URLs point at another host, like a CDN. The data (uploads, renders)
goes to `data_dir`, or to a temporary folder removed on close.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import importlib
import logging
import signal
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

import structlog
from aiohttp import web

from skill.common.errors import ConfigError
from skill.wire.protocol import MAX_UPLOAD_BYTES

from .agent import Agent
from .app import api_app, cdn_app
from .context import Renderer
from .replies import load_replies
from .rules import load_rules
from .scenario import Scenario, load_scenario
from .store import World
from .uploads import is_loopback


@dataclasses.dataclass
class RunningStandin:
    """A started stand-in: its two base URLs, its world (for tests to look at), close()."""

    api_url: str
    cdn_url: str
    world: World
    _runners: list[web.AppRunner]
    _scratch: tempfile.TemporaryDirectory[str] | None

    async def close(self) -> None:
        await self.world.close()
        for runner in reversed(self._runners):
            await runner.cleanup()
        self._runners.clear()
        if self._scratch is not None:
            self._scratch.cleanup()
            self._scratch = None

    async def __aenter__(self) -> RunningStandin:
        return self

    async def __aexit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()


async def start_standin(
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    cdn_port: int = 0,
    scenario: Scenario | Mapping[str, Any] | str | Path | None = None,
    data_dir: Path | None = None,
    seed: int | None = None,
    clock: Callable[[], float] = time.time,
    renderer: Renderer | None = None,
    max_upload_bytes: int = MAX_UPLOAD_BYTES,
    access_log: bool = False,
) -> RunningStandin:
    """Start both listeners and return once they accept connections.

    `scenario`: a YAML file (Path), YAML text (str), a mapping or a Scenario; `seed`
    overrides its seed. `clock` is the world's time (token expiry). `renderer`
    replaces `skill.standin.render.render_draft` (tests inject a fake one);
    `max_upload_bytes` lowers the 200 MB limit so tests can reach it quickly.
    """
    if not is_loopback(host):
        raise ConfigError(f"The stand-in only listens on loopback (127.0.0.1, ::1), not {host!r}.")
    plan = load_scenario(scenario)
    if seed is not None:
        plan = dataclasses.replace(plan, seed=seed)
    scratch = None
    if data_dir is None:
        scratch = tempfile.TemporaryDirectory(prefix="nemo-standin-")
        data_dir = Path(scratch.name)
    world = World(plan, Path(data_dir), clock, max_upload_bytes)
    agent = Agent(
        load_rules(),
        load_replies(),
        seed=plan.seed,
        silent_share=plan.silent_edits,
        timing=plan.timing,
        music_url=world.sample_music_url,
    )
    runners: list[web.AppRunner] = []
    try:
        world.cdn_url = await _listen(cdn_app(world), host, cdn_port, access_log, runners)
        api = api_app(world, agent, renderer or _render)
        api_url = await _listen(api, host, port, access_log, runners)
    except BaseException:
        for runner in runners:
            await runner.cleanup()
        if scratch is not None:
            scratch.cleanup()
        raise
    return RunningStandin(api_url, world.cdn_url, world, runners, scratch)


async def _render(draft: Mapping[str, Any], out_path: Path, **kw: Any) -> None:
    """The real renderer, imported when first needed (ffmpeg is only for renders)."""
    module = importlib.import_module("skill.standin.render")
    await module.render_draft(draft, out_path, **kw)


async def _listen(
    app: web.Application, host: str, port: int, access_log: bool, runners: list[web.AppRunner]
) -> str:
    logger = logging.getLogger("aiohttp.access") if access_log else None
    runner = web.AppRunner(app, access_log=logger, handle_signals=False, shutdown_timeout=1.0)
    await runner.setup()
    runners.append(runner)
    try:
        await web.TCPSite(runner, host, port).start()
    except OSError as exc:
        raise ConfigError(f"Cannot listen on {host}:{port}: {exc.strerror or exc}.") from None
    bound = runner.addresses[0][1]
    return f"http://[{host}]:{bound}" if ":" in host else f"http://{host}:{bound}"


# -- the command -----------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    """`nemo-video standin`: print the API's base URL on stdout, serve until stopped."""
    parser = argparse.ArgumentParser(
        prog="nemo-video standin",
        description="Run the local stand-in NemoVideo backend on loopback: the whole API "
        "contract, a simulated (rule-based) agent, real MP4 renders. Point the runtime at "
        "it with NEMO_API_URL=<the printed URL>.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="loopback address (127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, help="API port (0: any free port)")
    parser.add_argument("--cdn-port", type=int, default=0, help="media/download port (0: any)")
    parser.add_argument("--scenario", type=Path, metavar="FILE", help="YAML fault scenario")
    parser.add_argument("--seed", type=int, help="the simulated agent's seed")
    parser.add_argument(
        "--data-dir",
        type=Path,
        metavar="DIR",
        help="keep uploads and renders here (default: a temporary folder)",
    )
    parser.add_argument("--quiet", action="store_true", help="no request log on stderr")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(message)s")
    structlog.configure(logger_factory=structlog.PrintLoggerFactory(sys.stderr))
    try:
        return asyncio.run(_serve(args))
    except ConfigError as exc:
        print(f"nemo-video standin: {exc.message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


async def _serve(args: argparse.Namespace) -> int:
    running = await start_standin(
        args.host,
        args.port,
        cdn_port=args.cdn_port,
        scenario=args.scenario,
        data_dir=args.data_dir,
        seed=args.seed,
        access_log=not args.quiet,
    )
    print(running.api_url, flush=True)
    print(
        f"NemoVideo local stand-in (simulated agent, real renders): API {running.api_url}, "
        f"CDN {running.cdn_url}. Set NEMO_API_URL={running.api_url}. Ctrl-C stops it.",
        file=sys.stderr,
        flush=True,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await running.close()
    return 0
