"""Neural Statistician (issue 6, in progress): the statistic network, the bound, classification, the synthetic sets."""

import numpy as np
import pytest
import torch

from engines.statistician import NeuralStatistician, StatisticianConfig, gaussian_kl
from engines.statistician.synthetic import FAMILIES, sample_sets


def small(**kw) -> NeuralStatistician:
    torch.manual_seed(0)
    return NeuralStatistician(StatisticianConfig(**{"x_dim": 12, "hidden": 32, "c_dim": 4, "z_dim": 3, **kw}))


def test_context_is_order_free_and_takes_any_set_size():
    m = small()
    x = torch.rand(2, 7, 12).round()
    mu, lv = m.context(x)
    mu2, lv2 = m.context(x[:, torch.randperm(7)])
    assert torch.allclose(mu, mu2, atol=1e-6) and torch.allclose(lv, lv2, atol=1e-6)
    for k in (1, 5, 30):
        assert m.context(torch.rand(3, k, 12).round())[0].shape == (3, 4)


def test_gaussian_kl_matches_torch_distributions():
    g = torch.Generator().manual_seed(0)
    mq, lq, mp, lp = (torch.randn(5, 4, generator=g) for _ in range(4))
    ref = torch.distributions.kl_divergence(
        torch.distributions.Normal(mq, (0.5 * lq).exp()), torch.distributions.Normal(mp, (0.5 * lp).exp())
    ).sum(-1)
    assert torch.allclose(gaussian_kl(mq, lq, mp, lp), ref, atol=1e-5)


@pytest.mark.parametrize("likelihood, layers", [("bernoulli", 2), ("gaussian", 1)])
def test_loss_is_the_per_item_negative_bound(likelihood, layers):
    m = small(likelihood=likelihood, z_layers=layers)
    x = torch.rand(4, 6, 12)
    x = x.round() if likelihood == "bernoulli" else x
    out = m(x, generator=torch.Generator().manual_seed(1))
    assert torch.isclose(out["loss"], out["recon"] + out["kl_z"] + out["kl_c"], atol=1e-5)
    mu, lv = m.context(x)
    kl_c = gaussian_kl(mu, lv, torch.zeros_like(mu), torch.zeros_like(lv))
    assert torch.isclose(out["kl_c"], (kl_c / 6).mean(), atol=1e-6)  # the context KL shared over the set
    assert m.generate(mu, 5).shape == (4, 5, 12)


@pytest.mark.parametrize("likelihood", ["bernoulli", "gaussian"])
def test_conv_decoder_writes_images_channel_by_channel(likelihood):
    # 6 x 6 images: the transposed convolutions make 8 x 8, cropped to 6 x 6; a Gaussian's μ is channel 0
    m = small(x_dim=36, network="conv", decoder="conv", likelihood=likelihood)
    x = torch.rand(3, 4, 36)
    x = x.round() if likelihood == "bernoulli" else x
    out = m(x, generator=torch.Generator().manual_seed(1))
    assert torch.isclose(out["loss"], out["recon"] + out["kl_z"] + out["kl_c"], atol=1e-5)
    h = torch.randn(2, 4 + 2 * 3)
    d = m.decoder
    maps = d.net(d.fc(h).reshape(-1, 64, d.n, d.n))[..., :6, :6]
    y = d(h)
    assert y.shape == (2, 36 * (2 if likelihood == "gaussian" else 1))
    assert torch.allclose(y[:, :36].reshape(2, 6, 6), maps[:, 0], atol=1e-6)
    assert m.generate(m.context(x)[0], 5).shape == (3, 5, 36)
    with pytest.raises(ValueError, match="square"):
        small(x_dim=12, decoder="conv")


def test_a_query_is_closest_to_the_singleton_set_holding_it():
    m = small()
    items = torch.rand(5, 12).round()
    kl = m.classify(items, [items[i : i + 1] for i in range(5)])
    assert kl.shape == (5, 5) and torch.allclose(kl.diagonal(), torch.zeros(5), atol=1e-5)
    assert (kl.argmin(1) == torch.arange(5)).all()


def test_synthetic_families_have_the_asked_mean_and_variance():
    rng = np.random.default_rng(0)
    x, fam, mv = sample_sets(400, 4000, rng)
    assert x.shape == (400, 4000, 1) and set(fam) == set(range(len(FAMILIES)))
    assert np.allclose(x[..., 0].mean(1), mv[:, 0], atol=0.12)
    assert np.allclose(x[..., 0].var(1), mv[:, 1], rtol=0.2)


def test_training_on_synthetic_sets_lowers_the_bound():
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    cfg = StatisticianConfig(x_dim=1, likelihood="gaussian", hidden=32, c_dim=3, z_dim=2, z_layers=1, sample_size=20)
    m = NeuralStatistician(cfg)
    opt = torch.optim.Adam(m.parameters(), 3e-3)
    val = torch.from_numpy(sample_sets(64, 20, np.random.default_rng(9))[0])
    with torch.no_grad():
        before = m(val, generator=torch.Generator().manual_seed(0))["loss"].item()
    for _ in range(150):
        out = m(torch.from_numpy(sample_sets(32, 20, rng)[0]))
        opt.zero_grad()
        out["loss"].backward()
        opt.step()
    with torch.no_grad():
        after = m(val, generator=torch.Generator().manual_seed(0))["loss"].item()
    assert after < before - 0.2, (before, after)
