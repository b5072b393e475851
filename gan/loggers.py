"""Experiment loggers. wandb runs offline when no API key is configured, online otherwise."""

from __future__ import annotations

import logging
import netrc
import os
from pathlib import Path
from urllib.parse import urlparse

from lightning.pytorch.loggers import WandbLogger

log = logging.getLogger(__name__)
_said_offline = False


def wandb_api_key_configured() -> bool:
    """True when wandb would find credentials: $WANDB_API_KEY, a netrc entry for the wandb host
    (what `wandb login` writes), or an identity token file."""
    if os.environ.get("WANDB_API_KEY") or os.environ.get("WANDB_IDENTITY_TOKEN_FILE"):
        return True
    host = urlparse(os.environ.get("WANDB_BASE_URL", "https://api.wandb.ai")).hostname
    path = Path(os.environ.get("NETRC", Path.home() / ".netrc"))
    try:
        entry = netrc.netrc(path).authenticators(host) if path.is_file() else None
    except (netrc.NetrcParseError, OSError):
        return False
    return bool(entry and entry[2])


def wandb_mode() -> str:
    """`$WANDB_MODE` when set; else "online" with an API key and "offline" without one."""
    global _said_offline
    if mode := os.environ.get("WANDB_MODE"):
        return mode
    if wandb_api_key_configured():
        return "online"
    if not _said_offline:
        log.info("wandb: no API key configured, logging offline (upload later with `wandb sync`)")
        _said_offline = True
    return "offline"


def wandb_logger(save_dir: str, project: str = "gan", **kwargs) -> WandbLogger:
    """A `WandbLogger` whose files live in `save_dir` (the run directory), online or offline as
    `wandb_mode` decides. Other keyword arguments (name, group, tags, entity...) go to wandb."""
    Path(save_dir).mkdir(parents=True, exist_ok=True)
    mode = wandb_mode()
    return WandbLogger(save_dir=save_dir, project=project, offline=mode == "offline", **kwargs)
