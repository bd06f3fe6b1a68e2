"""A real PostgreSQL server for the tests: initdb + pg_ctl as the `postgres` user in a
temporary folder, listening only on a unix socket there (no TCP port)."""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def binaries() -> Path:
    found = shutil.which("initdb")
    if found:  # on Debian /usr/local/bin/initdb may be a link into /usr/lib/postgresql
        folder = Path(os.path.realpath(found)).parent
        if (folder / "pg_ctl").exists():
            return folder
    for folder in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if Path(folder, "pg_ctl").exists():
            return Path(folder)
    raise RuntimeError(
        "No PostgreSQL server binaries (initdb, pg_ctl): apt-get install postgresql "
        "(.ci/run does this when they are missing)."
    )


def _as_postgres(*cmd: str) -> subprocess.CompletedProcess[str]:
    prefix = [] if os.geteuid() != 0 else ["runuser", "-u", "postgres", "--"]
    return subprocess.run([*prefix, *cmd], check=True, capture_output=True, text=True, timeout=60)


@contextmanager
def running_postgres() -> Iterator[str]:
    """A started server; yields the DSN of its `postgres` database."""
    bin_dir = binaries()
    root = Path(tempfile.mkdtemp(prefix="nemo-pg-"))
    if os.geteuid() == 0:
        user = pwd.getpwnam("postgres")
        os.chown(root, user.pw_uid, user.pw_gid)
    data = root / "data"
    try:
        _as_postgres(str(bin_dir / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres",
                     "--no-sync", "-E", "UTF8")  # fmt: skip
        opts = f"-k {root} -c listen_addresses='' -c fsync=off -c max_connections=50"
        _as_postgres(str(bin_dir / "pg_ctl"), "-D", str(data), "-o", opts, "-l",
                     str(root / "log"), "-w", "start")  # fmt: skip
        try:
            yield f"postgresql://postgres@/postgres?host={root}"
        finally:
            _as_postgres(str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop")
    finally:
        shutil.rmtree(root, ignore_errors=True)
