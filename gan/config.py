"""Checks on a composed config and a checkpoint path, made before any training starts."""

from __future__ import annotations

import logging
import os
import tempfile
from datetime import datetime
from pathlib import Path

import torch
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig, ListConfig, OmegaConf

PROJECT_ROOT = Path(__file__).resolve().parents[1]
log = logging.getLogger(__name__)


def sweep_group() -> str | None:
    """In a multirun, the sweep's name (`<date>_<time>` of its directory); otherwise None.
    Every job of one sweep logs to the same wandb group."""
    try:
        hydra_cfg = HydraConfig.get()
    except ValueError:
        return None
    if hydra_cfg.mode != RunMode.MULTIRUN:
        return None
    sweep_dir = Path(hydra_cfg.sweep.dir)
    return f"{sweep_dir.parent.name}_{sweep_dir.name}"


WANDB_TAG_LENGTH = 64  # wandb refuses longer tags


def override_tags() -> ListConfig:
    """The run's command-line overrides (`loss=hinge`, `seed=2`, ...) as wandb tags, so runs can be
    filtered and grouped by them; empty outside Hydra. A ListConfig, not a list: resolving a
    config in place (`--cfg job --resolve`) cannot put a plain list into a value node."""
    try:
        overrides = HydraConfig.get().overrides.task
    except ValueError:
        return ListConfig([])
    return ListConfig([str(override)[:WANDB_TAG_LENGTH] for override in overrides])


def native_cpu_bf16() -> bool:
    """Whether oneDNN computes bfloat16 natively on this CPU (AVX512-BF16 or AMX)."""
    return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())


def cpu_amx() -> bool:
    """Whether this CPU's AMX tiles are usable here (Intel Sapphire Rapids and later, where the
    OS and hypervisor enable them): oneDNN's bfloat16 matrix units."""
    amx_tile = getattr(torch.cpu, "_is_amx_tile_supported", None)  # private; absent in old torch
    return bool(amx_tile and amx_tile())


def cpu_precision() -> str:
    """Lightning's precision for fast=cpu: bf16-mixed where the CPU has AMX, else 32-true.
    Measured (docs/speed.md): with AMX a bf16 DCGAN step runs about 2x fp32; with AVX512-BF16
    alone (AMX hidden by a hypervisor) 0.6-0.8x; emulated bf16 is slower still."""
    if cpu_amx():
        return "bf16-mixed"
    reason = "native bfloat16 but no AMX" if native_cpu_bf16() else "no native bfloat16"
    log.warning(f"fast=cpu: this CPU has {reason}; training in fp32 (32-true), the faster here")
    return "32-true"


def gpu_precision() -> str:
    """Lightning's precision for fast=gpu: bf16-mixed on GPUs with bfloat16 (Ampere and
    later), else 16-mixed."""
    bf16 = torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    return "bf16-mixed" if bf16 else "16-mixed"


def data_dir(root_dir: str) -> str:
    """Where datasets and caches live: `$GAN_DATA_DIR` when set and not empty, else
    <root_dir>/data (an empty variable used to put the cache at /stats)."""
    from gan.data import default_data_dir  # torchvision: imported only when resolved

    return str(default_data_dir(root_dir))


def slurm_batch_job() -> str | None:
    """The SLURM job this process runs in as a batch job (not an interactive shell), else None:
    Lightning's test for auto-requeue (SLURM_NTASKS set, the job not named bash or
    interactive)."""
    interactive = os.environ.get("SLURM_JOB_NAME") in ("bash", "interactive")
    if "SLURM_NTASKS" in os.environ and not interactive:
        return os.environ.get("SLURM_JOB_ID")
    return None


def run_name() -> str:
    """A run's folder under outputs/: `<date>/<time>`, or `slurm/<job id>` in a SLURM batch job,
    so that a job requeued after preemption (same job id) finds its own folder and checkpoint,
    and every task of a multi-node job names the same folder."""
    job = slurm_batch_job()
    return f"slurm/{job}" if job else datetime.now().strftime("%Y-%m-%d/%H-%M-%S")


