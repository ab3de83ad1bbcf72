"""Settings: embedded defaults, a TOML file, and SALESBOT_<SECTION>__<KEY> overrides."""

from __future__ import annotations

import os
from datetime import time
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

Locale = Literal["zh-CN", "en"]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _check_hhmm(value: str) -> str:
    try:
        time.fromisoformat(value)
    except ValueError as exc:
        raise ValueError(f"expected a local time like 08:45, got {value!r}") from exc
    return value


def _check_zone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"expected an IANA time zone like Asia/Shanghai, got {value!r}") from exc
    return value


class DatabaseSettings(_Section):
    url: str = "sqlite:///salesbot.db"
    echo: bool = False


class OrgSettings(_Section):
    locale: Locale = "zh-CN"
    timezone: str = "Asia/Shanghai"
    currency: str = "CNY"
    holidays: Literal["CN", "none"] = "CN"

    _zone = field_validator("timezone")(_check_zone)


class ScheduleSettings(_Section):
    morning: str = "08:45"
    reminder: str = "17:30"
    evening: str = "18:30"
    nudges: str = "10:00"

    _hhmm = field_validator("morning", "reminder", "evening", "nudges")(_check_hhmm)


class SlackSettings(_Section):
    bot_token: SecretStr = SecretStr("")
    signing_secret: SecretStr = SecretStr("")
    app_token: SecretStr = SecretStr("")
    api_url: str = "https://slack.com/api/"

    @property
    def enabled(self) -> bool:
        return bool(self.bot_token.get_secret_value() and self.signing_secret.get_secret_value())


class WecomSettings(_Section):
    corp_id: str = ""
    agent_id: str = ""
    secret: SecretStr = SecretStr("")
    token: SecretStr = SecretStr("")
    encoding_aes_key: SecretStr = SecretStr("")
    api_base_url: str = "https://qyapi.weixin.qq.com/cgi-bin/"
    max_timestamp_skew_seconds: int = 300
    per_member_per_minute: int = 30

    @property
    def enabled(self) -> bool:
        return bool(
            self.corp_id
            and self.agent_id
            and self.secret.get_secret_value()
            and self.token.get_secret_value()
            and self.encoding_aes_key.get_secret_value()
        )


class DingtalkSettings(_Section):
    client_id: str = ""
    client_secret: SecretStr = SecretStr("")
    robot_code: str = ""
    mode: Literal["stream", "http"] = "stream"
    api_base_url: str = "https://api.dingtalk.com/"
    oapi_base_url: str = "https://oapi.dingtalk.com/"
    card_template_id: str = ""
    max_timestamp_skew_seconds: int = 300
    # A send that timed out may have arrived (DingTalk has no idempotency key): retry it at most this often.
    timeout_retries: int = Field(default=1, ge=0, le=5)
    # Stream: ping the socket when nothing arrived for this long; no pong within the same time: reconnect.
    stream_watchdog_seconds: float = Field(default=30.0, gt=0)

    @property
    def enabled(self) -> bool:
        return bool(self.client_id and self.client_secret.get_secret_value())

    @property
    def robot(self) -> str:
        """The robot code messages are sent with: the AppKey unless robot_code is set."""
        return self.robot_code or self.client_id


class FeishuSettings(_Section):
    """Feishu (飞书) / Lark: a self-built app's credentials, how events arrive, where the API is."""

    app_id: str = ""
    app_secret: SecretStr = SecretStr("")
    verification_token: SecretStr = SecretStr("")
    encrypt_key: SecretStr = SecretStr("")
    mode: Literal["ws", "http"] = "ws"
    api_base_url: str = "https://open.feishu.cn/open-apis/"
    max_timestamp_skew_seconds: int = 300
    # Feishu allows 5 messages a second to one user and to one group (shared by every bot in it).
    per_target_per_second: int = Field(default=5, ge=1, le=50)

    @property
    def enabled(self) -> bool:
        return bool(self.app_id and self.app_secret.get_secret_value())


class ReportSettings(_Section):
    max_age_days: int = Field(default=7, ge=0, le=366)


class CollabSettings(_Section):
    grant_days: int = Field(default=14, ge=1, le=366)


class ScoreWeights(_Section):
    reports: int = 40
    visits: int = 30
    followups: int = 20
    plans: int = 10


class RuleSettings(_Section):
    tier_a_days: int = Field(default=7, ge=1)
    tier_b_days: int = Field(default=14, ge=1)
    tier_c_days: int = Field(default=30, ge=1)
    new_lead_hours: int = Field(default=72, ge=1)
    post_sign_revisit_days: int = Field(default=7, ge=1)
    stalled_days: int = Field(default=14, ge=1)
    escalate_after_days: int = Field(default=3, ge=0)
    score_weights: ScoreWeights = ScoreWeights()

    def tier_days(self, tier: str) -> int:
        return {"A": self.tier_a_days, "B": self.tier_b_days}.get(tier.upper(), self.tier_c_days)


