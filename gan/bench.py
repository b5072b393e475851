"""Training throughput of the default DCGAN and of StyleGAN2, four ways each, in one run:
`python -m gan.bench` (`--models dcgan,stylegan2`, the default; `stylegan2` is the CPU-sized
`experiment=stylegan2_small` on MNIST, batch 32; `stylegan2_cifar10` is that recipe on CIFAR-10,
batch 64, for a GPU).

- plain: a plain PyTorch loop written like the classic tutorial (DataLoader, D step, G step
  reusing the D step's generated batch), on the project's networks, optimisers and data;
- lightning: the project's GAN module under the Lightning Trainer with its DataModule;
- fast: the same with the fast path (`fast=cpu` or `fast=gpu`: data on the device, channels-last,
  bf16 mixed precision, and on a GPU torch.compile, fused Adam and cuDNN benchmark);
- plain-fast: the fastest plain PyTorch loop a skilled user would write for the same networks
  and settings as `fast`: data on the device with one batched gather per step, D's parameters
  frozen in the G step, the same precision, layout, compile mode and fused Adam, no framework.
  `fast / plain-fast` is the cost of this project's framework at the hardware's limit.

All four train the same networks from the same seed, with the same batch size and Adam settings,
without an EMA generator (the plain loops have none), callbacks or loggers. For StyleGAN2 the plain
loops are written as StyleGAN2-ADA's training loop runs (`LazySteps`): a new z for the G step,
lazy R1 every 16 D steps and path-length regularisation every 4 G steps, each a step of its own.
Each way runs in its own process (so peak memory is its own): `warmup` steps, then `repeats` timed
windows of `steps` steps; a way's figure is the median window. Prints a table and writes
`bench.json`; with `--fid`, also the time of FID-MNIST on 10k generated samples and of Inception
features (on a CPU the fast path beside the TorchScript reference; `--inception` alone times only
Inception).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import platform
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

import torch

from gan.machine import describe

WAYS = ("plain", "lightning", "fast", "plain-fast")
# model: (its config overrides, its batch size)
MODELS = {
    "dcgan": ([], 128),
    "stylegan2": (["experiment=stylegan2_small"], 32),
    "stylegan2_cifar10": (["experiment=stylegan2_cifar10"], 64),
}
FAST_WAYS = ("fast", "plain-fast", "fast-callbacks")  # composed with the fast group
QUICK = {"warmup": 3, "steps": 5, "repeats": 3}
FULL = {"warmup": 10, "steps": 20, "repeats": 5}


# ---- one way, in a worker process ---------------------------------------------------------------


def compose(device: str, batch_size: int, fast: bool, seed: int, extra: list[str] = (),
            model: str = "dcgan"):  # fmt: skip
    """The project's training config for the benchmark: `model` (a key of MODELS), no EMA."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir

    import gan.train  # noqa: F401  (registers the config resolvers)
    from gan.config import PROJECT_ROOT

    overrides = [*MODELS[model][0], f"data.batch_size={batch_size}", f"seed={seed}"]
    overrides += ["ema=null", "logger=none"]
    overrides += [f"trainer.accelerator={'gpu' if device == 'cuda' else 'cpu'}"]
    if fast:
        overrides += [f"fast={'gpu' if device == 'cuda' else 'cpu'}", *extra]
    with initialize_config_dir(str(PROJECT_ROOT / "conf"), version_base="1.3"):
        return hydra_compose("train", overrides=overrides)


