"""DocNADE model: hidden states, the tree softmax, DocNADE-LM, perplexity."""

import math

import numpy as np
import pytest
import torch

from engines.docnade.model import DocNade, DocNadeConfig, huffman_paths, perplexity, shuffle_words


def _model(**kw):
    torch.manual_seed(0)
    cfg = DocNadeConfig(vocab_size=37, hidden=6, **kw)
    m = DocNade(cfg, counts=np.arange(1, 38))
    with torch.no_grad():  # non-zero output weights, so the test sees a real distribution
        for p in m.parameters():
            p.add_(0.3 * torch.randn_like(p))
    return m.double()


@pytest.mark.parametrize("kw", [{}, {"lm_order": 3}, {"lm_order": 2, "lm_dim": 4}], ids=["docnade", "lm3", "lm2"])
def test_cumulative_hidden_states_equal_the_sum_of_eq_2(kw):
    m = _model(**kw)
    v = torch.randint(0, 37, (2, 9))
    h = m.hidden(v)
    for b in range(2):
        for i in range(9):
            pre = m.c + sum((m.W.weight[v[b, k]] for k in range(i)), torch.zeros(6, dtype=torch.float64))
            for k in range(1, kw.get("lm_order", 0)):
                if i - k >= 0:
                    pre = pre + m.U[k - 1] @ m.W_lm.weight[v[b, i - k]]  # eq. 15, in real order
            assert torch.allclose(h[b, i], torch.sigmoid(pre), atol=1e-10), (b, i)


def test_position_i_sees_only_earlier_words():
    m = _model()
    v = torch.randint(0, 37, (1, 12))
    v2 = v.clone()
    v2[0, 7:] = (v2[0, 7:] + 5) % 37
    assert torch.equal(m.hidden(v)[:, :8], m.hidden(v2)[:, :8])
    assert not torch.equal(m.hidden(v)[:, 8:], m.hidden(v2)[:, 8:])


def test_huffman_tree_is_a_prefix_code_with_short_paths_for_frequent_words():
    counts = np.array([50, 1, 1, 2, 3, 5, 8, 13, 21])
    nodes, codes, mask = huffman_paths(counts)
    lens = mask.sum(1)
    paths = {tuple(codes[w, : int(lens[w])]) for w in range(len(counts))}
    assert len(paths) == len(counts)  # every word has its own path
    for a in paths:  # and none is the start of another (a prefix code: every leaf is reached once)
        assert not any(b != a and b[: len(a)] == a for b in paths)
    assert lens[0] == lens.min() and lens[1] == lens.max()
    assert abs(sum(2.0**-lens) - 1.0) < 1e-12  # Kraft equality: a full binary tree
    assert nodes.max() == len(counts) - 2  # V - 1 inner nodes


@pytest.mark.parametrize("softmax", ["tree", "full"])
def test_word_distribution_sums_to_one_and_matches_the_gathered_terms(softmax):
    m = _model(softmax=softmax)
    v = torch.randint(0, 37, (3, 5))
    h = m.hidden(v)
    every = m.all_log_probs(h)  # (3, 5, 37)
    assert torch.allclose(every.exp().sum(-1), torch.ones(3, 5, dtype=torch.float64), atol=1e-10)
    assert torch.allclose(every.gather(-1, v[..., None])[..., 0], m.word_log_probs(h, v), atol=1e-10)
    assert every.exp().max() < 0.9  # a real spread, not one word


def test_loss_is_the_document_nll_with_padding_ignored():
    m = _model()
    v = torch.tensor([[3, 5, 7, 0, 0], [1, 2, 3, 4, 5]])
    lengths = torch.tensor([3, 5])
    out = m({"v": v, "lengths": lengths})
    nll0 = -m.word_log_probs(m.hidden(v[:1, :3]), v[:1, :3]).sum()
    nll1 = -m.word_log_probs(m.hidden(v[1:]), v[1:]).sum()
    assert torch.allclose(out["loss"], (nll0 + nll1) / 2)
    assert torch.allclose(out["nll_per_word"], (nll0 / 3 + nll1 / 5) / 2)
    assert perplexity([nll0.item(), nll1.item()], [3, 5]) == pytest.approx(math.exp(out["nll_per_word"].item()))


def test_sparsity_adds_the_l1_of_each_documents_hidden_units_while_training_only():
    m = _model(sparsity=0.5)
    v = torch.tensor([[3, 5, 7, 0, 0], [1, 2, 3, 4, 5]])
    lengths = torch.tensor([3, 5])
    nll = m.eval()({"v": v, "lengths": lengths})
    h0 = torch.sigmoid(m.c + m.W.weight[v[0, :3]].sum(0))  # h(v) of the whole document, padding left out
    h1 = torch.sigmoid(m.c + m.W.weight[v[1]].sum(0))
    out = m.train()({"v": v, "lengths": lengths})
    assert torch.allclose(out["loss"], nll["loss"] + 0.5 * (h0.sum() + h1.sum()) / 2)
    assert torch.allclose(out["nll_per_word"], nll["nll_per_word"])  # figures stay the likelihood's


def test_uniform_model_has_perplexity_of_the_vocabulary():
    cfg = DocNadeConfig(vocab_size=64, hidden=4, softmax="tree")
    m = DocNade(cfg)  # tree weights start at zero: every branch 1/2, a balanced tree of 64 leaves
    out = m({"v": torch.randint(0, 64, (4, 10)), "lengths": torch.full((4,), 10)})
    assert math.exp(out["nll_per_word"].item()) == pytest.approx(64, rel=1e-5)


def test_shuffle_keeps_each_documents_bag_and_its_padding():
    v = torch.tensor([[4, 5, 6, 7, 0, 0], [1, 2, 3, 4, 5, 6]])
    lengths = torch.tensor([4, 6])
    s = shuffle_words(v, lengths, torch.Generator().manual_seed(0))
    assert sorted(s[0, :4].tolist()) == [4, 5, 6, 7] and s[0, 4:].tolist() == [0, 0]
    assert sorted(s[1].tolist()) == [1, 2, 3, 4, 5, 6]
    orders = {tuple(shuffle_words(v, lengths, torch.Generator().manual_seed(k))[1].tolist()) for k in range(10)}
    assert len(orders) > 5


def test_training_lowers_the_nll_of_a_real_pattern():
    torch.manual_seed(0)
    m = DocNade(DocNadeConfig(vocab_size=20, hidden=8))
    opt = torch.optim.Adam(m.parameters(), lr=0.05)
    # two "topics": documents use words 0-9 or 10-19, so the first words predict the rest
    g = torch.Generator().manual_seed(1)
    topic = torch.randint(0, 2, (64, 1), generator=g)
    v = torch.randint(0, 10, (64, 12), generator=g) + 10 * topic
    batch = {"v": v, "lengths": torch.full((64,), 12)}
    before = m(batch)["nll_per_word"].item()
    for _ in range(150):
        opt.zero_grad()
        m({"v": shuffle_words(v, batch["lengths"], g), "lengths": batch["lengths"]})["loss"].backward()
        opt.step()
    after = m(batch)["nll_per_word"].item()
    assert before == pytest.approx(math.log(20), abs=0.05)
    assert after < math.log(10) + 0.25  # close to knowing the topic: log 10 plus the first word's cost
