"""Workers started from this process (the in-process API, the MCP relay) exit as soon as
they are idle, as those started by tests.procenv.cli_env do."""

import os

os.environ.setdefault("NEMO_WORKER_LINGER", "0")
