"""The settings base every service extends. Read from the environment (RUCNET_*), never at import."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.budget import DEFAULT_MAX_MESSAGE_BYTES

MIN_SECRET_CHARS = 32


def checked_secret(secret: str, source: str) -> str:
    """The pseudonym key, refused when empty or short wherever it came from: an empty or guessable
    HMAC key would make every pseudonym a hash anyone can recompute from the public names."""
    if len(secret.strip()) < MIN_SECRET_CHARS:
        raise ValueError(
            f"{source}: pseudonymnyckeln är tom eller för kort / the pseudonym secret is empty or "
            f"shorter than {MIN_SECRET_CHARS} characters: set a long random one, e.g. "
            "`python -c 'import secrets; print(secrets.token_urlsafe(32))'` (or, outside Docker, "
            "leave it unset for a generated one in the data dir)"
        )
    return secret


class RucnetSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="RUCNET_", extra="ignore")

    data_dir: Path = Path(".rucnet")
    database_url: str | None = Field(
        default=None, description="SQLAlchemy async URL; default: SQLite in the data dir"
    )
    kafka_port: int = Field(default=9092, ge=1, le=65535, description="`rucnet dev`'s broker port")
    kafka_bootstrap: str = Field(
        default="",
        description="host:port[,host:port…]; unset: 127.0.0.1:RUCNET_KAFKA_PORT (where `rucnet dev` runs it)",
    )
    kafka_idempotence: bool = Field(
        default=True, description="idempotent producer; off for brokers without InitProducerId"
    )
    # Kafka answers a waiting fetch as soon as data arrives, so this bounds only a tail: aiokafka
    # sends no fetch while fetched records wait to be consumed, and after 100 ms it fetches the
    # broker's other partitions alone, so a busy partition can then wait up to this long (at 500 ms,
    # p99 submit→counted 750–920 ms on a loaded machine; at 100 ms, 270 ms). Idle, a consumer
    # fetches ten times a second.
    kafka_fetch_max_wait_ms: int = Field(
        default=100, ge=1, le=10_000, description="longest a consumer fetch waits for new messages"
    )
    kafka_batch_max_records: int = Field(
        default=200, ge=1, le=10_000, description="most messages a consumer handles in one transaction"
    )
    kafka_batch_wait_ms: int = Field(
        default=100,
        ge=1,
        le=10_000,
        description="how long a consumer's poll waits for records before it polls again; it returns as "
        "soon as one is fetched, so this sets only how often an idle consumer wakes up",
    )
    kafka_partitions: int = Field(default=3, ge=1, le=64)
    kafka_replication_factor: int = Field(
        default=1, ge=1, le=5, description="replicas of the topics rucnet creates (compose: its own script)"
    )
    kafka_max_message_bytes: int = Field(
        default=DEFAULT_MAX_MESSAGE_BYTES,
        ge=65_536,
        description="the broker's message.max.bytes: every event must fit (shared/budget.py); "
        "producers use it as max_request_size",
    )
    max_body_bytes: int = Field(default=1_000_000, ge=1_000, description="largest HTTP request body")
    pseudonym_secret: SecretStr | None = None
    host: str = "127.0.0.1"
    trusted_proxies: str = Field(
        default="",
        description="comma-separated addresses (or CIDR ranges) of reverse proxies whose X-Forwarded-For "
        "is believed; empty (the default): none, the client is the TCP peer",
    )
    log_level: str = "INFO"

    @field_validator("pseudonym_secret")
    @classmethod
    def _secret_not_blank(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            checked_secret(value.get_secret_value(), "RUCNET_PSEUDONYM_SECRET")
        return value

    @model_validator(mode="after")
    def _bootstrap_from_port(self) -> RucnetSettings:
        # Every command (the services, `rucnet dlq`, `rucnet aggregates rebuild`) finds the broker
        # the same way: RUCNET_KAFKA_BOOTSTRAP, else the port `rucnet dev` was given.
        if not self.kafka_bootstrap.strip():
            self.kafka_bootstrap = f"127.0.0.1:{self.kafka_port}"
        return self

    @property
    def db_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'rucnet.db').resolve()}"

    def pseudonym_key(self) -> str:
        """The deployment secret behind huvudman pseudonyms.

        Production sets RUCNET_PSEUDONYM_SECRET; an embedded install keeps a generated one in its
        data dir so pseudonyms stay stable across restarts.
        """
        if self.pseudonym_secret is not None:
            return self.pseudonym_secret.get_secret_value()
        path = self.data_dir / "pseudonym.secret"
        if not path.exists():
            self.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
            descriptor = os.open(path, os.O_CREAT | os.O_WRONLY | os.O_EXCL, 0o600)
            with os.fdopen(descriptor, "w", encoding="utf-8") as out:
                out.write(secrets.token_urlsafe(32))
        return checked_secret(path.read_text(encoding="utf-8").strip(), str(path))
