"""NemoVideo skill runtime: a deterministic replacement for a curl-recipe SKILL.md."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("nemo-video-skill")
except PackageNotFoundError:  # pragma: no cover - running from a bare checkout
    __version__ = "0.0.0"
