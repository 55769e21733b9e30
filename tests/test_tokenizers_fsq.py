"""FSQ: the index convention against a brute-force mixed-radix reference, exact round trips, straight-through
gradients and the codebook metrics."""

import itertools
import math

import pytest
import torch

from tm_weather.tokenizers.fsq import FSQ, codebook_usage, perplexity


@pytest.mark.parametrize("levels", [(8, 8, 8, 6, 5), (7, 5, 5, 5, 5), (2, 3, 4)])
def test_every_code_round_trips_exactly(levels):
    fsq = FSQ(levels)
    assert fsq.codebook_size == math.prod(levels)
    indices = torch.arange(fsq.codebook_size)
    codes = fsq.indices_to_codes(indices)
    assert codes.shape == (fsq.codebook_size, len(levels))
    assert torch.equal(fsq.codes_to_indices(codes), indices)  # indices -> codes -> indices
    assert torch.equal(fsq.indices_to_codes(fsq.codes_to_indices(codes)), codes)  # codes -> indices -> codes
    assert len(torch.unique(codes, dim=0)) == fsq.codebook_size  # a bijection


def test_index_is_terramind_mixed_radix():
    """index = sum(digit_i * basis_i), basis = cumprod([1] + levels[:-1]), checked digit by digit."""
    levels = (8, 8, 8, 6, 5)
    fsq = FSQ(levels)
    for digits in itertools.islice(itertools.product(*(range(n) for n in levels)), 0, None, 97):
        basis, expected = 1, 0
        for d, n in zip(digits, levels):
            expected += d * basis
            basis *= n
        codes = torch.tensor([d / (n - 1) for d, n in zip(digits, levels)])
        assert int(fsq.codes_to_indices(codes)) == expected
        assert torch.equal(fsq.indices_to_codes(torch.tensor(expected)), codes.float())


def test_quantize_lands_on_the_grid_and_reaches_every_digit():
    fsq = FSQ((2, 3, 4, 5, 8))
    z = torch.linspace(-12, 12, 2001)[:, None].expand(-1, 5)
    codes = fsq.quantize(z)
    steps = torch.tensor([1, 2, 3, 4, 7], dtype=torch.float32)
    digits = codes * steps
    assert torch.allclose(digits, digits.round(), atol=1e-5)
    assert codes.min() >= 0 and codes.max() <= 1
    for i, n in enumerate(fsq.levels):  # odd and even levels alike: all L digits are used
        assert len(torch.unique(digits[:, i].round())) == n


def test_straight_through_gradient_is_the_sigmoid_slope():
    fsq = FSQ((8, 5))
    z = torch.tensor([[0.3, -1.2], [2.0, 0.1]], requires_grad=True)
    fsq.quantize(z).sum().backward()
    s = torch.sigmoid(z.detach())
    assert torch.allclose(z.grad, s * (1 - s), atol=1e-6)  # (L-1) scaling and 1/(L-1) cancel


def test_forward_returns_codes_and_matching_indices():
    fsq = FSQ((8, 8, 8, 6, 5))
    codes, indices = fsq(torch.randn(3, 7, 5, generator=torch.Generator().manual_seed(0)) * 3)
    assert codes.shape == (3, 7, 5) and indices.shape == (3, 7) and indices.dtype == torch.int64
    assert torch.equal(fsq.indices_to_codes(indices), codes)


def test_codebook_metrics_against_brute_force():
    assert codebook_usage(torch.tensor([3, 3, 3]), 10) == 0.1
    assert perplexity(torch.tensor([3, 3, 3]), 10) == pytest.approx(1.0)
    assert perplexity(torch.arange(10), 10) == pytest.approx(10.0)
    idx = torch.tensor([0, 0, 1, 2, 2, 2, 2, 5])
    p = [2 / 8, 1 / 8, 4 / 8, 1 / 8]
    assert perplexity(idx, 6) == pytest.approx(math.exp(-sum(q * math.log(q) for q in p)))
    assert codebook_usage(idx, 6) == pytest.approx(4 / 6)


@pytest.mark.parametrize("levels", [(), (8, 1), (0,)])
def test_bad_levels_are_refused(levels):
    with pytest.raises(ValueError, match="levels"):
        FSQ(levels)
