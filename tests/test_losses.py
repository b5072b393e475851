import math

import pytest
import torch

from gan.losses import MinimaxLoss, NonSaturatingLoss


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
