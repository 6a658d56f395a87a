"""Structured logs: one JSON object per line in containers, plain text for `rucnet dev`.

The event and report being handled ride in context variables, so every line a handler (or the code
it calls) writes carries them without passing them around. The broker middleware binds them from
each consumed message; intake binds them once it has stored a report.
"""

from __future__ import annotations

import contextvars
import datetime as dt
import json
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Literal

from faststream import BaseMiddleware
from faststream.message import StreamMessage
from pydantic_settings import BaseSettings, SettingsConfigDict

CONTEXT_FIELDS = ("event_id", "report_id")
_context: dict[str, contextvars.ContextVar[str | None]] = {
    name: contextvars.ContextVar(f"rucnet_log_{name}", default=None) for name in CONTEXT_FIELDS
}
# Attributes every LogRecord has: anything else came in through `extra=` and is kept.
_RECORD_ATTRS = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}


class LogSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="RUCNET_", extra="ignore")

    log_format: Literal["json", "text"] = "text"


def bind_log_context(**values: object) -> None:
    """Attach ids to every later log line of the current task (a request or a message)."""
    for name, value in values.items():
        if name in _context and value is not None:
            _context[name].set(str(value))


@contextmanager
def log_context(**values: object) -> Iterator[None]:
    """Like ``bind_log_context`` but undone on exit, for a consumer loop that handles many messages."""
    tokens = [
        (_context[name], _context[name].set(str(value)))
        for name, value in values.items()
        if name in _context and value is not None
    ]
    try:
        yield
    finally:
        for var, token in reversed(tokens):
            var.reset(token)


def current_log_context() -> dict[str, str]:
    return {name: value for name, var in _context.items() if (value := var.get()) is not None}


class JsonFormatter(logging.Formatter):
    """ts, level, logger, msg, the bound ids, any `extra=` fields and the exception, if any."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        entry |= current_log_context()
        entry |= {k: v for k, v in vars(record).items() if k not in _RECORD_ATTRS and not k.startswith("_")}
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    """The plain format, with the bound ids appended when there are any."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        ids = " ".join(f"{k}={v}" for k, v in current_log_context().items())
        return f"{line} [{ids}]" if ids else line


def configure_logging(level: str = "INFO", fmt: str | None = None) -> None:
    """Root logging for a service process; `fmt` defaults to RUCNET_LOG_FORMAT (json or text)."""
    chosen = fmt or LogSettings().log_format
    handler = logging.StreamHandler(sys.stdout if chosen == "json" else sys.stderr)
    handler.setFormatter(JsonFormatter() if chosen == "json" else TextFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    logging.captureWarnings(True)  # warnings become log lines too: nothing but JSON on the stream
    # httpx logs every request at INFO: a receipt asking the aggregator every 2 s filled the log
    for chatty in ("httpx", "httpcore"):
        logging.getLogger(chatty).setLevel(max(logging.WARNING, root.level))


def ids_in(body: bytes) -> dict[str, str]:
    """The event and report ids of a JSON event body, or nothing for anything else."""
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return {}
    if not isinstance(data, dict):
        return {}
    return {name: str(data[name]) for name in CONTEXT_FIELDS if isinstance(data.get(name), str)}


class LogContextMiddleware(BaseMiddleware):
    """Binds the consumed event's ids around its handler, so each log line names its message."""

    async def consume_scope(self, call_next: Any, msg: StreamMessage[Any]) -> Any:
        body = msg.body if isinstance(msg.body, bytes) else b""
        with log_context(**ids_in(body)):
            return await call_next(msg)
