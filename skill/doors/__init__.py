"""The doors hosts come in by: the `nemo-video` command (`cli`), the terminal printer and
interactive chat (`terminal`), `make demo` (`demo`), the MCP server (`mcp`, with `relay`
doing each tool's work) and `install-skill` (`installers`).

May import every other part, the stand-in included (the demo and `nemo-video standin`
start it). Nothing imports a door.
"""
