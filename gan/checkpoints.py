"""Checkpoints are data, never code, and are written whole or not at all.

- `read_checkpoint` loads a file with `torch.load(weights_only=True)`: tensors and plain data
  only, so a crafted pickle cannot run anything. The project's own checkpoints load that way.
- `rebuild_model` builds the model a checkpoint's stored config describes, refusing any
  `_target_` but the project's own model, network, loss and data classes and `torch.optim`'s
  optimisers (`check_targets`), and loads its weights.
- `check_fits` says in one line when a checkpoint holds another model than the run trains.
- `SafeCheckpointIO` is the trainer's checkpoint reader and writer: it reads as above and writes
  through gan.atomic (an interrupted save leaves the previous checkpoint intact and no stray
  file outside the run's folder), and checks the file is there.
"""

from __future__ import annotations

import importlib
import inspect
import pickle
from pathlib import Path
from typing import Any

import torch
from hydra.utils import instantiate
from lightning.fabric.plugins.io.torch_io import TorchCheckpointIO
from torch import nn

from gan.atomic import save_torch
from gan.config import ConfigError

REQUIRED_KEYS = ("state_dict", "gan")


class CheckpointError(ConfigError):
    """A checkpoint that cannot be used: unreadable, unsafe, or of another model."""


def _first_line(error: BaseException) -> str:
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return lines[0] if lines else type(error).__name__


def read_checkpoint(path: str | Path) -> dict:
    """The checkpoint at `path` as data; `CheckpointError` (one line) if it is missing,
    unreadable, holds Python objects that would have to run to load, or is not the project's."""
    path = Path(path)
    where = f"ckpt_path={str(path)!r}"
    if not path.is_file():
        raise CheckpointError(f"{where}: no such file (give the path to a last.ckpt)")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        message = str(error)
        if "Unsupported global" not in message:  # bytes that are no pickle at all
            detail = message.split("WeightsUnpickler error:")[-1].split("Check the doc")[0]
            raise CheckpointError(
                f"{where}: not a readable checkpoint ({' '.join(detail.split())})"
            ) from None
        unsafe = message.split("Unsupported global:")[-1].split(" was not an allowed")[0]
        raise CheckpointError(
            f"{where}: refused, it holds Python objects beyond tensors and plain data "
            f"({' '.join(unsafe.split())}), which would run code to load; checkpoints are read "
            "as data only"
        ) from None
    except Exception as error:  # torch raises many types for a damaged file
        raise CheckpointError(
            f"{where}: not a readable checkpoint ({type(error).__name__}: {_first_line(error)})"
        ) from None
    if not isinstance(checkpoint, dict) or not set(REQUIRED_KEYS) <= checkpoint.keys():
        raise CheckpointError(
            f"{where}: not a checkpoint of this project's training "
            f"(expected the keys {', '.join(map(repr, REQUIRED_KEYS))})"
        )
    return checkpoint


# What a checkpoint's stored config may build: classes defined in the modules that hold the
# project's models, networks, losses, augmentations, corruptions and data sets, and torch.optim's
# optimisers. Never a function (gan.atomic.write_json writes any file), a method
# (Path.write_text), or an object another module merely imports (gan.atomic.Path is pathlib's).
BUILDABLE_MODULES = (
    "gan.module", "gan.vae", "gan.losses", "gan.augment", "gan.nets", "gan.data",
    "gan.tasks.modules", "gan.tasks.corruptions", "torch.optim",
)  # fmt: skip
SAFE_PACKAGES = ("gan", "torch.optim")  # the only packages a target's name may import from


def _under(name: str, prefixes: tuple[str, ...]) -> bool:
    return any(name == prefix or name.startswith(prefix + ".") for prefix in prefixes)


def _resolve_target(target: str) -> tuple[object | None, str]:
    """The object `target` names when it is a module of this project (or torch.optim) and one
    attribute of it, else None; with what was found, for the error. Only modules under
    SAFE_PACKAGES are ever imported, and no attribute is walked beyond the first."""
    module_name, _, attribute = target.rpartition(".")
    if not _under(module_name, SAFE_PACKAGES):
        return None, "outside this project's packages"
    try:
        module = importlib.import_module(module_name)
    except (ImportError, ValueError):
        return None, f"{module_name} is not a module of this project"
    if not hasattr(module, attribute):
        return None, f"{module_name} has no {attribute}"
    return getattr(module, attribute), ""


