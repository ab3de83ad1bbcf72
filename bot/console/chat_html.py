"""A chat message as HTML for the template preview: escaped, with the platforms' bold and code marks shown."""

from __future__ import annotations

import re

from markupsafe import Markup, escape

_BOLD_DOUBLE = re.compile(r"\*\*(?=\S)(.+?)(?<=\S)\*\*")
_BOLD_SINGLE = re.compile(r"(?<![\w*])\*(?=\S)([^*\n]+?)(?<=\S)\*(?![\w*])")
_CODE = re.compile(r"`([^`\n]+)`")


def chat_html(text: str, platform: str = "console") -> Markup:
    """Escape a message and mark up what each platform shows in bold or as code (Slack: *x*; others: **x**)."""
    html = str(escape(text))
    html = _CODE.sub(r"<code>\1</code>", html)
    html = (_BOLD_SINGLE if platform == "slack" else _BOLD_DOUBLE).sub(r"<strong>\1</strong>", html)
    return Markup(html)
