"""NemoVideo skill runtime: a deterministic replacement for a curl-recipe SKILL.md."""

from typing import Any


def __getattr__(name: str) -> Any:
    # importlib.metadata costs ~50 ms: only pay for it when the version is asked for.
    if name == "__version__":
        from importlib.metadata import PackageNotFoundError, version

        try:
            return version("nemo-video-skill")
        except PackageNotFoundError:  # pragma: no cover - a bare checkout
            return "0.0.0"
    raise AttributeError(name)
