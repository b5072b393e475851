"""The alternating step, checked on tensors: which parameters each half of a step touches."""

from __future__ import annotations

import functools
from pathlib import Path

import pytest
import torch

from gan.losses import HingeLoss, NonSaturatingLoss, WassersteinLoss
from gan.module import GAN
from gan.nets import DCGANDiscriminator, DCGANGenerator
from tests.conftest import fit_on_random_images


def snapshot(module: torch.nn.Module) -> list[torch.Tensor]:
    return [p.detach().clone() for p in module.parameters()]


def changed(before: list[torch.Tensor], module: torch.nn.Module) -> bool:
    return any(not torch.equal(b, p) for b, p in zip(before, module.parameters(), strict=True))


class RecordingAdam(torch.optim.Adam):
    """Adam that records, at each step, what changed in G and D and which parameters had grads."""

    def __init__(self, params, name: str, nets: dict, record: list, **kwargs) -> None:
        super().__init__(params, **kwargs)
        self.name, self.nets, self.record = name, nets, record

    def step(self, closure=None):
        before = {key: snapshot(net) for key, net in self.nets.items()}
        grad_sums = {
            key: sum(p.grad.abs().sum().item() for p in net.parameters() if p.grad is not None)
            for key, net in self.nets.items()
        }
        result = super().step(closure)
        changes = {key: changed(before[key], net) for key, net in self.nets.items()}
        self.record.append((self.name, changes, grad_sums))
        return result


def tiny_gan(record: list, **kwargs) -> GAN:
    generator, discriminator = DCGANGenerator(latent_dim=8, width=4), DCGANDiscriminator(width=4)
    nets = {"G": generator, "D": discriminator}
    return GAN(
        generator,
        discriminator,
        loss=kwargs.pop("loss", NonSaturatingLoss()),
        optimizer_g=functools.partial(RecordingAdam, name="G", nets=nets, record=record),
        optimizer_d=functools.partial(RecordingAdam, name="D", nets=nets, record=record),
        latent_dim=8,
        **kwargs,
    )


@pytest.mark.parametrize("fresh_noise_for_g", [False, True])
def test_d_step_updates_only_d_and_g_step_updates_only_g(fresh_noise_for_g):
    record = []
    model = tiny_gan(record, fresh_noise_for_g=fresh_noise_for_g)
    fit_on_random_images(model, batches=1)
    assert [name for name, _, _ in record] == ["D", "G"]
    (_, d_changes, d_grads), (_, g_changes, g_grads) = record
    assert d_changes == {"G": False, "D": True}
    assert d_grads["G"] == 0 < d_grads["D"]  # the generated batch was detached for the D step
    assert g_changes == {"G": True, "D": False}
    assert g_grads["G"] > 0
    assert g_grads["D"] == d_grads["D"]  # D was frozen: the G step's backward added nothing to it


def test_n_critic_takes_that_many_d_steps_per_g_step():
    record = []
    model = tiny_gan(record, loss=NonSaturatingLoss(n_critic=3))
    fit_on_random_images(model, batches=6)
    assert [name for name, _, _ in record] == ["D", "D", "D", "G", "D", "D", "D", "G"]
    assert (model.d_steps, model.g_steps, model.images_seen) == (6, 2, 24)


def test_non_finite_loss_stops_with_the_step_and_the_loss_named():
    model = tiny_gan([])
    model.discriminator.forward = lambda x: torch.full((len(x),), float("nan"))
    with pytest.raises(FloatingPointError, match=r"loss_d is nan at D step 0 .*batch 0"):
        fit_on_random_images(model, batches=2)


def test_on_an_accelerator_losses_are_checked_later_but_name_the_step(monkeypatch, tmp_path):
    """The deferred check (no wait for the device at every step) still names the first non-finite
    step, and raises at the epoch's last batch, before the epoch's checkpoint is written."""
    import lightning as L
    from torch.utils.data import DataLoader, TensorDataset

    from gan import base

    monkeypatch.setattr(base, "FINITE_CHECK_EVERY_ON_ACCELERATOR", 50)
    model = tiny_gan([])
    monkeypatch.setattr(model, "_checks_at_once", lambda: False)  # as on a GPU
    scores = model.discriminator.forward

    def d_step_of_batch_2() -> bool:
        return model.d_steps == model.g_steps == 2

    model.discriminator.forward = lambda x: scores(x) * (float("nan") if d_step_of_batch_2() else 1)
    images = torch.rand(24, 1, 28, 28) * 2 - 1
    loader = DataLoader(TensorDataset(images, torch.zeros(24, dtype=torch.long)), batch_size=4)
    checkpoint = L.pytorch.callbacks.ModelCheckpoint(tmp_path, "last")
    trainer = L.Trainer(
        accelerator="cpu", max_epochs=1, logger=False, callbacks=[checkpoint],
        enable_progress_bar=False, enable_model_summary=False,
    )  # fmt: skip
    with pytest.raises(FloatingPointError, match=r"loss_d is nan at D step 2 .*batch 2\)"):
        trainer.fit(model, loader)
    assert model.d_steps == 5  # raised at the last batch's (index 5) check, not at batch 2's
    assert not list(tmp_path.iterdir())  # and no checkpoint of the broken epoch was written


