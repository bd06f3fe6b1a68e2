"""The doors hosts come in by: the `nemo-video` command (`cli`), the terminal printer and
interactive chat (`terminal`), and `make demo` (`demo`).

May import every other part, the stand-in included (the demo and `nemo-video standin`
start it). Nothing imports a door.
"""
