"""Typed settings read once from ROADIE_* environment variables and an optional .env file."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Everything Roadie can be configured with; built once in main.py and passed down."""

    model_config = SettingsConfigDict(env_prefix="ROADIE_", env_file=".env", extra="ignore")

    data_dir: Path = Path("data")
    database_url: str = ""
    database_pool_size: int = Field(10, description="PostgreSQL connections each process keeps open")
    database_max_overflow: int = Field(20, description="Extra PostgreSQL connections a process may open under load")
    database_pool_timeout_s: float = Field(30.0, description="Seconds to wait for a pooled connection")
    database_pool_recycle_s: int = Field(1800, description="Reconnect pooled connections older than this")
    migrate_on_start: bool = Field(
        True, description="serve/scheduler migrate the schema at start; false when `main.py migrate` runs first"
    )
    memory_url: str = Field("", description="Conversation memory store; defaults beside the database")

    llm_base_url: str = ""
    llm_model: str = "gpt-4o-mini"
    openai_api_key: SecretStr = Field(SecretStr(""), validation_alias="OPENAI_API_KEY")

    max_message_chars: int = 2000
    rate_limit_per_person: int = Field(20, description="Messages one person may send per window on a channel; 0: off")
    rate_limit_per_channel: int = Field(3000, description="Messages a whole channel may bring per window; 0: off")
    rate_limit_window_s: float = Field(60.0, description="The rate limits' sliding window, in seconds")
    llm_timeout_s: float = Field(60.0, description="Seconds one LLM request may take before it is retried")
    llm_max_retries: int = Field(2, description="Retries of a failed or timed-out LLM request")
    platform_timeout_s: float = Field(
        20.0, description="Seconds one call to Telegram, Slack, Twilio or a chromadb server may take"
    )
    outbox_interval_s: float = Field(5.0, description="Seconds between outbox deliveries while serving; 0: off")
    scheduler_in_process: bool = Field(
        True, description="serve also runs the proactive scheduler (only the process holding the lease fires jobs)"
    )
    public_base_url: str = ""
    knowledge_store: str = Field("chroma", description="chroma (embedded under the data dir, or a server) or memory")
    chroma_host: str = Field("", description="A chromadb server; empty keeps the store embedded under the data dir")
    chroma_port: int = 8000
    chroma_url: str = Field("", description="A chromadb server as a URL (http://host:port); wins over chroma_host/port")
    redis_url: str = Field(
        "", description="Redis shared by every worker (rate limits, dedupe keys, conversation locks); empty: in memory"
    )
    redis_prefix: str = Field("roadie:", description="Prefix of every Redis key Roadie writes (one per deployment)")
    worker_id: str = Field("", description="This process's name in logs, /healthz and metrics; default host:pid")
    log_format: str = Field("text", description="text, or json: one object per line, no personal data")
    shutdown_grace_s: float = Field(30.0, description="Seconds a stopping worker gives turns in flight to finish")

    telegram_bot_token: SecretStr = SecretStr("")
    telegram_bot_username: str = Field("", description="The bot's @username, for t.me deep links to join a group")
    telegram_webhook_secret: SecretStr = SecretStr("")
    telegram_api_base: str = ""
    slack_bot_token: SecretStr = SecretStr("")
    slack_signing_secret: SecretStr = SecretStr("")
    slack_api_base: str = ""
    slack_staff_channel: str = ""
    slack_team_id: str = Field(
        "", description="The Slack workspace (T…) whose requests are accepted; also needed for staff"
    )
    slack_staff_users: str = Field("", description="Comma-separated Slack user ids (U…) who are staff")
    twilio_account_sid: str = ""
    twilio_auth_token: SecretStr = SecretStr("")
    twilio_whatsapp_from: str = ""
    twilio_api_base: str = ""
    twilio_content_sid: str = Field(
        "", description="Approved WhatsApp template (HX…) for messages outside the 24-hour session window"
    )

    @property
    def resolved_database_url(self) -> str:
        """The SQLAlchemy URL: the configured one, or a SQLite file under the data dir."""
        return self.database_url or f"sqlite:///{(self.data_dir / 'roadie.sqlite').resolve()}"

    @property
    def uses_llm(self) -> bool:
        """True when an OpenAI-compatible endpoint is configured; otherwise the offline planner runs."""
        return bool(self.llm_base_url or self.openai_api_key.get_secret_value())