def _refusal(target: object) -> str | None:
    """Why a checkpoint may not build `target`, or None when it may."""
    if not isinstance(target, str):
        return f"a target that is not a dotted name ({type(target).__name__})"
    obj, found = _resolve_target(target)
    if obj is None:
        return found
    if not inspect.isclass(obj):
        return f"a {type(obj).__name__}, not a class"
    defined_in = obj.__module__
    if not _under(defined_in, BUILDABLE_MODULES):
        return f"{defined_in}.{obj.__qualname__}, from outside the modules checkpoints build from"
    if obj.__qualname__ != target.rpartition(".")[2]:  # an alias of another name, or nested
        return f"another name for {defined_in}.{obj.__qualname__}"
    return None


def check_targets(node: Any, where: str) -> None:
    """Refuse a stored config that would build anything but the classes checkpoints are made of
    (BUILDABLE_MODULES), checking every node (`_args_`, `_partial_` nodes, nested lists and
    dicts) before anything is built. A name is accepted as defined (`gan.module.GAN`) or as
    re-exported by one of the project's packages (`gan.nets.DCGANGenerator`,
    `torch.optim.Adam`): the name's module, then exactly one attribute of it, which must be the
    class of that name. Interpolations (`${...}`) are refused: instantiate would resolve them."""
    if isinstance(node, dict):
        if "_target_" in node and (reason := _refusal(node["_target_"])):
            raise CheckpointError(
                f"{where}: refused to build {node['_target_']!r} ({reason}): a checkpoint's "
                "config may only build this project's networks, models, losses, "
                "augmentations, corruptions and data sets, and torch.optim's optimisers"
            )
        for value in node.values():
            check_targets(value, where)
    elif isinstance(node, list | tuple):
        for value in node:
            check_targets(value, where)
    elif isinstance(node, str) and "${" in node:
        raise CheckpointError(
            f"{where}: refused, an interpolation {node!r} in the stored config (a saved config "
            "holds resolved values only)"
        )


def _class_path(model: nn.Module) -> str:
    return f"{type(model).__module__}.{type(model).__qualname__}"


def stored_model_target(checkpoint: dict) -> str | None:
    model = (checkpoint.get("config") or {}).get("model") or {}
    return model.get("_target_")


def check_fits(checkpoint: dict, model: nn.Module, where: str = "ckpt_path") -> None:
    """`CheckpointError` unless the checkpoint holds weights of `model`'s class and shapes."""
    stored, mine = stored_model_target(checkpoint), _class_path(model)
    if stored is not None and stored != mine:
        raise CheckpointError(
            f"{where}: holds a {stored} checkpoint, but this run builds {mine}: choose the "
            "model (and task) the checkpoint was trained with"
        )
    expected = model.state_dict()
    weights = checkpoint["state_dict"]
    missing = [key for key in expected if key not in weights]
    unexpected = [key for key in weights if key not in expected]
    resized = [
        key
        for key in expected
        if key in weights and tuple(expected[key].shape) != tuple(weights[key].shape)
    ]
    if missing or unexpected or resized:
        found = {"missing": missing, "unexpected": unexpected, "of another shape": resized}
        detail = "; ".join(f"{what} {keys[0]!r}" for what, keys in found.items() if keys)
        raise CheckpointError(
            f"{where}: its weights do not fit {mine} as configured ({detail}): use the model "
            "options it was trained with"
        )


def requeue_checkpoints(folder: Path) -> list[Path]:
    """The checkpoints Lightning's SLURM requeue wrote in a run folder (`hpc_ckpt_<n>.ckpt`)."""
    return sorted(folder.glob("hpc_ckpt_*.ckpt"))


