"""The backend wire: everything that speaks to the NemoVideo backend — HTTP client with
retries, SSE decoding, ADK events, JSON answers to values, protocol paths and values,
streamed upload/download, attribution headers.

May import: `skill.common`. Must never import the conversation, transcripts, doors or
the stand-in: the wire knows the backend, not what a turn means to the user.
"""
