from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from bot.core.settings import ConfigError, Settings, load_settings

ROOT = Path(__file__).resolve().parents[2]


def test_defaults(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SALESBOT_CONFIG", raising=False)
    s = load_settings()
    assert s.database.url == "sqlite:///salesbot.db"
    assert (s.org.locale, s.org.timezone, s.org.holidays) == ("zh-CN", "Asia/Shanghai", "CN")
    assert (s.schedule.morning, s.schedule.reminder, s.schedule.evening) == ("08:45", "17:30", "18:30")
    assert s.reports.max_age_days == 7 and s.collab.grant_days == 14
    assert s.platforms == ["console"]


def test_example_documents_every_key_with_the_defaults() -> None:
    example = tomllib.loads((ROOT / "config.example.toml").read_text(encoding="utf-8"))
    defaults = Settings().model_dump(mode="json", exclude={"config_path"})

    def flatten(d: dict, prefix: str = "") -> dict:  # type: ignore[type-arg]
        out = {}
        for k, v in d.items():
            if isinstance(v, dict):
                out.update(flatten(v, f"{prefix}{k}."))
            else:
                out[f"{prefix}{k}"] = v
        return out

    flat_example, flat_defaults = flatten(example), flatten(defaults)
    assert set(flat_example) == set(flat_defaults)
    for key, value in flat_example.items():
        expected = flat_defaults[key]
        assert value == expected or (expected == "**********" and value == ""), key


def test_env_overrides_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text('[database]\nurl = "sqlite:///a.db"\n[org]\nlocale = "en"\n', encoding="utf-8")
    monkeypatch.setenv("SALESBOT_DATABASE__URL", "sqlite:///b.db")
    s = load_settings(str(cfg))
    assert s.database.url == "sqlite:///b.db"
    assert s.org.locale == "en"


def test_bad_config_names_the_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text('[org]\nlocale = "fr"\n[schedule]\nmorning = "25:99"\n', encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_settings(str(cfg))
    assert "org.locale" in str(err.value) and "schedule.morning" in str(err.value)


def test_secrets_are_not_printed(tmp_path: Path) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text('[slack]\nbot_token = "xoxb-very-secret"\nsigning_secret = "shh"\n', encoding="utf-8")
    s = load_settings(str(cfg))
    assert s.platforms == ["slack"]
    assert "xoxb-very-secret" not in repr(s) and "xoxb-very-secret" not in str(s.model_dump())
