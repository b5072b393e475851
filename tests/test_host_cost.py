"""gan.host_cost: the framework's host cost per step, with Lightning's pieces bypassed one at a
time."""

from __future__ import annotations

import json
from pathlib import Path

import lightning as L
import pytest
import torch
from hydra.utils import instantiate

from gan.bench import compose
from gan.host_cost import BYPASSES, HOST_BOUND, bypassed, callgrind_total, main, table
from gan.module import GAN


def trained_state(variant: str, root: Path) -> dict[str, torch.Tensor]:
    """G's and D's weights (and every other tensor of the module) after 4 steps of the fast path
    on the host-bound DCGAN, with `variant`'s piece bypassed."""
    cfg = compose("cpu", 4, True, 0, HOST_BOUND)
    L.seed_everything(0, verbose=False)
    data, model = instantiate(cfg.data), instantiate(cfg.model)
    trainer = instantiate(
        cfg.trainer, default_root_dir=root, max_epochs=1, limit_train_batches=4, logger=False,
        callbacks=[], enable_checkpointing=False, enable_progress_bar=False,
        enable_model_summary=False,
    )  # fmt: skip
    with bypassed(BYPASSES.get(variant)):
        trainer.fit(model, datamodule=data)
    return {name: tensor.clone() for name, tensor in model.state_dict().items()}


@pytest.mark.slow
def test_every_bypass_does_the_same_arithmetic(tmp_path):
    """A bypass removes Lightning's wrapping, not work: G's and D's weights after 4 steps are the
    same bit for bit, so what a bypassed run saves is what the wrapper costs."""
    reference = trained_state("fast", tmp_path)
    assert any(name.startswith("discriminator.") for name in reference)
    initial = compose("cpu", 4, True, 0, HOST_BOUND)
    L.seed_everything(0, verbose=False)
    untrained = instantiate(initial.model).state_dict()
    assert not torch.equal(reference["generator.net.0.weight"], untrained["generator.net.0.weight"])
    for variant in BYPASSES:
        state = trained_state(variant, tmp_path)
        for name, tensor in reference.items():
            assert torch.equal(state[name], tensor), f"{variant}: {name} differs"


def test_a_bypass_is_undone_when_its_block_ends():
    def pieces() -> list:
        module = L.LightningModule
        return [module.manual_backward, module.optimizers, module.log, module.log_dict,
                GAN._check_finite]  # fmt: skip

    before = pieces()
    for piece in BYPASSES.values():
        with bypassed(piece):
            assert pieces() != before, piece
        assert pieces() == before, piece


def test_callgrind_totals_are_read(tmp_path):
    out = tmp_path / "callgrind.out"
    out.write_text("version: 1\ncreator: callgrind-3.19.0\nevents: Ir\nsummary: 474550507\n")
    assert callgrind_total(out) == 474_550_507
    # counting switched on mid-run, as gan.host_cost does: the summary is 0, the totals count
    out.write_text("events: Ir\nsummary: 0\nfn=main\n1 10\ntotals: 474550507\n")
    assert callgrind_total(out) == 474_550_507
    out.write_text("events: Ir\nfn=main\n1 10\ntotals: 421373415\n")
    assert callgrind_total(out) == 421_373_415
    out.write_text("not callgrind's\n")
    with pytest.raises(ValueError, match="no totals line"):
        callgrind_total(out)


def test_the_table_gives_each_variants_saving_against_fast():
    counted = table([
        {"variant": "fast", "instructions_per_step": 23.73e6},
        {"variant": "plain-fast", "instructions_per_step": 21.07e6},
    ])  # fmt: skip
    assert "| fast | 23.73 M | 0.00 M |" in counted
    assert "| plain-fast | 21.07 M | 2.66 M |" in counted
    timed = table([{"variant": "fast", "ms_per_step": 2.5}, {"variant": "fast-bare-step",
                                                              "ms_per_step": 2.0}])  # fmt: skip
    assert "| fast-bare-step | 2.000 | 0.500 |" in timed


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--variants", "fast,slow"], "unknown ['slow']"),
        (["--steps", "0"], "must be >= 1"),
    ],
)
def test_bad_arguments_are_refused_by_name(argv, message, capsys):
    with pytest.raises(SystemExit):
        main(argv)
    assert message in capsys.readouterr().err


@pytest.mark.slow
def test_a_timed_run_writes_every_variant(tmp_path, capsys):
    out = tmp_path / "host_cost.json"
    argv = ["--variants", "fast,plain-fast", "--warmup", "2", "--steps", "2", "--repeats", "1"]
    assert main([*argv, "--out", str(out)]) == 0
    record = json.loads(out.read_text())
    assert [r["variant"] for r in record["results"]] == ["fast", "plain-fast"]
    assert all(r["ms_per_step"] > 0 for r in record["results"])
    assert record["batch_size"] == 2 and "model.generator.width=1" in record["overrides"]
    assert "| plain-fast |" in capsys.readouterr().out


def test_a_bypass_of_the_grad_scalers_wrappers_is_refused_under_fp16_only():
    """fp16 scales the loss inside Lightning's wrappers: without them the step would differ;
    bf16 has no scaler."""
    from gan.host_cost import measure

    with pytest.raises(ValueError, match="fast-bare-step: precision 16-mixed scales the loss"):
        measure("fast-bare-step", "cpu", 2, 1, 1, 1, ["trainer.precision=16-mixed"], False)
    bf16 = measure("fast-bare-step", "cpu", 2, 1, 1, 1, ["trainer.precision=bf16-mixed",
                                                         *HOST_BOUND], False)  # fmt: skip
    assert bf16["variant"] == "fast-bare-step" and bf16["ms_per_step"] > 0
