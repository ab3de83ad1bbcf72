"""Split message text under a platform's size limit in bytes, on line boundaries when possible."""

from __future__ import annotations


def split_utf8(text: str, limit: int) -> list[str]:
    """Split text into parts of at most `limit` UTF-8 bytes, on line boundaries when possible."""
    parts: list[str] = []
    current: list[str] = []
    size = 0
    for line in text.split("\n"):
        line_bytes = len(line.encode())
        extra = line_bytes + (1 if current else 0)
        if current and size + extra <= limit:
            current.append(line)
            size += extra
            continue
        if current:
            parts.append("\n".join(current))
            current, size = [], 0
        if line_bytes <= limit:
            current, size = [line], line_bytes
            continue
        chunk: list[str] = []  # one line longer than the limit: cut between characters
        chunk_size = 0
        for ch in line:
            n = len(ch.encode())
            if chunk_size + n > limit:
                parts.append("".join(chunk))
                chunk, chunk_size = [], 0
            chunk.append(ch)
            chunk_size += n
        current, size = ["".join(chunk)], chunk_size
    if current:
        parts.append("\n".join(current))
    return [p for p in parts if p.strip()] or ([text[:1]] if text else [])