def test_latent_dim_must_match_the_generator():
    with pytest.raises(ValueError, match="latent_dim=16 does not match the generator's 8"):
        GAN(
            DCGANGenerator(latent_dim=8, width=4),
            DCGANDiscriminator(width=4),
            NonSaturatingLoss(),
            torch.optim.Adam,
            torch.optim.Adam,
            latent_dim=16,
        )


def test_generate_uses_eval_mode_and_restores_training_mode():
    model = tiny_gan([])
    z = torch.randn(2, 8)
    assert torch.equal(model.generate(z), model.generate(z))  # BatchNorm running stats, no update
    assert model.generator.training


@pytest.mark.parametrize(("fresh_noise_for_g", "forwards_per_batch"), [(False, 1), (True, 2)])
def test_fresh_noise_for_g_draws_a_second_batch_for_the_g_step(
    fresh_noise_for_g, forwards_per_batch
):
    model = tiny_gan([], fresh_noise_for_g=fresh_noise_for_g)
    calls = []
    model.generator.register_forward_hook(lambda module, args, out: calls.append(len(out)))
    fit_on_random_images(model, batches=3)
    assert len(calls) == 3 * forwards_per_batch


@pytest.mark.parametrize(
    ("loss", "logged"),
    [
        (NonSaturatingLoss(), {"train/d_real", "train/d_fake"}),
        (HingeLoss(), {"train/d_real_score", "train/d_fake_score"}),
        (WassersteinLoss(n_critic=1), {"train/d_real_score", "train/d_fake_score"}),
    ],
)
def test_d_is_summarised_as_probabilities_only_where_its_scores_are_logits(loss, logged):
    model = tiny_gan([], loss=loss)
    metrics = fit_on_random_images(model, batches=2)
    summary = {k for k in metrics if k.startswith(("train/d_real", "train/d_fake"))}
    assert summary == logged
    if "train/d_real" in logged:
        assert 0 < metrics["train/d_real"] < 1


def test_the_ema_generator_gets_batch_norm_statistics_of_its_own():
    """Before sampling, the EMA generator's BatchNorm running statistics are recomputed from
    its own activations (not copied from the live G), from noise of its own seeded RNG."""
    torch.manual_seed(0)
    model = tiny_gan([], ema_decay=0.9)
    fit_on_random_images(model, batches=3)
    averaged, ema = model.generator_ema.averaged, model.generator_ema
    first_norm = averaged.net[1]  # the BatchNorm after the first transposed convolution
    assert ema.batch_norm_stale and torch.equal(
        first_norm.running_mean, model.generator.net[1].running_mean
    )  # copied from the live G until then

    z = torch.randn(4, 8)
    global_rng = torch.get_rng_state()
    model.generate(z)
    assert torch.equal(torch.get_rng_state(), global_rng)  # the training RNG is untouched
    assert not ema.batch_norm_stale

    # The same computation by hand: the mean of the first layer's outputs over 8 x 256 samples.
    rng = torch.Generator().manual_seed(model.noise_seed ^ 0x5EED)
    with torch.no_grad():
        outputs = [averaged.net[0](torch.randn(256, 8, 1, 1, generator=rng)) for _ in range(8)]
    expected = torch.cat(outputs).mean(dim=(0, 2, 3))
    assert torch.allclose(first_norm.running_mean, expected, atol=1e-5)
    assert not torch.allclose(first_norm.running_mean, model.generator.net[1].running_mean)

    images = model.generate(z)  # not stale: no recomputation, the same images
    model.recalibrate_ema_batch_norm()
    assert torch.equal(model.generate(z), images)  # deterministic for the same weights


