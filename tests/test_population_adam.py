"""PopulationAdam: each member follows torch.optim.Adam; frozen members stay exactly frozen."""
import torch

from models.adam import PopulationAdam

SHAPES = [(3, 4, 5), (3, 1, 5)]
LRS = [1e-3, 3e-3, 1e-2]


def random_tensors(seed: int) -> list[torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    return [torch.randn(shape, generator=generator) for shape in SHAPES]


def torch_adam_trajectory(member: int, gradient_steps: list[int]) -> list[torch.Tensor]:
    """Member ``member``'s parameters after torch Adam steps on the gradients of ``gradient_steps``."""
    params = [t[member].clone().requires_grad_() for t in random_tensors(0)]
    optimizer = torch.optim.Adam(params, lr=LRS[member])
    for step in gradient_steps:
        for p, g in zip(params, random_tensors(100 + step)):
            p.grad = g[member].clone()
        optimizer.step()
    return [p.detach() for p in params]


def population_adam_trajectory(active_per_step: list[list[bool]]) -> PopulationAdam:
    optimizer = PopulationAdam(random_tensors(0), torch.tensor(LRS))
    for step, active in enumerate(active_per_step):
        optimizer.step(random_tensors(100 + step), torch.tensor(active))
    return optimizer


def test_every_member_matches_torch_adam_over_several_steps():
    optimizer = population_adam_trajectory([[True, True, True]] * 6)
    for member in range(3):
        expected = torch_adam_trajectory(member, list(range(6)))
        for got, want in zip(optimizer.params, expected):
            torch.testing.assert_close(got[member], want, rtol=0, atol=1e-6)


def test_an_inactive_member_is_left_exactly_unchanged():
    optimizer = population_adam_trajectory([[True, False, True]] * 4)
    for got, initial in zip(optimizer.params, random_tensors(0)):
        assert torch.equal(got[1], initial[1])
        assert not torch.equal(got[0], initial[0])
    for m, v in zip(optimizer.exp_avg, optimizer.exp_avg_sq):
        assert torch.equal(m[1], torch.zeros_like(m[1])) and torch.equal(v[1], torch.zeros_like(v[1]))
    assert optimizer.steps.tolist() == [4.0, 0.0, 4.0]


def test_a_member_paused_between_steps_follows_its_own_adam_trajectory():
    pattern = [[True, True, True], [True, False, True], [True, True, True], [True, False, True]]
    optimizer = population_adam_trajectory(pattern)
    expected = torch_adam_trajectory(1, [0, 2])
    for got, want in zip(optimizer.params, expected):
        torch.testing.assert_close(got[1], want, rtol=0, atol=1e-6)


def test_a_member_steps_the_same_alone_as_anywhere_in_a_population():
    # Hundreds of steps: beta ** steps computed over the population once rounded differently for
    # members in the tensor's vectorised part than in its scalar tail (first at 0.999 ** 168), and
    # small weights with a large step size make such a difference show in the weights.
    population, steps, lr = 40, 200, 1e-2
    generator = torch.Generator().manual_seed(3)
    start = torch.randn(population, 4, 3, generator=generator) * 1e-3
    grads = torch.randn(steps, population, 4, 3, generator=generator)
    together = PopulationAdam([start.clone()], torch.full((population,), lr))
    alone = [PopulationAdam([start[m:m + 1].clone()], torch.full((1,), lr)) for m in range(population)]
    everyone = torch.ones(population, dtype=torch.bool)
    for step in range(steps):
        together.step([grads[step]], everyone)
        for m, optimizer in enumerate(alone):
            optimizer.step([grads[step, m:m + 1]], everyone[:1])
    for m, optimizer in enumerate(alone):
        assert torch.equal(together.params[0][m], optimizer.params[0][0]), f"member {m}"