class StageWeights(_Section):
    """The chance that an open opportunity at each stage is signed (0 to 1)."""

    lead: float = Field(default=0.0, ge=0, le=1)
    needs: float = Field(default=0.1, ge=0, le=1)
    proposal: float = Field(default=0.3, ge=0, le=1)
    negotiation: float = Field(default=0.6, ge=0, le=1)


class ForecastSettings(_Section):
    stage_weights: StageWeights = StageWeights()
    # How far back the value of a won deal is measured.
    lookback_days: int = Field(default=90, ge=7, le=730)
    # Won deals a person needs in that window for their own average (else their team's, else everyone's).
    min_deals: int = Field(default=3, ge=1, le=1000)
    # Over how many workdays the weighted open pipeline is assumed to turn into signings.
    pipeline_workdays: int = Field(default=21, ge=1, le=260)


class ServerSettings(_Section):
    public_url: str = ""
    host: str = "0.0.0.0"
    port: int = 8000
    workers: int = 1


class ConsoleSettings(_Section):
    link_minutes: int = Field(default=10, ge=1, le=24 * 60)
    session_hours: int = Field(default=12, ge=1, le=24 * 30)
    idle_minutes: int = Field(default=120, ge=5, le=24 * 60 * 30)


class OutboxSettings(_Section):
    max_attempts: int = Field(default=8, ge=1)
    base_backoff_seconds: float = Field(default=2.0, gt=0)
    lease_seconds: int = Field(default=60, ge=5)
    http_timeout_seconds: float = Field(default=10.0, gt=0)
    concurrency: int = Field(default=8, ge=1, le=256)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="SALESBOT_",
        env_nested_delimiter="__",
        extra="forbid",
    )

    database: DatabaseSettings = DatabaseSettings()
    org: OrgSettings = OrgSettings()
    schedule: ScheduleSettings = ScheduleSettings()
    slack: SlackSettings = SlackSettings()
    wecom: WecomSettings = WecomSettings()
    dingtalk: DingtalkSettings = DingtalkSettings()
    feishu: FeishuSettings = FeishuSettings()
    reports: ReportSettings = ReportSettings()
    collab: CollabSettings = CollabSettings()
    rules: RuleSettings = RuleSettings()
    forecast: ForecastSettings = ForecastSettings()
    server: ServerSettings = ServerSettings()
    outbox: OutboxSettings = OutboxSettings()
    console: ConsoleSettings = ConsoleSettings()

    # Where the settings came from (not a setting itself).
    config_path: str | None = Field(default=None, exclude=True)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        path = _CONFIG_PATH.get("path")
        if path:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=path))
        return tuple(sources)

    @property
    def platforms(self) -> list[str]:
        """Return the enabled chat platforms; console when none is configured."""
        sections: tuple[tuple[str, Any], ...] = (("slack", self.slack), ("wecom", self.wecom),
                                                 ("dingtalk", self.dingtalk), ("feishu", self.feishu))
        enabled = [name for name, s in sections if s.enabled]
        return enabled or ["console"]


_CONFIG_PATH: dict[str, str | None] = {"path": None}


class ConfigError(Exception):
    """The configuration cannot be used; the message names the key and the problem."""


def find_config(explicit: str | None) -> str | None:
    """Return the config file to read: --config, then $SALESBOT_CONFIG, then ./config.toml."""
    if explicit:
        return explicit
    env = os.environ.get("SALESBOT_CONFIG")
    if env:
        return env
    if Path("config.toml").is_file():
        return "config.toml"
    return None


def load_settings(path: str | None = None, **overrides: Any) -> Settings:
    """Load settings from the found file and the environment, or raise ConfigError."""
    found = find_config(path)
    if found and not Path(found).is_file():
        raise ConfigError(f"config file {found}: not found")
    _CONFIG_PATH["path"] = found
    try:
        settings = Settings(**overrides)
    except ValidationError as exc:
        raise ConfigError(_describe(exc, found)) from None
    except ValueError as exc:  # a TOML syntax error surfaces as a ValueError subclass
        raise ConfigError(f"config file {found}: {exc}") from None
    finally:
        _CONFIG_PATH["path"] = None
    settings.config_path = found
    return settings


def _describe(exc: ValidationError, found: str | None) -> str:
    where = f"config file {found}" if found else "configuration"
    lines = []
    for err in exc.errors():
        key = ".".join(str(part) for part in err["loc"])
        msg = err["msg"].removeprefix("Value error, ")
        lines.append(f"{where}: {key}: {msg}")
    return "\n".join(lines)
