"""Logging: readable lines on a terminal, one `key=value` line per event otherwise (for log collectors)."""

import logging
import sys
from typing import Any

_STANDARD = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}


class KeyValueFormatter(logging.Formatter):
    """`time level logger message key=value …`, with the extras a call passed, so logs stay greppable."""

    def format(self, record: logging.LogRecord) -> str:
        extras = {k: v for k, v in record.__dict__.items() if k not in _STANDARD}
        fields = " ".join(f"{k}={_quote(v)}" for k, v in sorted(extras.items()))
        line = f"{self.formatTime(record, '%Y-%m-%dT%H:%M:%S')} {record.levelname} {record.name} {record.getMessage()}"
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return f"{line} {fields}".rstrip()


def _quote(value: Any) -> str:
    text = str(value)
    return f'"{text}"' if " " in text or not text else text


def configure_logging(level: str = "INFO") -> None:
    """Set up the root logger once; rich on an interactive terminal, key=value lines elsewhere."""
    root = logging.getLogger()
    if getattr(root, "_sera_configured", False):
        return
    handler: logging.Handler
    if sys.stderr.isatty():
        from rich.logging import RichHandler

        handler = RichHandler(show_path=False, rich_tracebacks=True)
    else:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(KeyValueFormatter())
    root.addHandler(handler)
    root.setLevel(level.upper())
    # httpx logs every request at INFO; runs and pages are what a person follows.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    root._sera_configured = True  # type: ignore[attr-defined]


def get_logger(name: str) -> logging.Logger:
    return logging.getLogger(name)
