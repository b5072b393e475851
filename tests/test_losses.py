import functools
import math

import pytest
import torch

from gan.losses import (
    HingeLoss,
    LeastSquaresLoss,
    MinimaxLoss,
    NonSaturatingLoss,
    WassersteinGPLoss,
    WassersteinLoss,
    gradient_penalty,
    r1_penalty,
)
from gan.nets.batch_view import pack_samples
from tests.conftest import fit_on_random_images


def test_bce_discriminator_loss_is_2_ln_2_at_zero_logits():
    zeros = torch.zeros(8)
    assert NonSaturatingLoss().d_loss(zeros, zeros).item() == pytest.approx(2 * math.log(2))


def test_bce_closed_form_at_chosen_logits():
    real, fake = torch.tensor([2.0, -1.0]), torch.tensor([0.5, 3.0])
    sig = torch.sigmoid
    expected_d = -(torch.log(sig(real)).mean() + torch.log(1 - sig(fake)).mean())
    expected_g = -torch.log(sig(fake)).mean()
    loss = NonSaturatingLoss()
    assert loss.d_loss(real, fake).item() == pytest.approx(expected_d.item(), rel=1e-6)
    assert loss.g_loss(fake).item() == pytest.approx(expected_g.item(), rel=1e-6)


def test_minimax_generator_minimises_log_one_minus_d():
    fake = torch.tensor([-2.0, 0.0, 1.5])
    expected = torch.log(1 - torch.sigmoid(fake)).mean()
    assert MinimaxLoss().g_loss(fake).item() == pytest.approx(expected.item(), rel=1e-6)
    # Same discriminator game as the non-saturating loss.
    real = torch.tensor([1.0, 2.0, 3.0])
    assert MinimaxLoss().d_loss(real, fake) == NonSaturatingLoss().d_loss(real, fake)


def test_minimax_saturates_where_non_saturating_does_not():
    # D confidently rejects the fakes: the minimax gradient vanishes, the non-saturating one not.
    fake = torch.full((4,), -8.0, requires_grad=True)
    (grad_minimax,) = torch.autograd.grad(MinimaxLoss().g_loss(fake), fake)
    (grad_ns,) = torch.autograd.grad(NonSaturatingLoss().g_loss(fake), fake)
    assert grad_minimax.abs().max() < 1e-3 < grad_ns.abs().min()


def test_sigmoid_bce_path_matches_logits_path():
    real, fake = torch.randn(16), torch.randn(16)
    logits, probabilities = (
        NonSaturatingLoss(from_logits=True),
        NonSaturatingLoss(from_logits=False),
    )
    assert probabilities.d_loss(real, fake).item() == pytest.approx(
        logits.d_loss(real, fake).item()
    )
    assert probabilities.g_loss(fake).item() == pytest.approx(logits.g_loss(fake).item())


def test_n_critic_must_be_positive():
    with pytest.raises(ValueError, match="n_critic=0"):
        NonSaturatingLoss(n_critic=0)


def test_hinge_closed_form_at_chosen_logits():
    real, fake = torch.tensor([2.0, 0.5, -1.0]), torch.tensor([-2.0, 0.0, 1.0])
    loss = HingeLoss()
    # relu(1 - real) = [0, 0.5, 2]; relu(1 + fake) = [0, 1, 2]
    assert loss.d_loss(real, fake).item() == pytest.approx(2.5 / 3 + 3 / 3)
    assert loss.g_loss(fake).item() == pytest.approx(1 / 3)


def test_least_squares_closed_form_at_chosen_logits():
    real, fake = torch.tensor([1.0, 3.0]), torch.tensor([0.0, 2.0])
    loss = LeastSquaresLoss()
    # real: (0^2 + 2^2) / 2 = 2; fake: (0 + 4) / 2 = 2; D = 0.5 * 2 + 0.5 * 2
    assert loss.d_loss(real, fake).item() == pytest.approx(2.0)
    # G: 0.5 * ((0 - 1)^2 + (2 - 1)^2) / 2
    assert loss.g_loss(fake).item() == pytest.approx(0.5)


