"""Training entry point: `python -m gan.train model=dcgan loss=bce ...`.

`train(cfg)` is a plain function of a composed config (tests call it in-process); `main` is the
thin Hydra wrapper around it.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import hydra
import lightning as L
from hydra.errors import InstantiationException
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from gan.callbacks import ConfigInCheckpoint
from gan.config import ConfigError, check_checkpoint, register_resolvers, validate_config
from gan.data import MNISTNotFoundError

register_resolvers()


def _instantiate_all(group: DictConfig | None) -> list:
    """Instantiate every non-null entry of a dict-of-configs group (callbacks, logger)."""
    return [instantiate(node) for node in (group or {}).values() if node is not None]


def _finish_wandb(loggers: list) -> None:
    """Close the wandb run, so the next job of a multirun starts a new one."""
    if any(type(logger).__name__ == "WandbLogger" for logger in loggers):
        import wandb

        wandb.finish()


def train(cfg: DictConfig) -> dict[str, float]:
    """Train the configured GAN; return its final logged metrics and step counters.

    Writes `metrics.json`, `checkpoints/last.ckpt` and `samples/*.png` in `cfg.paths.output_dir`.
    """
    validate_config(cfg)
    if cfg.get("ckpt_path"):
        check_checkpoint(cfg.ckpt_path)
    L.seed_everything(cfg.seed, workers=True)

    datamodule = instantiate(cfg.data)
    model = instantiate(cfg.model)
    run_config = OmegaConf.to_container(
        OmegaConf.masked_copy(cfg, [key for key in cfg if key != "hydra"]), resolve=True
    )
    callbacks = [*_instantiate_all(cfg.get("callbacks")), ConfigInCheckpoint(run_config)]
    loggers = _instantiate_all(cfg.get("logger"))
    trainer: L.Trainer = instantiate(cfg.trainer, callbacks=callbacks, logger=loggers or False)
    for logger in loggers:
        logger.log_hyperparams(run_config)

    try:
        trainer.fit(model, datamodule=datamodule, ckpt_path=cfg.get("ckpt_path"))
    finally:
        _finish_wandb(loggers)

    metrics = {name: float(value) for name, value in trainer.callback_metrics.items()}
    metrics |= {**model.counters(), "epochs": trainer.current_epoch}
    output_dir = Path(cfg.paths.output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    (output_dir / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    return metrics


@hydra.main(version_base="1.3", config_path="../conf", config_name="train")
def main(cfg: DictConfig) -> float | None:
    try:
        metrics = train(cfg)
    except (ConfigError, InstantiationException, MNISTNotFoundError) as error:
        print(f"error: {error}", file=sys.stderr)
        raise SystemExit(2) from None
    except FloatingPointError as error:
        print(f"error: {error}", file=sys.stderr)
        raise SystemExit(1) from None
    return metrics.get(cfg.get("optimized_metric") or "", None)


if __name__ == "__main__":
    main()