def synchronize(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


class WindowClock:
    """Times windows of `steps` steps after `warmup` steps; `tick()` after every step."""

    def __init__(self, device: str, warmup: int, steps: int, repeats: int) -> None:
        self.device = device
        self.boundaries = {warmup + r * steps for r in range(repeats + 1)}
        self.total = warmup + repeats * steps
        self.done = 0
        self.times: list[float] = []

    def tick(self) -> bool:
        """Count a step; True once every window is timed."""
        self.done += 1
        if self.done in self.boundaries:
            synchronize(self.device)  # only at window edges: the GPU keeps its queue in between
            self.times.append(time.perf_counter())
        return self.done >= self.total

    def windows(self) -> list[float]:
        return [b - a for a, b in zip(self.times, self.times[1:], strict=False)]


class LazySteps:
    """What a hand-written StyleGAN2-ADA loop adds to the plain loops (nothing for DCGAN): a new
    z for the G step (`fresh_noise_for_g`), lazy R1 and path-length regularisation, each a step
    of its own, times its interval, with the optimisers scaled as StyleGAN2-ADA scales them. When
    they are due and what they compute is the loss's and the penalty's own (`lazy_r1_due`,
    `lazy_r1_penalty` in float32, `PathLengthPenalty.due`): plain PyTorch, run on the eager
    (uncompiled) networks."""

    def __init__(self, cfg, device: str) -> None:
        from hydra.utils import instantiate

        self.fresh_noise = bool(cfg.model.get("fresh_noise_for_g"))
        self.loss = instantiate(cfg.loss)
        if self.loss.r1_gamma > 0 and not self.loss.lazy_r1:
            raise ValueError("the plain loops run R1 lazily only (loss.r1_interval > 1)")
        path_length = cfg.model.get("path_length")
        self.path_length = instantiate(path_length).to(device) if path_length else None
        self.d_steps = self.g_steps = 0

    def scale(self, opt_g: torch.optim.Optimizer, opt_d: torch.optim.Optimizer) -> None:
        from gan.module import scale_for_lazy_regularisation

        if self.path_length is not None:
            scale_for_lazy_regularisation(opt_g, self.path_length.interval)
        if self.loss.lazy_r1:
            scale_for_lazy_regularisation(opt_d, self.loss.r1_interval)

    def after_d_step(self, critic: Callable, real: torch.Tensor, opt_d) -> None:
        if self.loss.lazy_r1_due(self.d_steps):
            penalty = self.loss.lazy_r1_penalty(critic, real)
            opt_d.zero_grad(set_to_none=True)
            penalty.backward()
            opt_d.step()
        self.d_steps += 1

    def after_g_step(self, generator, noise: Callable[[], torch.Tensor],
                     labels: torch.Tensor | None, opt_g) -> None:  # fmt: skip
        if self.path_length is not None and self.path_length.due(self.g_steps):
            penalty = self.path_length(generator, noise(), labels)
            opt_g.zero_grad(set_to_none=True)
            penalty.backward()
            opt_g.step()
        self.g_steps += 1


def conditional(cfg) -> bool:
    return bool(cfg.model.generator.get("num_classes"))


def given_labels(net: Callable, cfg) -> Callable:
    """labels -> the network as a function of its input alone: `net(x, labels)` for a
    conditional model, `net(x)` for an unconditional one."""
    if conditional(cfg):
        return lambda labels: lambda x: net(x, labels)
    return lambda labels: net


def plain_loop(cfg, device: str, clock: WindowClock) -> None:
    """The tutorial's loop on the project's networks, optimisers and data (with `LazySteps`)."""
    from hydra.utils import instantiate
    from torch import nn
    from torch.utils.data import DataLoader

    torch.manual_seed(cfg.seed)
    data = instantiate(cfg.data)
    data.setup("fit")
    loader = DataLoader(
        data.train_set, batch_size=cfg.data.batch_size, shuffle=True, drop_last=True,
        pin_memory=device == "cuda",
    )  # fmt: skip
    generator = instantiate(cfg.model.generator).to(device)
    discriminator = instantiate(cfg.model.discriminator).to(device)
    opt_g = instantiate(cfg.model.optimizer_g)(generator.parameters())
    opt_d = instantiate(cfg.model.optimizer_d)(discriminator.parameters())
    lazy = LazySteps(cfg, device)
    lazy.scale(opt_g, opt_d)
    criterion = nn.BCEWithLogitsLoss()
    latent_dim, with_labels = cfg.model.latent_dim, conditional(cfg)
    g_of, d_of = given_labels(generator, cfg), given_labels(discriminator, cfg)

    while True:
        for real, labels in loader:
            real = real.to(device, non_blocking=True)  # (B, C, H, W)
            labels = labels.to(device, non_blocking=True)  # (B,)
            batch = real.shape[0]
            ones = torch.ones(batch, device=device)
            zeros = torch.zeros(batch, device=device)
            g, d = g_of(labels), d_of(labels)
            fake = g(torch.randn(batch, latent_dim, device=device))
            opt_d.zero_grad(set_to_none=True)
            loss_d = criterion(d(real), ones) + criterion(d(fake.detach()), zeros)
            loss_d.backward()
            opt_d.step()
            lazy.after_d_step(d, real, opt_d)
            if lazy.fresh_noise:
                fake = g(torch.randn(batch, latent_dim, device=device))
            opt_g.zero_grad(set_to_none=True)
            loss_g = criterion(d(fake), ones)
            loss_g.backward()
            opt_g.step()
            noise = partial(torch.randn, batch, latent_dim, device=device)
            lazy.after_g_step(generator, noise, labels if with_labels else None, opt_g)
            if clock.tick():
                return


def autocast_dtype(precision: str) -> torch.dtype | None:
    """The autocast dtype of a Lightning precision setting; None for full precision."""
    return {"bf16-mixed": torch.bfloat16, "16-mixed": torch.float16}.get(str(precision))


def plain_fast_loop(cfg, device: str, clock: WindowClock) -> None:
    """The fast path without the framework: the same networks, optimisers (fused on a GPU),
    precision, memory layout and compile mode as `fast`, written as one tight loop (with
    `LazySteps`)."""
    import torch.nn.functional as F
    from hydra.utils import instantiate

    torch.manual_seed(cfg.seed)
    torch.backends.cudnn.benchmark = bool(cfg.trainer.get("benchmark"))
    data = instantiate(cfg.data)
    data.setup("fit")
    images = data.train_set.images.to(device)  # (N, C, H, W) uint8, moved once
    all_labels = data.train_set.labels.to(device)  # (N,)
    layout = torch.channels_last if cfg.model.channels_last else torch.contiguous_format
    generator = instantiate(cfg.model.generator).to(device)  # default layout, as in gan.module
    discriminator = instantiate(cfg.model.discriminator).to(device, memory_format=layout)
    opt_g = instantiate(cfg.model.optimizer_g)(generator.parameters())
    opt_d = instantiate(cfg.model.optimizer_d)(discriminator.parameters())
    lazy = LazySteps(cfg, device)
    lazy.scale(opt_g, opt_d)
    g, d = generator, discriminator
    if cfg.model.compile_mode:
        g = torch.compile(generator, mode=cfg.model.compile_mode)
        d = torch.compile(discriminator, mode=cfg.model.compile_mode)
    with_labels = conditional(cfg)
    g_of, d_of = given_labels(g, cfg), given_labels(d, cfg)
    eager_d = given_labels(discriminator, cfg)  # R1's double backward runs eagerly
    dtype = autocast_dtype(cfg.trainer.precision)
    scaler = torch.amp.GradScaler(device, enabled=dtype == torch.float16)
    batch, latent_dim = cfg.data.batch_size, cfg.model.latent_dim
    ones = torch.ones(batch, device=device)
    zeros = torch.zeros(batch, device=device)

    def autocast():
        return torch.autocast(device, dtype=dtype or torch.float32, enabled=dtype is not None)

    def noise():
        return torch.randn(batch, latent_dim, device=device)

    while True:
        order = torch.randperm(len(images), device=device)
        for start in range(0, len(images) - batch + 1, batch):
            index = order[start : start + batch]
            real = images[index]  # (B, C, H, W) uint8
            real = real.float().div_(127.5).sub_(1.0).contiguous(memory_format=layout)
            labels = all_labels[index]  # (B,)
            with autocast():
                fake = g_of(labels)(noise())  # (B, C, H, W)
                fake = fake.contiguous(memory_format=layout)
                real_scores = d_of(labels)(real)  # (B,)
                fake_scores = d_of(labels)(fake.detach())  # (B,)
            loss_d = F.binary_cross_entropy_with_logits(real_scores.float(), ones)
            loss_d = loss_d + F.binary_cross_entropy_with_logits(fake_scores.float(), zeros)
            opt_d.zero_grad(set_to_none=True)
            scaler.scale(loss_d).backward()
            scaler.step(opt_d)
            lazy.after_d_step(eager_d(labels), real, opt_d)
            discriminator.requires_grad_(False)  # the G step needs no gradients for D
            with autocast():
                if lazy.fresh_noise:
                    fake = g_of(labels)(noise()).contiguous(memory_format=layout)
                fake_scores = d_of(labels)(fake)
            loss_g = F.binary_cross_entropy_with_logits(fake_scores.float(), ones)
            opt_g.zero_grad(set_to_none=True)
            scaler.scale(loss_g).backward()
            scaler.step(opt_g)
            scaler.update()
            discriminator.requires_grad_(True)
            lazy.after_g_step(generator, noise, labels if with_labels else None, opt_g)
            if clock.tick():
                return


def lightning_loop(cfg, device: str, clock: WindowClock, callbacks: bool = False) -> None:
    """The project's module and data module under the Trainer its config describes; with
    `callbacks`, every callback of the config too (checkpoints, metrics and sample grids written
    in a temporary folder), as `make train` runs them."""
    import tempfile

    import lightning as L
    from hydra.utils import instantiate
    from omegaconf import open_dict

    class Clock(L.Callback):
        def on_train_batch_end(self, trainer, *args) -> None:
            if clock.tick():
                trainer.should_stop = True

    L.seed_everything(cfg.seed, verbose=False)
    data = instantiate(cfg.data)
    model = instantiate(cfg.model)
    with tempfile.TemporaryDirectory() as root:
        configured, bare = [], {"enable_checkpointing": False, "enable_progress_bar": False}
        if callbacks:
            with open_dict(cfg):
                cfg.paths.output_dir = root
            configured = [instantiate(c) for c in cfg.callbacks.values() if c is not None]
            bare = {}  # the config's checkpoints and progress bar
        trainer = instantiate(
            cfg.trainer,
            default_root_dir=root,
            max_epochs=-1,
            callbacks=[*configured, Clock()],
            logger=False,
            enable_model_summary=False,
            **bare,
        )
        trainer.fit(model, datamodule=data)


LOOPS: dict[str, Callable] = {
    "plain": plain_loop,
    "lightning": lightning_loop,
    "fast": lightning_loop,
    "plain-fast": plain_fast_loop,
    # Not in the bench's table: for gan.profile_step, the fast path as `make train` runs it.
    "fast-callbacks": partial(lightning_loop, callbacks=True),
}


def peak_memory_mb(device: str) -> float:
    if device == "cuda":
        return torch.cuda.max_memory_allocated() / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def run_way(way: str, device: str, batch_size: int, warmup: int, steps: int, repeats: int,
            seed: int, fast_overrides: list[str] = (), model: str = "dcgan") -> dict:  # fmt: skip
    """Measure one way in this process."""
    cfg = compose(device, batch_size, way in FAST_WAYS, seed, fast_overrides, model)
    clock = WindowClock(device, warmup, steps, repeats)
    started = time.perf_counter()
    LOOPS[way](cfg, device, clock)
    windows = clock.windows()
    median = statistics.median(windows)
    return {
        "model": model,
        "way": way,
        "batch_size": batch_size,
        "images_per_s": steps * batch_size / median,
        "ms_per_step": 1000 * median / steps,
        "window_images_per_s": [steps * batch_size / w for w in windows],
        "peak_memory_mb": peak_memory_mb(device),
        "seconds_in_all": time.perf_counter() - started,
        "precision": str(cfg.trainer.get("precision", "32-true")) if way != "plain" else "32-true",
        "compile_mode": cfg.model.compile_mode if way in FAST_WAYS else None,
    }


# ---- FID-MNIST timing ---------------------------------------------------------------------------


def time_fid(device: str, n: int = 10_000, seed: int = 0) -> dict:
    """Seconds for FID-MNIST of `n` samples of a (fresh) default DCGAN: generation, embedding on
    the classifier and the Fréchet distance, the real digits' statistics already cached."""
    from hydra.utils import instantiate

    from gan.metrics.evaluate import evaluate_images, generate_images, reference_statistics
    from gan.metrics.spaces import load_feature_space

    cfg = compose(device, 128, fast=False, seed=seed)
    data = instantiate(cfg.data)
    data.setup("test")
    torch.manual_seed(seed)
    model = instantiate(cfg.model).to(device).eval()
    space = load_feature_space("mnist", device)
    reference = reference_statistics(space, data.test_set.images, cfg.paths.data_dir + "/stats")
    started = time.perf_counter()
    images = generate_images(model, n, seed)
    fid = evaluate_images(space, images, reference, ["fid"])["fid_mnist"]
    return {"n_samples": n, "seconds": time.perf_counter() - started, "fid_mnist": fid}


# ---- Inception timing ---------------------------------------------------------------------------


def inception_extractor(device: str, weights: Path | None = None, reference: bool = False):
    """The project's Inception extractor (the eager rebuild; with `reference`, the TorchScript file
    run as it is), or (for timing where the real weights cannot be had) a TorchScript file of the
    same network given as `weights`, reported as a stand-in."""
    from gan.metrics.inception import InceptionFeatures, load_inception
    from gan.metrics.inception_net import eager_inception

    if weights is None:
        return load_inception(device, reference=reference)
    network = torch.jit.load(str(weights), map_location="cpu").eval()
    if not reference:
        network = eager_inception(network)
    sha256 = hashlib.sha256(weights.read_bytes()).hexdigest()
    how = "TorchScript" if reference else "eager"
    source = f"stand-in for timing: {weights.name}, {how} (not the verified weights)"
    return InceptionFeatures(network.to(device), source, str(weights), sha256,
                             (-1.0, 255 / 128 - 1), channels_last=not reference)  # fmt: skip


def _timed(
    extractor, images: torch.Tensor, batch_size: int, device: str
) -> tuple[dict, torch.Tensor]:
    extractor(images[:batch_size], batch_size)  # warm-up (cuDNN autotuning, oneDNN, lazy init)
    synchronize(device)
    started = time.perf_counter()
    features = extractor(images, batch_size)  # (n, 2048)
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "images_per_s": len(images) / seconds}, features


