"""DRAW engine tests: the equations, the loss, checkpoints, sampling and training, on real numbers."""

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.distributions import Normal, kl_divergence

from engines.checkpoint import CheckpointError, atomic_write_bytes
from engines.data.images import fixed_binarized, load_dataset
from engines.draw import DrawConfig, DrawEngine
from engines.draw.model import AttentionParams, attention_params, filterbank, gaussian_kl
from engines.train import TrainConfig, Trainer

A = B = 28


def params(gx, gy, delta, sigma2, gamma, n):
    t = lambda v: torch.tensor([float(v)])
    return AttentionParams(t(gx), t(gy), t(delta), t(sigma2), t(gamma), n)


def test_filterbank_shape_and_rows_normalised():
    raw = 0.3 * torch.randn(7, 5, generator=torch.Generator().manual_seed(0))
    raw[:, 3] -= 1.0  # stride δ ≈ 2.5 px: every filter centre lies inside the image
    p = attention_params(raw, 5, A, B)
    fx, fy = filterbank(p, A, B)
    assert fx.shape == (7, 5, A) and fy.shape == (7, 5, B)
    torch.testing.assert_close(fx.sum(-1), torch.ones(7, 5), atol=1e-5, rtol=0)  # (25): Z_X
    torch.testing.assert_close(fy.sum(-1), torch.ones(7, 5), atol=1e-5, rtol=0)  # (26): Z_Y
    assert (fx >= 0).all() and (fy >= 0).all()
    # a narrow filter centred far off the image reads nothing (zeros, not NaN)
    far = params(gx=500.0, gy=14.5, delta=1.0, sigma2=0.1, gamma=1.0, n=2)
    fx, _ = filterbank(far, A, B)
    assert torch.isfinite(fx).all() and fx.abs().max() < 1e-6


def test_attention_params_follow_eqs_22_to_24():
    # g̃ = 0, log δ̃ = 0 -> centred grid spanning the whole image
    raw = torch.tensor([[0.0, 0.0, math.log(2.0), 0.0, math.log(3.0)], [0.5, -0.5, 0.0, math.log(0.5), 0.0]])
    p = attention_params(raw, 5, A, B)
    torch.testing.assert_close(p.gx, torch.tensor([14.5, (A + 1) / 2 * 1.5]))  # (22)
    torch.testing.assert_close(p.gy, torch.tensor([14.5, (B + 1) / 2 * 0.5]))  # (23)
    torch.testing.assert_close(p.delta, torch.tensor([27 / 4, 27 / 4 * 0.5]))  # (24)
    torch.testing.assert_close(p.sigma2, torch.tensor([2.0, 1.0]))
    torch.testing.assert_close(p.gamma, torch.tensor([3.0, 1.0]))


def test_a_bounded_write_box_never_exceeds_its_side_and_is_eq_24_when_small():
    raw = torch.zeros(4, 5)
    raw[:, 3] = torch.tensor([3.0, 0.0, -2.0, -5.0])  # log δ̃: from far past the bound to a tiny window
    raw[:, 2] = torch.tensor([6.0, 0.0, -2.0, -8.0])  # log σ²
    free, bounded = attention_params(raw, 5, A, B), attention_params(raw, 5, A, B, max_px=9.0)
    side = (bounded.boxes()[:, 2] - bounded.boxes()[:, 0]).numpy()
    assert (side <= 9.0 + 1e-5).all() and side[0] > 8.9  # saturates at the bound, never beyond
    assert (bounded.sigma2 <= (9.0 / 5) ** 2 + 1e-5).all()
    torch.testing.assert_close(bounded.delta[3], free.delta[3], rtol=1e-3, atol=0)  # a small window is eq. 24's
    torch.testing.assert_close(bounded.sigma2[3], free.sigma2[3], rtol=1e-3, atol=0)
    # the model's write uses it (the read does not): its boxes stay within 9 px for any decoder state
    model = DrawEngine(DrawConfig(glimpses=3, enc_size=16, dec_size=16, z_size=4, read_n=4, write_n=5,
                                  write_max_px=9.0)).model  # fmt: skip
    with torch.no_grad():
        model.write_attn.bias[3] = 4.0
        _, p = model.write(torch.randn(6, 16))
    assert ((p.boxes()[:, 2] - p.boxes()[:, 0]) <= 9.0 + 1e-5).all()


