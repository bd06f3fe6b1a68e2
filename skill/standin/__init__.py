"""The local stand-in NemoVideo backend: the whole API contract on loopback.

A simulated, rule-based agent (it says so in every reply) behind a byte-faithful ADK
event stream, fault scenarios for tests, and real MP4 renders. No cloud account and no
network are needed. Start it with `nemo-video standin` or `start_standin()`.

May import: `skill.common` and `skill.wire.protocol` (the contract's paths and values),
never the client, the SSE decoder or the conversation, so that a parsing bug shared by
both sides cannot hide. Only the doors import it (and tests).
"""

from .server import RunningStandin, main, start_standin

__all__ = ["RunningStandin", "main", "start_standin"]
