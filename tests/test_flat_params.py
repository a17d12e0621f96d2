"""into_one_tensor: parameters re-homed into one (P, N) tensor keep their identity, values and
gradients, and batched matmuls on them give the same bits as on the original tensors."""
import torch

from models.flat_params import into_one_tensor


def test_parameters_become_views_of_one_tensor_with_their_values():
    generator = torch.Generator().manual_seed(0)
    params = [torch.randn(3, 4, 5, generator=generator), torch.randn(3, 1, 5, generator=generator)]
    originals = [p.clone() for p in params]
    ids = [id(p) for p in params]
    flat = into_one_tensor(params)
    assert flat.shape == (3, 25) and [id(p) for p in params] == ids
    assert all(torch.equal(p, o) for p, o in zip(params, originals))
    flat.add_(1.0)   # a write to the flat tensor is a write to the parameters
    assert all(torch.equal(p, o + 1.0) for p, o in zip(params, originals))
    assert torch.equal(flat[1], torch.cat([params[0][1].reshape(-1), params[1][1].reshape(-1)]))


def test_autograd_leaves_stay_leaves_and_get_gradients():
    weight = torch.randn(2, 3, 4).requires_grad_()
    bias = torch.randn(2, 1, 4).requires_grad_()
    into_one_tensor([weight, bias])
    assert weight.is_leaf and bias.is_leaf
    (torch.baddbmm(bias, torch.ones(2, 5, 3), weight) ** 2).sum().backward()
    assert weight.grad.shape == weight.shape and bias.grad.shape == bias.shape


def test_batched_matmuls_on_the_views_give_the_same_bits():
    generator = torch.Generator().manual_seed(1)
    for population, rows, inputs, outputs in [(1, 398, 4, 57), (5, 199, 57, 2), (48, 398, 4, 57), (3, 7, 83, 6)]:
        x = torch.randn(population, rows, inputs, generator=generator)
        w = torch.randn(population, inputs, outputs, generator=generator)
        b = torch.randn(population, 1, outputs, generator=generator)
        expected = torch.baddbmm(b, x, w), torch.bmm(torch.baddbmm(b, x, w), w.transpose(1, 2))
        w_view, b_view = w.clone(), b.clone()
        into_one_tensor([w_view, b_view])
        got = torch.baddbmm(b_view, x, w_view), torch.bmm(torch.baddbmm(b_view, x, w_view), w_view.transpose(1, 2))
        assert all(torch.equal(e, g) for e, g in zip(expected, got))