def test_filter_centres_follow_eq_19():
    # a narrow filter peaks at pixel mu^i = gX + (i - N/2 - 0.5) delta (1-indexed pixels)
    p = params(gx=14.5, gy=10.5, delta=3.0, sigma2=0.05, gamma=1.0, n=4)
    fx, fy = filterbank(p, A, B)
    expected_x = [14.5 + (i - 2.5) * 3.0 for i in range(1, 5)]  # 10, 13, 16, 19
    expected_y = [10.5 + (i - 2.5) * 3.0 for i in range(1, 5)]  # 6, 9, 12, 15
    assert (fx[0].argmax(-1) + 1).tolist() == expected_x
    assert (fy[0].argmax(-1) + 1).tolist() == expected_y


def test_box_geometry():
    p = params(gx=14.5, gy=10.5, delta=2.0, sigma2=1.0, gamma=1.0, n=5)
    x0, y0, x1, y1 = p.boxes()[0].tolist()
    # centre (gX - 0.5, gY - 0.5) in edge coordinates, side N*delta
    assert (x0 + x1) / 2 == pytest.approx(14.0) and (y0 + y1) / 2 == pytest.approx(10.0)
    assert x1 - x0 == pytest.approx(10.0) and y1 - y0 == pytest.approx(10.0)


def test_full_resolution_grid_reads_the_image_itself_and_write_is_its_transpose():
    # N = A, delta = 1, tiny sigma: F is the identity, so F_Y x F_X^T = x (eq. 27) and
    # F_Y^T w F_X = w (eq. 29)
    p = params(gx=14.5, gy=14.5, delta=1.0, sigma2=1e-3, gamma=1.0, n=28)
    fx, fy = filterbank(p, A, B)
    x = torch.rand(1, B, A)
    torch.testing.assert_close(fy @ x @ fx.transpose(1, 2), x, atol=1e-4, rtol=0)
    torch.testing.assert_close(fy.transpose(1, 2) @ x @ fx, x, atol=1e-4, rtol=0)