def furthest_checkpoint(folder: Path) -> Path | None:
    """Of a run folder's `checkpoints/last.ckpt` and requeue checkpoints, the one furthest into
    training (by optimiser steps), Lightning's requeue checkpoint where they are level: where a
    requeued or restarted job of that folder goes on from."""
    found = [p for p in [folder / "checkpoints" / "last.ckpt", *requeue_checkpoints(folder)]
             if p.is_file()]  # fmt: skip
    if not found:
        return None

    def progress(path: Path) -> tuple[int, bool, int]:
        steps = read_checkpoint(path).get("global_step", 0)
        return steps, path.name.startswith("hpc_ckpt_"), path.stat().st_mtime_ns

    return max(found, key=progress)


def epochs_done(checkpoint: dict) -> int | None:
    """The epochs a training checkpoint's run had finished (an epoch saved mid-way does not
    count), from Lightning's fit-loop progress; None where the checkpoint has none."""
    loops = checkpoint.get("loops") or {}
    progress = (loops.get("fit_loop") or {}).get("epoch_progress") or {}
    return (progress.get("current") or {}).get("processed")


def check_trains_more(checkpoint: dict, max_epochs: int | None, max_steps: int | None,
                      where: str) -> None:  # fmt: skip
    """`CheckpointError` when resuming `checkpoint` under these limits would train nothing (the
    run would end at once and be recorded as completed)."""
    done, steps = epochs_done(checkpoint), checkpoint.get("global_step")
    if max_epochs not in (None, -1) and done is not None and done >= max_epochs:
        raise CheckpointError(
            f"{where}: its run finished {done} epoch{'s' if done != 1 else ''}, so "
            f"trainer.max_epochs={max_epochs} trains nothing more; give trainer.max_epochs "
            f"above {done}"
        )
    if max_steps not in (None, -1) and steps is not None and steps >= max_steps:
        raise CheckpointError(
            f"{where}: its run took {steps} optimiser steps, so trainer.max_steps={max_steps} "
            f"trains nothing more; give trainer.max_steps above {steps}"
        )


def rebuild_model(checkpoint: dict, path: str | Path) -> nn.Module:
    """The model `checkpoint`'s stored run config describes, with its weights and counters."""
    where = f"ckpt_path={str(path)!r}"
    config = (checkpoint.get("config") or {}).get("model")
    if not config:
        raise CheckpointError(f"{where}: holds no run config to rebuild the model from")
    check_targets(config, where)
    model = instantiate(config)
    check_fits(checkpoint, model, where)
    model.load_state_dict(checkpoint["state_dict"])
    state = checkpoint["gan"]
    for name, value in model.counters().items():  # images_seen, d_steps, g_steps
        setattr(model, name, state.get(name, value))
    # The run's seeds, not ones drawn from the global RNG as the model was built: an EMA
    # generator's BatchNorm statistics are recomputed from noise of `noise_seed`, so a checkpoint
    # rebuilt twice would otherwise sample different images from the same z.
    for name in ("noise_seed", "run_seed"):
        if name in state:
            setattr(model, name, state[name])
    return model


class SafeCheckpointIO(TorchCheckpointIO):
    """The trainer's checkpoint I/O: reads with `read_checkpoint`, writes whole or not at all
    beside the target (gan.atomic: a temporary file in the same folder, then a rename; what a
    killed save left there is removed by the next), and raises if the file is not there after.

    `preloaded` maps paths already read (train() reads a resumed checkpoint once, to check it
    before training) to their contents, so the trainer does not read them again.
    """

    def __init__(self, preloaded: dict[str | Path, dict] | None = None) -> None:
        super().__init__()
        self.preloaded = {Path(path).resolve(): data for path, data in (preloaded or {}).items()}

    def save_checkpoint(
        self, checkpoint: dict, path: str | Path, storage_options: Any | None = None
    ) -> None:
        save_torch(checkpoint, path)
        if not Path(path).is_file():
            raise OSError(f"checkpoint {path} is not there after saving it")

    def load_checkpoint(
        self, path: str | Path, map_location: Any | None = None, weights_only: bool | None = None
    ) -> dict:
        preloaded = self.preloaded.pop(Path(path).resolve(), None)
        return preloaded if preloaded is not None else read_checkpoint(path)
