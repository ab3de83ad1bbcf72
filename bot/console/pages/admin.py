"""Shared by the admin's pages: who may open them, and the audit record of every change they make."""

from __future__ import annotations

from typing import Any

from bot.console.web import View
from models import Role
from services import audit

ADMINS = (Role.ADMIN.value,)


def record(view: View, action: str, subject: str, *, before: Any = None, after: Any = None) -> None:
    """Write a console change to the audit log, in the same transaction as the change."""
    audit.record(view.session, action=action, actor=view.person, source=audit.Source.CONSOLE, at=view.now,
                 target=subject, before=before, after=after)