def test_wasserstein_losses_and_clipping():
    real, fake = torch.tensor([3.0, 1.0]), torch.tensor([-1.0, 0.0])
    for loss in (WassersteinLoss(), WassersteinGPLoss()):
        assert loss.d_loss(real, fake).item() == pytest.approx(-0.5 - 2.0)
        assert loss.g_loss(fake).item() == pytest.approx(0.5)
        assert loss.n_critic == 5
    critic = torch.nn.Linear(4, 1)
    with torch.no_grad():
        critic.weight.copy_(torch.tensor([[0.5, -0.5, 0.001, -0.002]]))
    WassersteinLoss(clip_value=0.01).after_d_step(critic)
    assert critic.weight[0].tolist() == pytest.approx([0.01, -0.01, 0.001, -0.002])


class LinearCritic(torch.nn.Module):
    """f(x) = <w, x> + b, whose input gradient is w everywhere."""

    def __init__(self, shape: tuple[int, ...], scores_2d: bool = False) -> None:
        super().__init__()
        self.w = torch.nn.Parameter(torch.randn(shape, dtype=torch.float64))
        self.b = torch.nn.Parameter(torch.tensor(0.3, dtype=torch.float64))
        self.scores_2d = scores_2d

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        scores = (x * self.w).flatten(1).sum(1) + self.b  # (B,)
        return scores[:, None] if self.scores_2d else scores


@pytest.mark.parametrize("scores_2d", [False, True])
def test_gradient_penalty_of_a_linear_critic_is_closed_form(scores_2d):
    critic = LinearCritic((1, 4, 4), scores_2d)
    real, fake = torch.randn(6, 1, 4, 4, dtype=torch.float64), torch.randn(6, 1, 4, 4).double()
    norm = critic.w.detach().norm()
    penalty = gradient_penalty(critic, real, fake, weight=7.0)
    assert penalty.item() == pytest.approx(7.0 * (norm.item() - 1) ** 2, rel=1e-12)
    # Differentiable in the critic's parameters: d/dw = 2 * 7 * (|w| - 1) * w / |w|.
    (grad_w,) = torch.autograd.grad(penalty, critic.w)
    expected = 2 * 7.0 * (norm - 1) * critic.w.detach() / norm
    assert torch.allclose(grad_w, expected, rtol=1e-10)


@pytest.mark.parametrize("scores_2d", [False, True])
def test_r1_penalty_of_a_linear_critic_is_closed_form(scores_2d):
    critic = LinearCritic((1, 4, 4), scores_2d)
    real = torch.randn(5, 1, 4, 4, dtype=torch.float64)
    squared_norm = critic.w.detach().pow(2).sum().item()
    penalty = r1_penalty(critic, real, gamma=3.0)
    assert penalty.item() == pytest.approx(3.0 / 2 * squared_norm, rel=1e-12)
    (grad_w,) = torch.autograd.grad(penalty, critic.w)
    assert torch.allclose(grad_w, 3.0 * critic.w.detach(), rtol=1e-10)


