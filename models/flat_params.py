"""Parameter tensors of a population re-homed into one (P, N) tensor, so that whole-network updates
(Adam, soft target updates) are a few operations on one tensor instead of a few per parameter."""
import torch


@torch.no_grad()
def into_one_tensor(params: list[torch.Tensor]) -> torch.Tensor:
    """A (P, N) tensor holding ``params`` (each (P, ...)) side by side per member, in order; each
    parameter becomes a view of its columns.

    The tensors keep their identity, values, shape and autograd leaf status (``set_`` swaps their
    storage), so every holder of a parameter sees the new storage; only the stride between members
    changes. Batched matmuls give the same bits on such views (checked in the tests).
    """
    population = params[0].shape[0]
    flat = torch.cat([p.detach().reshape(population, -1) for p in params], dim=1)
    offset = 0
    for p in params:
        p.set_(flat.untyped_storage(), offset, p.shape, (flat.shape[1],) + p.stride()[1:])
        offset += p[0].numel()
    return flat