def _relative(a: torch.Tensor, b: torch.Tensor) -> float:
    """max |a - b|, relative to the largest |b|."""
    return float((a - b).abs().max() / b.abs().max().clamp_min(1e-12))


def time_inception(device: str, n: int | None = None, weights: Path | None = None,
                   batch_size: int | None = None, seed: int = 0) -> dict:  # fmt: skip
    """Seconds for the Inception features of `n` random 28x28 grey images (resize to 299
    included; default 10,000 on a GPU, 100 on a CPU), in batches of `batch_size` (250 on a GPU,
    50 on a CPU).

    On a CPU, the fast path (the eager rebuild) and the reference (the TorchScript file as it is)
    side by side, and how far apart their features are. On a GPU, the fast path in exact fp32
    (the project's way) and with TF32 convolutions and matmuls (cuDNN's default), each against
    the CPU's features of a few images."""
    n = n or (10_000 if device != "cpu" else 100)
    batch_size = batch_size or (250 if device != "cpu" else 50)
    images = torch.rand(n, 1, 28, 28, generator=torch.Generator().manual_seed(seed)) * 2 - 1
    extractor = inception_extractor(device, weights)
    result = {"n_images": n, "batch_size": batch_size, "source": extractor.source,
              "sha256": extractor.sha256}  # fmt: skip
    if device == "cpu":
        result["fast"], fast = _timed(extractor, images, batch_size, device)
        reference = inception_extractor(device, weights, reference=True)
        result["reference"], slow = _timed(reference, images, batch_size, device)
        result["fast"]["max_relative_difference_to_reference"] = _relative(fast, slow)
        result["speed-up"] = result["reference"]["seconds"] / result["fast"]["seconds"]
        return result | result["fast"]
    on_cpu = inception_extractor("cpu", weights)(images[:16], 16)
    for allow_tf32 in (False, True):
        extractor.allow_tf32 = allow_tf32
        timing, features = _timed(extractor, images, batch_size, device)
        timing["max_relative_difference_to_cpu"] = _relative(features[:16], on_cpu)
        result["tf32" if allow_tf32 else "fp32"] = timing
    return result | result["fp32"]