def test_penalties_take_a_conditional_critic_through_partial():
    weights = torch.randn(3, 16, dtype=torch.float64)

    def conditional(x: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return (x.flatten(1) * weights[labels]).sum(1)

    labels = torch.tensor([0, 1, 2, 2])
    real = torch.randn(4, 1, 4, 4, dtype=torch.float64)
    penalty = r1_penalty(functools.partial(conditional, labels=labels), real, gamma=2.0)
    expected = weights[labels].pow(2).sum(1).mean()
    assert penalty.item() == pytest.approx(expected.item(), rel=1e-12)


def test_r1_is_added_to_any_loss_and_flags_input_gradients():
    critic = LinearCritic((1, 4, 4))
    real = torch.randn(5, 1, 4, 4, dtype=torch.float64)
    for loss_type in (NonSaturatingLoss, HingeLoss, LeastSquaresLoss, WassersteinLoss):
        assert not loss_type().penalises_input_gradients
        assert loss_type().d_penalty(critic, real, real).item() == 0
        with_r1 = loss_type(r1_gamma=2.0)
        assert with_r1.penalises_input_gradients
        expected = r1_penalty(critic, real, 2.0).item()
        assert with_r1.d_penalty(critic, real, real).item() == pytest.approx(expected)
    assert WassersteinGPLoss().penalises_input_gradients
    assert not WassersteinGPLoss(gp_weight=0).penalises_input_gradients


class PackedLinearCritic(torch.nn.Module):
    """D(pack) = <w, pack>: scores `pack` consecutive images at once (PacGAN), linear in the
    whole pack's pixels, with ||w|| = `norm`: exactly `norm`-Lipschitz in the pack."""

    def __init__(self, pack: int, pixels: int, norm: float = 1.0) -> None:
        super().__init__()
        self.pack = pack
        w = torch.randn(
            pack * pixels, generator=torch.Generator().manual_seed(pack), dtype=torch.float64
        )
        self.w = torch.nn.Parameter(w / w.norm() * norm)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return pack_samples(x.flatten(1), self.pack) @ self.w  # (B / pack,)


@pytest.mark.parametrize("pack", [2, 3, 4])
def test_gradient_penalty_is_per_pack_zero_for_a_1_lipschitz_packed_critic(pack):
    """Per image, each image's share of w has norm below 1, so a 1-Lipschitz packed critic would
    be penalised (pack 2: 10 (1/sqrt(2) - 1)^2 = 0.86 for evenly split weights); per pack, 0."""
    critic = PackedLinearCritic(pack, 16)
    real, fake = torch.randn(2, 6 * pack, 1, 4, 4, dtype=torch.float64)
    assert gradient_penalty(critic, real, fake, pack=pack).item() == pytest.approx(0, abs=1e-20)
    steep = PackedLinearCritic(pack, 16, norm=3.0)
    assert gradient_penalty(steep, real, fake, pack=pack).item() == pytest.approx(10 * 2**2)
    loss = WassersteinGPLoss(n_critic=1)  # in float32, as losses compute
    assert loss.d_penalty(critic.float(), real, fake, pack=pack).item() == pytest.approx(
        0, abs=1e-9
    )


def test_gradient_penalty_draws_one_interpolation_weight_per_pack():
    seen = []

    def critic(x: torch.Tensor) -> torch.Tensor:
        seen.append(x.detach())
        return pack_samples(x.flatten(1), 3).sum(1)

    real, fake = torch.ones(12, 1, 2, 2), torch.zeros(12, 1, 2, 2)  # x_hat = a, image by image
    gradient_penalty(critic, real, fake, pack=3)
    weights = seen[0][:, 0, 0, 0].reshape(4, 3)  # (packs, pack)
    assert torch.equal(weights, weights[:, :1].expand(4, 3))  # one a per pack
    assert len(weights[:, 0].unique()) == 4


@pytest.mark.parametrize("pack", [1, 2, 4])
def test_r1_of_a_packed_critic_is_gamma_over_2_times_the_packs_squared_norm(pack):
    """Not divided by the pack size: R1 of the packed linear critic is gamma / 2 ||w||^2."""
    critic = PackedLinearCritic(pack, 16, norm=2.0)
    real = torch.randn(4 * pack, 1, 4, 4, dtype=torch.float64)
    assert r1_penalty(critic, real, gamma=3.0, pack=pack).item() == pytest.approx(3.0 / 2 * 4)
    with_r1 = HingeLoss(r1_gamma=3.0)  # in float32, as losses compute
    assert with_r1.d_penalty(critic.float(), real, real, pack=pack).item() == pytest.approx(6.0)


def test_the_gan_module_penalises_a_packed_discriminator_per_pack():
    """Trained with WGAN-GP, a 1-Lipschitz packed critic logs a penalty of 0 on its first step."""
    from gan.module import GAN
    from gan.nets import MLPGenerator

    critic = PackedLinearCritic(2, 28 * 28).float()
    model = GAN(
        MLPGenerator(latent_dim=8, hidden=[16]), critic, WassersteinGPLoss(n_critic=1),
        torch.optim.SGD, functools.partial(torch.optim.SGD, lr=0.0), latent_dim=8, ema_decay=None,
    )  # fmt: skip
    metrics = fit_on_random_images(model, batches=1)
    assert metrics["train/d_penalty"] == pytest.approx(0, abs=1e-8)


# ---- under bf16 mixed precision --------------------------------------------------------------

BF16_CASES = {
    "bce": lambda: NonSaturatingLoss(),
    "bce_sigmoid": lambda: NonSaturatingLoss(from_logits=False),  # the tutorial's nn.BCELoss
    "minimax": lambda: MinimaxLoss(),
    "lsgan": lambda: LeastSquaresLoss(),
    "hinge": lambda: HingeLoss(),
    "wgan": lambda: WassersteinLoss(n_critic=1),
    "wgan_gp": lambda: WassersteinGPLoss(n_critic=1),
    "r1": lambda: HingeLoss(r1_gamma=1.0),
}


def _recording(loss, calls: list) -> None:
    """Record every d_loss / g_loss / d_penalty call of `loss`: (name, args, result)."""
    for name in ("d_loss", "g_loss", "d_penalty"):
        method = getattr(loss, name)

        def record(*args, _method=method, _name=name, **kwargs):
            result = _method(*args, **kwargs)
            calls.append((_name, args, result))
            return result

        setattr(loss, name, record)


@pytest.mark.parametrize("name", BF16_CASES)
def test_every_loss_is_float32_under_bf16_mixed_precision(name):
    """Trained under precision=bf16-mixed on the CPU, every loss and penalty comes out in float32
    and equals its float32 value computed from the same scores outside autocast."""
    import lightning as L
    from torch.utils.data import DataLoader, TensorDataset

    from gan.module import GAN
    from gan.nets import DCGANDiscriminator, DCGANGenerator

    loss, calls = BF16_CASES[name](), []
    _recording(loss, calls)
    torch.manual_seed(0)
    model = GAN(
        DCGANGenerator(latent_dim=8, width=4), DCGANDiscriminator(width=4, norm="none"), loss,
        torch.optim.Adam, torch.optim.Adam, latent_dim=8, ema_decay=None,
    )  # fmt: skip
    images = torch.rand(8, 1, 28, 28) * 2 - 1
    loader = DataLoader(TensorDataset(images, torch.zeros(8, dtype=torch.long)), batch_size=4)
    trainer = L.Trainer(
        accelerator="cpu", precision="bf16-mixed", max_epochs=1, logger=False,
        enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
    )  # fmt: skip
    trainer.fit(model, loader)
    assert {call[0] for call in calls} >= {"d_loss", "g_loss"}
    assert any(
        arg.dtype == torch.bfloat16
        for _, args, _ in calls
        for arg in args[:1]
        if isinstance(arg, torch.Tensor)
    )  # fmt: skip  (D ran in bf16)
    for method, args, result in calls:
        assert result.dtype == torch.float32, (method, result.dtype)
        if method != "d_penalty":  # the penalty calls D again; its value is checked above
            exact = getattr(BF16_CASES[name](), method)(*(a.float() for a in args))
            assert torch.equal(result.detach(), exact.detach()), method


def test_the_tutorials_sigmoid_does_not_saturate_in_bf16():
    """sigmoid(8) rounds to 1 in bf16, so nn.BCELoss would give a G loss of 0 there."""
    scores = torch.full((4,), 8.0, dtype=torch.bfloat16)
    loss = NonSaturatingLoss(from_logits=False)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        value = loss.g_loss(scores)
    assert value.item() == pytest.approx(-math.log(torch.sigmoid(torch.tensor(8.0)).item()))
    assert value.item() > 0
