"""The one path from a problem to a friendly reply."""

from __future__ import annotations

from typing import Any


class UserFacingError(Exception):
    """Stop the use case and answer the person with a template; nothing it wrote is kept."""

    def __init__(self, template: str, **variables: Any) -> None:
        super().__init__(template)
        self.template = template
        self.variables = variables


class Forbidden(UserFacingError):
    """The person may not do this; `reason` names the rule in the `forbidden` template."""

    def __init__(self, reason: str, **variables: Any) -> None:
        super().__init__("forbidden", reason=reason, **variables)
