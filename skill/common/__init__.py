"""Shared ground: the exception tree, settings and the token store, atomic files, logs,
the Output seam and where the data folders are.

May import: nothing else of `skill` (only the standard library and third-party packages).
Everything else may import it.
"""
