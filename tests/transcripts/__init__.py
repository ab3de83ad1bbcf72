"""Transcripts: every message template as each platform receives it, in zh-CN and en.

Regenerate with `python -m tests.transcripts --update` and read the diff.
"""
