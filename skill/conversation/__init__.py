"""The conversation: one user message becomes a turn — routing (`intents`), the flows
(`chat`, `export`, upload checks in `media`), GUI-speak translation, the timeline
summary and diff, every line from `prompts/` (`templates`), and the state kept between
turns (`store`). `runtime` is the turn dispatcher.

May import: `skill.common`, `skill.wire`. Must never import transcripts, doors or the
stand-in: the conversation runs the same whoever calls it.
"""
