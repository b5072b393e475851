import pytest
import torch

from gan.ema import EMA, ema_decay_at


def net_with(value: float) -> torch.nn.Module:
    net = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.BatchNorm1d(2))
    with torch.no_grad():
        for p in net.parameters():
            p.fill_(value)
        net[1].running_mean.fill_(value)
    return net


def test_ema_without_warmup_matches_the_closed_form():
    decay, start, targets = 0.9, 1.0, [2.0, -1.0, 5.0, 0.5]
    ema = EMA(net_with(start), decay, warmup=False)
    for value in targets:
        ema.update(net_with(value))
    k = len(targets)
    expected = decay**k * start + (1 - decay) * sum(
        decay ** (k - 1 - i) * value for i, value in enumerate(targets)
    )
    for p in ema.averaged.parameters():
        assert torch.allclose(p, torch.full_like(p, expected), atol=1e-6)
    assert ema.averaged[1].running_mean.tolist() == [0.5, 0.5]  # buffers copied, not averaged
    assert int(ema.num_updates) == k


def test_an_update_is_bit_for_bit_a_lerp_per_tensor():
    """The multi-tensor update does exactly what one `lerp_` and one `copy_` per tensor do."""
    torch.manual_seed(0)
    network = torch.nn.Sequential(
        torch.nn.Conv2d(3, 8, 3), torch.nn.BatchNorm2d(8), torch.nn.Conv2d(8, 1, 3)
    )
    ema = EMA(network, 0.999)
    reference = [p.clone() for p in ema.averaged.parameters()]
    for step in range(3):
        with torch.no_grad():
            for p in network.parameters():
                p.add_(torch.randn_like(p))
        network(torch.randn(4, 3, 8, 8))  # moves BatchNorm's statistics
        weight = 1.0 - ema_decay_at(step, 0.999)
        for average, current in zip(reference, network.parameters(), strict=True):
            average.lerp_(current.detach(), weight)
        ema.update(network)
    for average, expected in zip(ema.averaged.parameters(), reference, strict=True):
        assert torch.equal(average, expected)
    for average, current in zip(ema.averaged.buffers(), network.buffers(), strict=True):
        assert torch.equal(average, current)


def test_a_network_without_buffers_is_averaged():
    """An MLP generator has weights and no buffers (BatchNorm's statistics)."""
    ema = EMA(torch.nn.Linear(2, 2), 0.5, warmup=False)
    target = torch.nn.Linear(2, 2)
    expected = [a.detach().lerp(b.detach(), 0.5) for a, b in
                zip(ema.averaged.parameters(), target.parameters(), strict=True)]  # fmt: skip
    ema.update(target)
    for average, value in zip(ema.averaged.parameters(), expected, strict=True):
        assert torch.equal(average, value)


def test_an_update_from_another_network_is_refused():
    ema = EMA(net_with(1.0), 0.99)
    with pytest.raises(ValueError, match="averaged network has 4 tensors, the network 2"):
        ema.update(torch.nn.Linear(2, 2))


def test_ema_warmup_ramps_the_decay():
    assert [ema_decay_at(t, 0.999) for t in (0, 1, 90)] == pytest.approx([0.1, 2 / 11, 0.91])
    assert ema_decay_at(100_000, 0.999) == 0.999
    ema = EMA(net_with(0.0), 0.999, warmup=True)
    ema.update(net_with(10.0))  # decay 0.1: 0.1 * 0 + 0.9 * 10
    assert ema.averaged[0].weight[0, 0].item() == pytest.approx(9.0)


def test_ema_copy_is_frozen():
    ema = EMA(net_with(1.0), 0.99)
    assert not any(p.requires_grad for p in ema.averaged.parameters())


def test_bad_decay_is_refused():
    with pytest.raises(ValueError, match=r"decay=1\.0"):
        EMA(net_with(0.0), 1.0)


def test_a_loaded_ema_continues_the_warmup_from_the_saved_count():
    """The count is kept as a Python int (no wait for the device per update) and reread from the
    `num_updates` buffer after loading, so a resumed EMA uses the decay of its step."""
    trained = EMA(net_with(0.0), 0.999, warmup=True)
    for _ in range(90):
        trained.update(net_with(0.0))
    resumed = EMA(net_with(0.0), 0.999, warmup=True)
    resumed.update(net_with(0.0))  # its own count is now 1
    resumed.load_state_dict(trained.state_dict())
    resumed.update(net_with(10.0))  # step 90: decay 0.91, so 0.09 * 10
    assert resumed.averaged[0].weight[0, 0].item() == pytest.approx(0.9)
    assert int(resumed.num_updates) == 91


def test_an_ema_can_keep_the_live_networks_statistics_for_comparison():
    ema = EMA(net_with(0.0), 0.9)
    ema.use_statistics_of(net_with(3.0))
    assert ema.averaged[1].running_mean.tolist() == [3.0, 3.0] and not ema.batch_norm_stale