def stylegan2_auto(key: str, resolution: int, gpus: int = 1) -> float | int:
    """StyleGAN2-ADA's `--cfg=auto` rules (its train.py) for a data set of `resolution` pixels
    on `gpus` GPUs: `batch` (total), `mbstd` (the minibatch std's group), `channel_base`
    (fmaps x 32768), `lr`, `gamma` (R1's weight, 0.0002 r^2 / batch) and `ema_kimg`."""
    batch = max(min(gpus * min(4096 // resolution, 32), 64), gpus)
    rules = {
        "batch": batch,
        "mbstd": min(batch // gpus, 4),
        "channel_base": int((1 if resolution >= 512 else 0.5) * 32768),
        "lr": 0.002 if resolution >= 1024 else 0.0025,
        "gamma": 0.0002 * resolution**2 / batch,
        "ema_kimg": batch * 10 / 32,
    }
    if key not in rules:
        raise ValueError(f"stylegan2_auto: {key!r} is not one of {sorted(rules)}")
    return rules[key]


def register_resolvers() -> None:
    """`${project_root:}`, `${data_dir:<root>}`, `${sweep_group:}`, `${override_tags:}`,
    `${cpu_precision:}`, `${gpu_precision:}`, `${run_name:}`, `${stylegan2_auto:key,res}` and
    `${plus:a,b,...}` (the sum of integers: the tasks' channel counts), used by conf/paths,
    conf/logger, conf/fast, conf/hydra, the StyleGAN2 experiments and conf/task."""
    OmegaConf.register_new_resolver("project_root", lambda: str(PROJECT_ROOT), replace=True)
    OmegaConf.register_new_resolver("run_name", run_name, replace=True)
    OmegaConf.register_new_resolver("stylegan2_auto", stylegan2_auto, replace=True)
    OmegaConf.register_new_resolver("plus", lambda *terms: sum(map(int, terms)), replace=True)
    OmegaConf.register_new_resolver("data_dir", data_dir, replace=True)
    OmegaConf.register_new_resolver("sweep_group", sweep_group, replace=True)
    OmegaConf.register_new_resolver("override_tags", override_tags, replace=True)
    OmegaConf.register_new_resolver("cpu_precision", cpu_precision, replace=True)
    OmegaConf.register_new_resolver("gpu_precision", gpu_precision, replace=True)


# Launchers that run each job in one process that Lightning's DDP would have to relaunch. It
# relaunches the process's own command line, which in a multirun is the whole sweep.
SINGLE_PROCESS_LAUNCHERS = ("BasicLauncher", "JoblibLauncher", "LocalLauncher")


def check_launcher(cfg: DictConfig) -> None:
    """Refuse a multi-process trainer in a multirun whose launcher cannot start its processes."""
    try:
        hydra_cfg = HydraConfig.get()
    except ValueError:
        return
    launcher = str(OmegaConf.select(hydra_cfg, "launcher._target_") or "").rsplit(".", 1)[-1]
    processes = cfg.trainer.get("devices", 1) != 1 or cfg.trainer.get("num_nodes", 1) != 1
    if hydra_cfg.mode == RunMode.MULTIRUN and processes and launcher in SINGLE_PROCESS_LAUNCHERS:
        raise ConfigError(
            f"trainer.devices={cfg.trainer.get('devices')} in a multirun with {launcher}: "
            "Lightning would start every extra process by rerunning the whole sweep. Use "
            "hydra/launcher=slurm (one task per device), or run the jobs one by one without -m."
        )


class ConfigError(ValueError):
    """A config value (or a file it names) that training cannot use."""


def _require(condition: bool, key: str, value: object, accepted: str) -> None:
    if not condition:
        raise ConfigError(f"{key}={value!r} is invalid: {accepted}")


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


# What a mandatory value (`???` in conf/) is for, where the key alone does not say.
MISSING_HINTS = {"data.path": "data=folder needs the folder of images: data.path=/my/images"}
MAX_SEED = 2**32 - 1  # what NumPy's and Lightning's seeding accept


def _validate_missing(cfg: DictConfig) -> None:
    """A mandatory value left unset (`???`), named with what to give, instead of omegaconf's
    MissingMandatoryValue from deep inside instantiate."""
    run_config = OmegaConf.masked_copy(cfg, [key for key in cfg if key != "hydra"])
    for key in sorted(OmegaConf.missing_keys(run_config)):
        hint = MISSING_HINTS.get(key, f"give it on the command line, {key}=...")
        raise ConfigError(f"{key} is missing: {hint}")


def validate_config(cfg: DictConfig) -> None:
    """Raise `ConfigError` naming the first key whose value training cannot use."""
    _validate_budget(cfg.trainer)
    _validate_task(cfg)
    _validate_missing(cfg)
    seed = cfg.get("seed")
    _require(
        _is_int(seed) and 0 <= seed <= MAX_SEED, "seed", seed, f"an integer in [0, {MAX_SEED}]"
    )
    batch_size = cfg.data.batch_size
    _require(
        _is_int(batch_size) and batch_size >= 1, "data.batch_size", batch_size, "an integer >= 1"
    )
    limit = cfg.data.get("limit_images")
    _require(
        limit is None or (_is_int(limit) and limit >= 1), "data.limit_images", limit,
        "an integer >= 1 (the number of training images), or null for all",
    )  # fmt: skip
    fraction = cfg.data.get("fraction")
    _require(
        fraction is None or (isinstance(fraction, int | float) and not isinstance(fraction, bool)
                             and 0 < fraction <= 1),
        "data.fraction", fraction, "a number in (0, 1] (0.1 trains on 10%), or null for all",
    )  # fmt: skip
    if limit is not None and fraction is not None:
        raise ConfigError(
            f"data.limit_images={limit} and data.fraction={fraction}: give one (null the other)"
        )
    model = cfg.model
    for name in (key for key in model if str(key).startswith("optimizer")):
        lr = model[name].get("lr")
        _require(isinstance(lr, int | float) and lr > 0, f"model.{name}.lr", lr, "a number > 0")
    latent = model.get("latent_dim")
    if latent is not None:
        _require(_is_int(latent) and latent >= 1, "model.latent_dim", latent, "an integer >= 1")
        for net in ("generator", "encoder", "decoder"):
            net_latent = model.get(net, {}).get("latent_dim", latent)
            _require(
                net_latent == latent,
                f"model.{net}.latent_dim",
                net_latent,
                f"must match model.latent_dim={latent} (the size of the noise z)",
            )
    if "loss" in model:  # the adversarial models; the VAE has no loss group
        _validate_loss(cfg)
    _validate_points(cfg)
    _validate_batch_view(cfg)
    _validate_augment(cfg)
    decay = OmegaConf.select(cfg, "ema.decay")
    if decay is not None:
        _require(0 <= decay < 1, "ema.decay", decay, "a number in [0, 1), or ema=null for none")


# The discriminators that take `pack` (PacGAN) and `minibatch_std` (ProGAN): gan/nets/batch_view.py.
PACKING = (
    "gan.nets.DCGANDiscriminator",
    "gan.nets.MLPDiscriminator",
    "gan.nets.ResNetDiscriminator",
    "gan.nets.TFDCGANDiscriminator",
)
MINIBATCH_STD = (
    "gan.nets.DCGANDiscriminator",
    "gan.nets.ResNetDiscriminator",
    "gan.nets.TFDCGANDiscriminator",
)


def _validate_batch_view(cfg: DictConfig) -> None:
    """Packing and the minibatch standard deviation: a discriminator that has them, and a batch
    that cuts into packs (and the packs into groups)."""
    d = cfg.model.get("discriminator")
    if d is None:
        return
    target, batch_size = d.get("_target_"), cfg.data.batch_size
    mbstd = d.get("mbstd_group_size")  # StyleGAN2's
    if mbstd is not None:
        key = "model.discriminator.mbstd_group_size"
        _require(_is_int(mbstd) and mbstd >= 2, key, mbstd, "a group size >= 2")
        _require(
            batch_size % min(mbstd, batch_size) == 0, key, mbstd,
            f"data.batch_size={batch_size} must cut into groups of it",
        )  # fmt: skip
    pack, group = d.get("pack", 1), d.get("minibatch_std", 0)
    if pack != 1:
        key = "model.discriminator.pack"
        _require(target in PACKING, key, pack, f"packing is for {', '.join(PACKING)}, not {target}")
        _require(_is_int(pack) and pack >= 1, key, pack, "an integer >= 1 (1: no packing)")
        _require(
            batch_size % pack == 0, key, pack,
            f"data.batch_size={batch_size} must be a multiple of it (real and fake packs are cut "
            "from their own batches)",
        )  # fmt: skip
    if group:
        key = "model.discriminator.minibatch_std"
        accepted = f"the minibatch standard deviation is for {', '.join(MINIBATCH_STD)}"
        _require(target in MINIBATCH_STD, key, group, f"{accepted}, not {target}")
        _require(_is_int(group) and group >= 2, key, group, "a group size >= 2 (0: off)")
        scored = batch_size // pack  # what D sees per call
        _require(
            scored % min(group, scored) == 0, key, group,
            f"the {scored} samples (or packs) D scores per batch must cut into groups of it",
        )  # fmt: skip


POINT_NETWORKS = ("gan.nets.MLPGenerator", "gan.nets.mlp.MLPGenerator")


def _validate_points(cfg: DictConfig) -> None:
    """The 2-D mixtures hold points, (2, 1, 1) "images": only the MLP GAN takes them."""
    generator = OmegaConf.select(cfg, "model.generator._target_") or OmegaConf.select(
        cfg, "model.decoder._target_"
    )  # the VAE's generator is its decoder
    if (
        cfg.data.get("resolution") == 1
        and generator is not None
        and generator not in POINT_NETWORKS
    ):
        data = _choice("data")
        raise ConfigError(
            f"data={data} holds 2-D points, not images, and model={_choice('model')} builds "
            f"image networks ({generator}): train an MLP GAN on them with experiment=mixture "
            f"(PacGAN's 2-D networks), e.g. python -m gan.train experiment=mixture data={data}"
        )


# DiffAugment's smallest transforms: a translation of 1/8 of the side and a cutout of half of it.
AUGMENT_MIN_RESOLUTION = 8


def _validate_augment(cfg: DictConfig) -> None:
    """DiffAugment, ADA and bCR transform images; the 2-D mixtures' points ((2, 1, 1)) are not
    images."""
    resolution = cfg.data.get("resolution")
    if resolution is None or resolution >= AUGMENT_MIN_RESOLUTION:
        return
    augment = cfg.get("augment")
    if augment is not None:
        name = "ada" if "AdaptiveAugment" in str(augment.get("_target_")) else "diffaugment"
        raise ConfigError(
            f"augment={name} is invalid with data.resolution={resolution}: it translates, "
            f"rotates and cuts out images of at least {AUGMENT_MIN_RESOLUTION} pixels; the 2-D "
            "mixtures hold points (drop augment)"
        )
    consistency = cfg.get("consistency")
    if consistency is not None and (consistency.get("bcr_real") or consistency.get("bcr_fake")):
        raise ConfigError(
            f"consistency with bCR is invalid with data.resolution={resolution}: bCR flips and "
            "shifts images; the 2-D mixtures hold points (consistency=zcr works on them)"
        )


def _validate_budget(trainer: DictConfig) -> None:
    """A budget that trains something and ends: whole numbers of epochs and steps (0 trains
    nothing, and a run that trained nothing would be recorded as completed), a positive share of
    each epoch; max_epochs=-1 means "until stopped" to Lightning, refused unless a step or time
    limit ends the run, rather than train forever without saying so."""
    epochs, steps = trainer.get("max_epochs"), trainer.get("max_steps", -1)
    _require(
        epochs is None or (_is_int(epochs) and (epochs >= 1 or epochs == -1)),
        "trainer.max_epochs", epochs, "an integer >= 1 (0 trains nothing), or -1 with a step or "
        "time limit",
    )  # fmt: skip
    _require(
        steps is None or (_is_int(steps) and (steps >= 1 or steps == -1)),
        "trainer.max_steps", steps, "an integer >= 1 (optimiser steps, two a batch), or -1: none",
    )  # fmt: skip
    share = trainer.get("limit_train_batches", 1.0)
    _require(
        share is None or (_is_int(share) and share >= 1)
        or (isinstance(share, float) and 0 < share <= 1),
        "trainer.limit_train_batches", share, "a number of batches >= 1, or a share of an epoch "
        "in (0, 1] (0 trains nothing)",
    )  # fmt: skip
    if trainer.get("max_epochs") == -1 and not (
        trainer.get("max_time") or trainer.get("max_steps", -1) not in (-1, None)
    ):
        raise ConfigError(
            "trainer.max_epochs=-1 is invalid here: it trains until stopped. Give a number of "
            "epochs (>= 1), or end the run another way with +trainer.max_time=DD:HH:MM:SS or "
            "trainer.max_steps"
        )


def task_model(task: str) -> str | None:
    """The model a task's config selects (conf/task/<task>.yaml), None for `generate`."""
    path = PROJECT_ROOT / "conf" / "task" / f"{task}.yaml"
    defaults = OmegaConf.load(path).get("defaults", []) if path.is_file() else []
    return next((d["override /model"] for d in defaults if "override /model" in d), None)


# The data each image-to-image task runs on (conf/data options).
TASK_DATA = {
    "inpaint": ("mnist", "folder"),
    "superres": ("mnist", "folder"),
    "translate": ("mnist",),
    "pix2pix": ("paired_folder",),
    "cyclegan": ("unpaired_folder",),
}
PAIR_DATA = ("paired_folder", "unpaired_folder")


def _validate_task(cfg: DictConfig) -> None:
    """A task chooses its model; `model=` is for the generate task's models. Each task runs on
    the data of TASK_DATA, and the paired and unpaired folders only serve their tasks."""
    try:
        choices = HydraConfig.get().runtime.choices
    except ValueError:
        return  # composed without Hydra's runtime: nothing to compare
    task, model = choices.get("task", "generate"), choices.get("model")
    data = choices.get("data", "mnist")
    if task in TASK_DATA and data not in TASK_DATA[task]:
        raise ConfigError(
            f"task={task} with data={data}: task={task} runs on data="
            f"{' or data='.join(TASK_DATA[task])}"
        )
    if task == "generate" and data in PAIR_DATA:
        wanted_task = "pix2pix" if data == "paired_folder" else "cyclegan"
        raise ConfigError(
            f"data={data} holds image pairs or two domains for image-to-image translation: use "
            f"task={wanted_task}; for generation from a folder, data=folder"
        )
    wanted = task_model(task)
    image_to_image = str(cfg.model.get("_target_", "")).startswith("gan.tasks.")
    if wanted and model != wanted:
        raise ConfigError(
            f"model={model} with task={task}: a task chooses its model (model={wanted}); drop "
            "model= to use it"
        )
    if not wanted and image_to_image:
        raise ConfigError(
            f"model={model} with task={task}: {model} is an image-to-image model; choose its "
            f"task ({', '.join(f'task={t}' for t in TASK_DATA)}) instead of model="
        )


def _validate_loss(cfg: DictConfig) -> None:
    loss = cfg.loss
    n_critic = loss.get("n_critic", 1)
    _require(_is_int(n_critic) and n_critic >= 1, "loss.n_critic", n_critic, "an integer >= 1")
    r1_gamma = loss.get("r1_gamma", 0.0)
    _require(r1_gamma >= 0, "loss.r1_gamma", r1_gamma, "a number >= 0 (0 turns R1 off)")
    penalised = r1_gamma > 0 or loss.get("gp_weight", 0) > 0
    norm = OmegaConf.select(cfg, "model.discriminator.norm")
    _require(
        not (penalised and norm == "batch"),
        "model.discriminator.norm",
        norm,
        f"loss={_choice('loss')} with a gradient penalty (gp_weight or r1_gamma > 0) needs a "
        "per-image discriminator: choose layer, spectral or none",
    )


def _choice(group: str) -> str:
    """The option chosen for a config group, when Hydra is running; else the group's name."""
    try:
        return str(HydraConfig.get().runtime.choices.get(group, group))
    except ValueError:
        return group


def check_writable(*folders: str | Path) -> None:
    """Create `folders` and check that a file can be written in each; `ConfigError` (one line)
    for the first that cannot, before any work is done that could not be saved."""
    for folder in map(Path, folders):
        try:
            folder.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryFile(dir=folder):
                pass
        except OSError as error:
            reason = f"{error.strerror or type(error).__name__}"
            raise ConfigError(f"{folder} is not a writable folder ({reason})") from None


def output_folders(cfg: DictConfig) -> list[Path]:
    """The run directory and every folder a callback writes to (checkpoints, samples)."""
    folders = [Path(cfg.paths.output_dir)]
    for callback in (cfg.get("callbacks") or {}).values():
        if callback is not None and callback.get("dirpath"):
            folders.append(Path(callback.dirpath))
    return list(dict.fromkeys(folders))
