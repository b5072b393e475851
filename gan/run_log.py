"""The run's log, `<run>/train.log` (Hydra's job logging): everything Lightning and the project
log, the warnings, and how the run ended.

Lightning, imported before Hydra sets up logging, gives its loggers a console handler of their
own and stops them propagating, so nothing it logged reached train.log, and warnings went to
stderr alone: every train.log was empty but for a line or two. `route_to_the_run` undoes that
once Hydra's handlers exist; `record_outcome` writes the run's end to the log file alone (the
console already shows it, printed by gan.train.run).
"""

from __future__ import annotations

import logging

LIGHTNING_LOGGERS = ("lightning", "lightning.pytorch", "lightning.fabric")


def route_to_the_run() -> None:
    """Lightning's records and Python's warnings reach the root logger's handlers (Hydra's:
    the console and train.log)."""
    for name in LIGHTNING_LOGGERS:
        logger = logging.getLogger(name)
        for handler in [h for h in logger.handlers if type(h) is logging.StreamHandler]:
            logger.removeHandler(handler)  # the root's console handler shows them now
        logger.propagate = True
    logging.captureWarnings(True)


def record_outcome(level: int, message: str) -> None:
    """`message` in the run's log files only (the root logger's file handlers)."""
    record = logging.getLogger("gan.run").makeRecord(
        "gan.run", level, __file__, 0, message, None, None
    )
    for handler in logging.getLogger().handlers:
        if isinstance(handler, logging.FileHandler) and record.levelno >= handler.level:
            handler.handle(record)