def test_training_logs_tensors_and_the_bar_reads_them_every_n_batches(monkeypatch):
    """A logged Python number is copied from the host (on a GPU a wait for all queued work), and
    so is every read of the bar's values: neither may happen at every step. Nor may Lightning's
    own conversion of `prog_bar=True` values, which runs after every batch (logged at it or not):
    the bar picks the values it shows out of the callback metrics instead."""
    import lightning as L
    from lightning.pytorch.callbacks import RichProgressBar
    from lightning.pytorch.trainer.connectors.logger_connector import result
    from torch.utils.data import DataLoader, TensorDataset

    from gan.callbacks import ImagesPerSecond, ProgressBar

    numbers, reads, conversions = [], [], []
    to_tensor = L.LightningModule._LightningModule__to_tensor
    convert = result.convert_tensors_to_scalars

    def record_numbers(self, value, name):
        if not isinstance(value, torch.Tensor):
            numbers.append(name)
        return to_tensor(self, value, name)

    get_metrics = RichProgressBar.get_metrics
    monkeypatch.setattr(L.LightningModule, "_LightningModule__to_tensor", record_numbers)
    monkeypatch.setattr(
        RichProgressBar, "get_metrics", lambda *args: reads.append(1) or get_metrics(*args)
    )
    monkeypatch.setattr(
        result, "convert_tensors_to_scalars", lambda x: conversions.append(x) or convert(x)
    )
    images = torch.rand(24, 1, 28, 28) * 2 - 1
    loader = DataLoader(TensorDataset(images, torch.zeros(24, dtype=torch.long)), batch_size=4)
    bar = ProgressBar(metrics_every_n_batches=3)
    trainer = L.Trainer(
        accelerator="cpu", max_epochs=1, logger=False, enable_checkpointing=False,
        callbacks=[bar, ImagesPerSecond()], enable_model_summary=False, log_every_n_steps=3,
    )  # fmt: skip
    trainer.fit(tiny_gan([]), loader)
    assert numbers == []
    assert conversions == []  # nothing logged with prog_bar=True
    assert len(reads) == 4  # of 6 batches: the first (nothing shown yet), 3, 6, the epoch's end
    shown = bar.get_metrics(trainer, trainer.lightning_module)
    assert {"train/loss_d", "train/loss_g", "train/images_per_s"} <= shown.keys()
    assert all(isinstance(shown[name], float) for name in ("train/loss_d", "train/loss_g"))
    assert "train/d_real" not in shown  # logged, but not among the names the bar shows
    assert "train/d_real" in ProgressBar(show=["train/d_*"]).get_metrics(
        trainer, trainer.lightning_module
    )
    with pytest.raises(ValueError, match="metrics_every_n_batches=0"):
        ProgressBar(metrics_every_n_batches=0)


def test_the_configured_bar_shows_the_default_names_and_takes_an_override(make_cfg):
    """conf/callbacks/default.yaml's `show` and `refresh_rate` are the code's defaults, and
    overrides reach the bar (a bar that ignored them would keep the defaults)."""
    import inspect

    from hydra.utils import instantiate

    from gan.callbacks import SHOWN_IN_BAR, ProgressBar

    default = inspect.signature(ProgressBar).parameters["refresh_rate"].default
    bar = instantiate(make_cfg(fast=False).callbacks.progress_bar)
    assert bar.show == SHOWN_IN_BAR and bar.refresh_rate == default == 10
    overrides = ["callbacks.progress_bar.show=[train/d_*]", "callbacks.progress_bar.refresh_rate=2"]
    bar = instantiate(make_cfg(*overrides, fast=False).callbacks.progress_bar)
    assert bar.show == ("train/d_*",) and bar.refresh_rate == 2


def test_training_steps_log_only_the_batches_lightning_writes(monkeypatch, tmp_path):
    """A training-step value logged between two of Lightning's writes is overwritten unwritten,
    yet each `self.log` costs host time: the steps log at the batches written and at each epoch's
    last (for the bar and `callback_metrics`), and what is written and what the run ends on are
    what logging every batch gives."""
    import csv

    import lightning as L
    from lightning.pytorch.loggers import CSVLogger
    from torch.utils.data import DataLoader, TensorDataset

    from gan.callbacks import ImagesPerSecond

    logged_at = []  # the global batch of every self.log call
    log = L.LightningModule.log

    def record(self, name, *args, **kwargs):
        logged_at.append(self.trainer.fit_loop.epoch_loop._batches_that_stepped)
        return log(self, name, *args, **kwargs)

    monkeypatch.setattr(L.LightningModule, "log", record)

    def fit(every: int) -> tuple[dict[int, dict[str, str]], dict[str, float]]:
        L.seed_everything(0)
        images = torch.rand(24, 1, 28, 28) * 2 - 1
        labels = torch.zeros(24, dtype=torch.long)
        loader = DataLoader(TensorDataset(images, labels), batch_size=4)
        logger = CSVLogger(tmp_path, name=f"every{every}")
        trainer = L.Trainer(
            accelerator="cpu", max_epochs=2, logger=logger, log_every_n_steps=every,
            enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
            callbacks=[ImagesPerSecond()],
        )  # fmt: skip
        trainer.fit(tiny_gan([]), loader)
        with open(Path(logger.log_dir) / "metrics.csv") as file:
            rows = [row for row in csv.DictReader(file) if row.get("train/loss_d")]
        final = {key: float(value) for key, value in trainer.callback_metrics.items()}
        return {int(row["step"]): row for row in rows}, final

    every_batch, final = fit(1)
    assert sorted(set(logged_at)) == list(range(12))  # 2 epochs of 6 batches
    logged_at.clear()
    every_fourth, final_of_fourth = fit(4)
    assert sorted(set(logged_at)) == [3, 5, 7, 11]  # written: 3, 7, 11; epochs end at 5 and 11
    assert sorted(every_fourth) == [3, 7, 11]
    keys = ("train/loss_d", "train/loss_g", "train/d_real", "train/d_fake", "train/images_seen")
    for step, row in every_fourth.items():
        assert {key: row[key] for key in keys} == {key: every_batch[step][key] for key in keys}
    assert {key: final_of_fourth[key] for key in keys} == {key: final[key] for key in keys}
