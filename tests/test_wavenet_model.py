"""WaveNet model: μ-law, causality, and the cached incremental step against the full forward pass."""

import math

import pytest
import torch

from engines.wavenet import WaveNet, WaveNetConfig, mu_law_decode, mu_law_encode


def test_mu_law_round_trip_within_half_a_step():
    x = torch.linspace(-1, 1, 10001, dtype=torch.float64)
    q = mu_law_encode(x)
    assert q.min() == 0 and q.max() == 255 and mu_law_encode(torch.zeros(1)).item() == 128
    err = (mu_law_decode(q).double() - x).abs()
    # the class width in x at level |y| is dx/dy * 2/μ with dx/dy = ln(1+μ)/μ (1+μ)^|y|; the error is
    # at most half the width of the wider neighbouring class
    mu = 255
    y = torch.log1p(mu * x.abs()) / math.log1p(mu)
    half_step = 0.5 * (2 / mu) * math.log1p(mu) / mu * (1 + mu) ** (y + 1 / mu)
    assert (err <= half_step + 1e-6).all()
    assert err.max() > 0.02 and err[x.abs() < 0.01].max() < 3e-4  # fine steps near silence: μ-law's point


def test_receptive_field():
    cfg = WaveNetConfig(layers_per_stack=10, stacks=2)
    assert cfg.receptive_field == 2 * 1023 + 1


def _model(**kw):
    torch.manual_seed(0)
    cfg = WaveNetConfig(layers_per_stack=4, stacks=2, residual_channels=8, gate_channels=8, skip_channels=16,
                        end_channels=16, speaker_dim=4, hop=5, **kw)  # fmt: skip
    return WaveNet(cfg).double().eval()


@pytest.mark.parametrize(
    "kw", [{}, {"n_speakers": 3}, {"local_channels": 6}, {"n_speakers": 3, "local_channels": 6}],
    ids=["plain", "global", "local", "both"],
)  # fmt: skip
def test_incremental_step_equals_full_forward(kw):
    m = _model(**kw)
    B, T = 2, 120
    q = torch.randint(0, 256, (B, T))
    speaker = torch.tensor([0, 2]) if kw.get("n_speakers") else None
    frames = torch.randn(B, 6, T // 5, dtype=torch.float64) if kw.get("local_channels") else None
    with torch.no_grad():
        full = m.logits(q, speaker, frames)  # (B, 256, T)
        h = m.speaker(speaker) if speaker is not None else None
        y = m.upsample(frames, T) if frames is not None else None
        state = m.init_state(B)
        prev = torch.full((B,), 128)
        for t in range(T):
            step = m.step(prev, state, t, h, None if y is None else y[:, :, t])
            assert (step - full[:, :, t]).abs().max() < 1e-4, f"position {t}"
            prev = q[:, t]


def test_causal_output_ignores_the_future():
    m = _model()
    q = torch.randint(0, 256, (1, 80))
    q2 = q.clone()
    q2[0, 50:] = torch.randint(0, 256, (30,))
    with torch.no_grad():
        a, b = m.logits(q), m.logits(q2)
    assert torch.equal(a[..., :51], b[..., :51])  # position 50 sees q_{<50} only
    assert not torch.equal(a[..., 51:], b[..., 51:])


@pytest.mark.parametrize("kw", [{}, {"n_speakers": 3, "local_channels": 6}], ids=["plain", "both"])
def test_cached_and_naive_generation_draw_the_same_audio(kw):
    m = _model(**kw)
    n = 70  # longer than the test model's receptive field (31), so the naive window slides
    speaker = torch.tensor([1, 2]) if kw else None
    frames = torch.randn(2, 6, 14, dtype=torch.float64) if kw else None
    chunks = list(m.generate(n, batch=2, speaker=speaker, frames=frames, chunk=32,
                             generator=torch.Generator().manual_seed(5)))  # fmt: skip
    assert [c.shape[1] for c in chunks] == [32, 32, 6]
    cached = torch.cat(chunks, dim=1)
    naive = m.generate_naive(n, batch=2, speaker=speaker, frames=frames, generator=torch.Generator().manual_seed(5))
    assert torch.equal(cached, naive)
    assert len(torch.unique(cached)) > 10  # an untrained model samples widely, not a constant


def test_widening_the_gates_keeps_the_function_and_the_new_units_learn():
    m = _model(n_speakers=3, local_channels=6)
    q = torch.randint(0, 256, (2, 150))
    speaker, frames = torch.tensor([0, 2]), torch.randn(2, 6, 30, dtype=torch.float64)
    with torch.no_grad():
        before = m.logits(q, speaker, frames)
    m.widen_gates(12, torch.Generator().manual_seed(1))
    assert m.cfg.gate_channels == 12 and m.layers[0].conv.weight.shape == (24, 8, 2)
    assert m.layers[0].residual.weight.shape == (8, 12, 1) and m.layers[0].cond_local.weight.shape == (24, 6, 1)
    with torch.no_grad():
        assert (m.logits(q, speaker, frames) - before).abs().max() < 1e-12  # the same function
        state, prev = m.init_state(2), torch.full((2,), 128)  # and the cached step agrees with it
        h, y = m.speaker(speaker), m.upsample(frames, 150)
        for t in range(150):
            assert (m.step(prev, state, t, h, y[:, :, t]) - before[:, :, t]).abs().max() < 1e-9, t
            prev = q[:, t]
    new_in = m.layers[3].conv.weight[8:12]  # the new filter units' input weights: live, not zero
    assert new_in.abs().min() > 0
    m.train()
    opt = torch.optim.Adam(m.parameters(), lr=1e-2)
    for _ in range(3):
        opt.zero_grad()
        m({"q": q, "speaker": speaker})["loss"].backward()
        opt.step()
    assert m.layers[3].skip.weight[:, 8:].abs().max() > 1e-3  # the new units now feed the output
    with pytest.raises(ValueError, match="already has 12"):
        m.widen_gates(12)
