"""The console's words: one JSON file per locale in bot/console/locales, looked up by key."""

from __future__ import annotations

import json
from functools import lru_cache
from importlib.resources import files
from typing import Any

LOCALES = ("zh-CN", "en")


@lru_cache(maxsize=4)
def catalogue(locale: str) -> dict[str, str]:
    text = files("bot.console").joinpath("locales", f"{locale}.json").read_text(encoding="utf-8")
    data: dict[str, str] = json.loads(text)
    return data


class Translator:
    """`t("nav.overview")`, `t("error.bad_input", param="period", ...)`: a key's words in one locale."""

    def __init__(self, locale: str) -> None:
        self.locale = locale if locale in LOCALES else "zh-CN"
        self.words = catalogue(self.locale)

    def __call__(self, key: str, /, **variables: Any) -> str:
        text = self.words.get(key)
        if text is None:
            text = catalogue("en").get(key, key)
        return text.format(**variables) if variables else text

    def has(self, key: str) -> bool:
        return key in self.words


@lru_cache(maxsize=4)
def translator(locale: str) -> Translator:
    return Translator(locale)