# ---- the driver ---------------------------------------------------------------------------------


def run_worker(command: list[str], env: dict | None = None) -> tuple[dict, str]:
    """Run a worker process; return the JSON it prints last, and what it wrote to stderr."""
    result = subprocess.run(command, capture_output=True, text=True, env=env)
    if result.returncode != 0:
        raise RuntimeError(f"worker {command[2:]} failed:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1]), result.stderr


def in_worker(args: argparse.Namespace, *command: str) -> dict:
    """Run `python -m gan.bench --worker ...` and return the JSON it prints last."""
    base = [sys.executable, "-m", "gan.bench", "--device", args.device, "--seed", str(args.seed)]
    return run_worker([*base, *command])[0]


def machine() -> dict:
    info = describe() | {"platform": platform.platform()}
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name()
    return info


def table(results: list[dict]) -> str:
    """Markdown: one row per (model, batch size, way), with each way's ratio to plain and to
    plain-fast for that model and size."""

    def by_run(way: str) -> dict[tuple[str, int], float]:
        return {
            (r["model"], r["batch_size"]): r["images_per_s"] for r in results if r["way"] == way
        }

    plain, plain_fast = by_run("plain"), by_run("plain-fast")

    def ratio(r: dict, base: dict[tuple[str, int], float]) -> str:
        run = (r["model"], r["batch_size"])
        return f"{r['images_per_s'] / base[run]:.2f}" if run in base else "–"

    header = "| model | batch | way | precision | images/s | ms/step | peak memory (MB) | x plain "
    lines = [header + "| x plain-fast |", "|---|---:|---|---|---:|---:|---:|---:|---:|"]
    for r in results:
        lines.append(
            f"| {r['model']} | {r['batch_size']} | {r['way']} | {r['precision']} | "
            f"{r['images_per_s']:,.1f} | {r['ms_per_step']:.1f} | {r['peak_memory_mb']:,.0f} | "
            f"{ratio(r, plain)} | {ratio(r, plain_fast)} |"
        )
    return "\n".join(lines)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m gan.bench", description=__doc__.split("\n")[0])
    parser.add_argument(
        "--quick", action="store_true", help="a short run (DCGAN alone: under a minute on a CPU)"
    )
    parser.add_argument(
        "--models", default="dcgan,stylegan2", help=f"any of {','.join(MODELS)}, comma-separated"
    )
    parser.add_argument(
        "--batch-sizes", help="comma-separated, e.g. 64,128,256, for every model (default: each "
        "model's own: dcgan 128, stylegan2 32, stylegan2_cifar10 64)",
    )  # fmt: skip
    parser.add_argument("--ways", default=",".join(WAYS), help=f"any of {','.join(WAYS)}")
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    parser.add_argument("--warmup", type=int, help="untimed steps first (default 10; quick 3)")
    parser.add_argument("--steps", type=int, help="steps per timed window (default 20; quick 5)")
    parser.add_argument(
        "--repeats", type=int, help="timed windows, median kept (default 5; quick 3)"
    )
    parser.add_argument(
        "--fid", action="store_true", help="also time FID-MNIST on 10k samples, and Inception "
        "(as --inception)",
    )  # fmt: skip
    parser.add_argument(
        "--inception", action="store_true", help="also time Inception features of 10k images"
    )
    parser.add_argument(
        "--inception-images",
        type=int,
        help="images to time Inception on (default: 10,000 on a GPU, 100 on a CPU)",
    )
    parser.add_argument(
        "--inception-file", type=Path, help="time this TorchScript Inception instead of the "
        "project's weights (a stand-in where they cannot be had; reported as such)",
    )  # fmt: skip
    parser.add_argument(
        "--fast-overrides", default="", help="extra config overrides for `fast` and `plain-fast`, "
        "space-separated (e.g. 'model.compile_mode=default')",
    )  # fmt: skip
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("bench.json"))
    parser.add_argument("--worker", help=argparse.SUPPRESS)  # a way, or "fid": measure it here
    args = parser.parse_args(argv)
    if args.device == "auto":
        args.device = "cuda" if torch.cuda.is_available() else "cpu"
    if args.device == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda: no CUDA device is available here (use --device cpu)")
    defaults = QUICK if args.quick else FULL
    for key, value in defaults.items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    ways = args.ways.split(",")
    if unknown := [w for w in ways if w not in WAYS]:
        parser.error(f"--ways: unknown {unknown}; choose from {list(WAYS)}")
    models = args.models.split(",")
    if unknown := [m for m in models if m not in MODELS]:
        parser.error(f"--models: unknown {unknown}; choose from {list(MODELS)}")
    try:
        sizes = [int(b) for b in args.batch_sizes.split(",")] if args.batch_sizes else None
    except ValueError:
        parser.error(f"--batch-sizes={args.batch_sizes!r}: comma-separated integers")
    if any(b < 1 for b in sizes or []) or min(args.warmup, args.steps, args.repeats) < 1:
        parser.error("batch sizes, --warmup, --steps and --repeats must be >= 1")
    args.way_list = ways
    args.runs = [(m, b) for m in models for b in (sizes or [MODELS[m][1]])]
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.worker == "fid":
        print(json.dumps(time_fid(args.device, seed=args.seed)))
        return 0
    if args.worker == "inception":
        timing = time_inception(
            args.device, args.inception_images, args.inception_file, seed=args.seed
        )
        print(json.dumps(timing))
        return 0
    if args.worker:
        ((model, size),) = args.runs
        result = run_way(
            args.worker, args.device, size, args.warmup, args.steps, args.repeats, args.seed,
            args.fast_overrides.split(), model,
        )  # fmt: skip
        print(json.dumps(result))
        return 0

    timing = ["--warmup", str(args.warmup), "--steps", str(args.steps)]
    timing += ["--repeats", str(args.repeats), "--fast-overrides", args.fast_overrides]
    results = []
    for model, size in args.runs:
        for way in args.way_list:
            print(f"{model}, {way}, batch {size} ...", file=sys.stderr, flush=True)
            run = ["--models", model, "--batch-sizes", str(size)]
            results.append(in_worker(args, "--worker", way, *run, *timing))
    report = {
        "machine": machine(),
        "device": args.device,
        "warmup": args.warmup,
        "steps": args.steps,
        "repeats": args.repeats,
        "fast_overrides": args.fast_overrides.split(),
        "results": results,
    }
    print(f"device {args.device}: {args.warmup} warm-up steps, median of {args.repeats} windows "
          f"of {args.steps} steps")  # fmt: skip
    print(table(results))
    if args.fid:
        report["fid"] = in_worker(args, "--worker", "fid")
        fid = report["fid"]
        print(f"FID-MNIST of {fid['n_samples']:,} samples: {fid['seconds']:.1f} s")
    if args.inception or args.fid:
        command = ["--worker", "inception"]
        if args.inception_images:
            command += ["--inception-images", str(args.inception_images)]
        if args.inception_file:
            command += ["--inception-file", str(args.inception_file)]
        report["inception"] = timing = in_worker(args, *command)
        print(f"Inception features of {timing['n_images']:,} images: {timing['seconds']:.1f} s "
              f"({timing['images_per_s']:,.1f} images/s; {timing['source']})")  # fmt: skip
        if "reference" in timing:
            print(f"  the TorchScript reference: {timing['reference']['images_per_s']:.1f} "
                  f"images/s; the fast path is {timing['speed-up']:.2f}x it, features within "
                  f"{timing['fast']['max_relative_difference_to_reference']:.1e}")  # fmt: skip
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
