"""Transcripts: the recorded-conversation format, recording through a scrubbing proxy
(`say/chat --record`), placeholders for secrets, and replay on loopback with diffs.

May import: `skill.common`, `skill.wire`, `skill.conversation`. Only the doors import
it: nothing in the wire or the conversation depends on recording.
"""