def test_kl_matches_torch_distributions():
    mu, log_sigma = torch.randn(6, 10), torch.randn(6, 10) * 0.5
    ref = kl_divergence(Normal(mu, log_sigma.exp()), Normal(torch.zeros_like(mu), torch.ones_like(mu))).sum(-1)
    torch.testing.assert_close(gaussian_kl(mu, log_sigma), ref, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("attention", [True, False])
def test_loss_is_reconstruction_plus_kl_per_glimpse(attention):
    torch.manual_seed(0)
    eng = DrawEngine(DrawConfig(glimpses=5, enc_size=16, dec_size=16, z_size=4, attention=attention), device="cpu")
    x = (torch.rand(3, 28, 28) < 0.3).float()
    out = eng.model(x)
    assert out["kl_per_step"].shape == (5,)
    torch.testing.assert_close(out["kl_per_step"].sum(), out["kl"], atol=1e-4, rtol=1e-5)
    torch.testing.assert_close(out["loss"], out["recon"] + out["kl"], atol=1e-3, rtol=1e-6)
    # an untrained model's canvas is near 0.5 everywhere: -log(0.5) per pixel
    assert out["recon"].item() == pytest.approx(784 * math.log(2), rel=0.1)


def test_sample_yields_every_glimpse_with_boxes():
    eng = DrawEngine(DrawEngine.presets()["tiny"], device="cpu")
    frames = list(eng.sample(n=6, seed=3))
    assert [f.t for f in frames] == list(range(eng.config.glimpses))
    assert frames[-1].canvas.shape == (6, 28, 28)
    assert frames[-1].write_boxes.shape == (6, 4) and frames[-1].read_boxes is None
    assert ((frames[-1].canvas >= 0) & (frames[-1].canvas <= 1)).all()
    again = list(eng.sample(n=6, seed=3))
    np.testing.assert_array_equal(again[-1].canvas, frames[-1].canvas)  # same seed, same pixels
    other = list(eng.sample(n=6, seed=4))
    assert not np.array_equal(other[-1].canvas, frames[-1].canvas)


def test_reconstruct_shows_read_boxes_and_kl():
    eng = DrawEngine(DrawEngine.presets()["tiny"], device="cpu")
    imgs = load_dataset("mnist").test.images[:3]
    frames = list(eng.reconstruct(imgs))
    assert frames[0].read_boxes.shape == (3, 4) and frames[0].kl.shape == (3,)
    assert set(np.unique(frames[0].target)) <= {0.0, 1.0}


def test_checkpoint_round_trip(tmp_path):
    eng = DrawEngine(DrawEngine.presets()["tiny"], device="cpu")
    path = tmp_path / "d.pt"
    eng.save(path, meta={"note": "x"})
    other = DrawEngine(DrawConfig(glimpses=2, enc_size=8, dec_size=8, z_size=2), device="cpu")
    other.load(path)
    assert other.config == eng.config and other.meta["note"] == "x"
    a = list(eng.sample(n=2, seed=1))[-1].canvas
    b = list(other.sample(n=2, seed=1))[-1].canvas
    np.testing.assert_array_equal(a, b)
    eng.save(tmp_path / "h.pt", half=True)  # fp16 storage: close, not equal
    half = DrawEngine.from_checkpoint(tmp_path / "h.pt", device="cpu")
    np.testing.assert_allclose(list(half.sample(n=2, seed=1))[-1].canvas, a, atol=2e-2)


def _weights(eng):
    return {k: v.clone() for k, v in eng.model.state_dict().items()}


def test_corrupt_checkpoint_refused_and_model_kept(tmp_path):
    eng = DrawEngine(DrawEngine.presets()["tiny"], device="cpu")
    good = tmp_path / "good.pt"
    eng.save(good)
    data = good.read_bytes()
    bad = tmp_path / "bad.pt"
    bad.write_bytes(data[: len(data) // 2])
    target = DrawEngine(DrawEngine.presets()["tiny"], device="cpu")
    before = _weights(target)
    with pytest.raises(CheckpointError, match="not a readable checkpoint"):
        target.load(bad)
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"not a checkpoint at all")
    with pytest.raises(CheckpointError):
        target.load(garbage)
    after = _weights(target)
    assert all(torch.equal(before[k], after[k]) for k in before)


def test_mismatched_checkpoint_refused(tmp_path):
    eng = DrawEngine(DrawEngine.presets()["tiny"], device="cpu")
    path = tmp_path / "m.pt"
    # weights of one config under the config of another
    from engines.checkpoint import save_checkpoint

    other_cfg = {**eng.config_dict(), "z_size": 3}
    save_checkpoint(path, "draw", other_cfg, eng.model.state_dict())
    with pytest.raises(CheckpointError, match="do not match"):
        eng.load(path)
    save_checkpoint(path, "wavenet", eng.config_dict(), eng.model.state_dict())
    with pytest.raises(CheckpointError, match="for 'wavenet'"):
        eng.load(path)
    save_checkpoint(path, "draw", {**eng.config_dict(), "colour": True}, eng.model.state_dict())
    with pytest.raises(CheckpointError, match="colour"):
        eng.load(path)


def test_atomic_write_keeps_old_file_on_failure(tmp_path):
    path = tmp_path / "f.bin"
    path.write_bytes(b"old")

    def boom(f):
        f.write(b"half")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        atomic_write_bytes(path, boom)
    assert path.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["f.bin"]  # no temp file left


def test_training_reduces_the_bound():
    train, valid, _ = DrawEngine.load_data("mnist")
    eng = DrawEngine(DrawEngine.presets()["tiny"], device="cpu")
    before = eng.evaluate(valid)["nll"]
    events = list(Trainer(eng, train, TrainConfig(steps=60, batch_size=32, lr=3e-3), valid).run())
    assert [e.kind for e in events].count("step") == 60 and events[-1].kind == "done"
    assert events[-1].metrics["nll"] < before - 100  # from ~544 nats (uniform canvas) to well below
    assert len(events[0].metrics["kl_per_step"]) == eng.config.glimpses


def test_evaluation_is_deterministic_on_fixed_binarization():
    _, _, test = DrawEngine.load_data("mnist")
    a, b = fixed_binarized(test), fixed_binarized(test)
    np.testing.assert_array_equal(a, b)
    eng = DrawEngine(DrawEngine.presets()["tiny"], device="cpu")
    assert eng.evaluate(test)["nll"] == eng.evaluate(test)["nll"]


def test_about_is_the_model_docstring():
    text = DrawEngine.about()
    assert "(27)" in text and "(29)" in text and "DRAW" in text


def test_shipped_checkpoints_load():
    from engines.resources import resource_path

    for name, shipped in DrawEngine.shipped.items():
        eng = DrawEngine.from_checkpoint(resource_path(name), device="cpu")
        assert eng.config.attention == shipped.key.startswith("nll_attention")
        assert Path(resource_path(name)).stat().st_size < 8_000_000


def test_cancel_reaches_inside_forward_and_backward():
    import threading

    from engines.cancel import Cancelled, use_token

    eng = DrawEngine(DrawEngine.presets()["tiny"], device="cpu")
    opt = torch.optim.Adam(eng.model.parameters(), lr=1e-2)
    x = (torch.rand(4, 28, 28) < 0.3).float()
    before = {k: v.clone() for k, v in eng.model.state_dict().items()}
    token = threading.Event()
    use_token(token)
    try:
        out = eng.model(x)  # forward completes: not cancelled yet
        token.set()
        with pytest.raises(Cancelled):
            out["loss"].backward()  # cancelled while gradients flow
        assert all(p.grad is None for p in eng.model.parameters())
        with pytest.raises(Cancelled):
            eng.train_step(x, opt)  # and a whole step stops before optimizer.step()
    finally:
        use_token(None)
    assert all(torch.equal(before[k], v) for k, v in eng.model.state_dict().items())
    eng.train_step(x, opt)  # without a token nothing is checked


def test_cosine_schedule_runs_from_lr_to_a_tenth():
    from engines.train import TrainConfig

    cfg = TrainConfig(steps=101, lr=1e-3, lr_schedule="cosine")
    lrs = [cfg.lr_at(s) for s in range(101)]
    assert lrs[0] == pytest.approx(1e-3) and lrs[50] == pytest.approx(5.5e-4) and lrs[100] == pytest.approx(1e-4)
    assert all(a >= b for a, b in zip(lrs, lrs[1:]))
    assert TrainConfig(lr=2e-3).lr_at(77) == 2e-3
    with pytest.raises(ValueError, match="schedule"):
        TrainConfig(lr_schedule="warp").lr_at(0)


def test_write_motion_clips_boxes_to_the_image_and_measures_centre_steps():
    from engines.draw.engine import write_motion

    # one sample, 4 glimpses: a 40 px box over the whole image (clipped to 28), then 6 px boxes stepping 3 px right
    boxes = np.array([[[-6, -6, 34, 34]], [[0, 0, 6, 6]], [[3, 0, 9, 6]], [[6, 0, 12, 6]]], dtype=float)
    m = write_motion(boxes, 28, 28)
    assert m["write_box_px_late"] == pytest.approx((6 + 6 + 6) / 3)  # glimpses T/2..T (the 2nd to the 4th of 4)
    assert m["write_travel_px"] == pytest.approx((math.hypot(11, 11) + 3 + 3) / 3, abs=0.005)  # rounded to 0.01
    wide = write_motion(np.array([[[-6, -6, 34, 34]]] * 2, dtype=float), 28, 28)
    assert wide["write_box_px_late"] == 28 and wide["write_travel_px"] == 0


def test_a_learned_canvas_starts_dark_and_ink_is_measured_from_it(tmp_path):
    cfg = DrawConfig(glimpses=3, enc_size=16, dec_size=16, z_size=4, read_n=4, write_n=5, learned_canvas=True)
    eng = DrawEngine(cfg, device="cpu")
    frames = list(eng.sample(n=2, seed=0))
    assert np.allclose(eng.blank_canvas(), 0.05)
    # the first glimpse's ink is measured from the dark blank canvas σ(c_0), not from grey
    assert frames[0].ink == pytest.approx(np.abs(frames[0].canvas - 0.05).sum(axis=(1, 2)), rel=1e-5)
    path = tmp_path / "c0.pt"
    eng.save(path)
    again = DrawEngine.from_checkpoint(path, device="cpu")
    assert torch.equal(again.model.canvas0, eng.model.canvas0)
