"""PopulationMLP: P batched MLPs equal P nn.Sequential networks in the paper's layout."""
import pytest
import torch
from torch import nn

from models.adam import PopulationAdam
from models.mlp import PopulationMLP, build_mlp

ACTIVATIONS = ("tanh", "relu", "leakyrelu", "prelu")
SEEDS = [3, 4, 5]
IN, OUT, HIDDEN = 4, 2, 8


def make_population(activation: str, hidden_layer: int, seeds=SEEDS) -> PopulationMLP:
    population = PopulationMLP.initialise(seeds, IN, OUT, HIDDEN, hidden_layer, activation)
    # Distinct PReLU slopes per member and layer, so a mixed-up slope shows.
    for layer, slope in enumerate(population.slopes):
        slope.copy_(torch.tensor([0.1, 0.2, 0.3][:len(seeds)]).view(-1, 1, 1) * (layer + 1))
    return population


def inputs(population: int) -> torch.Tensor:
    generator = torch.Generator().manual_seed(0)
    return torch.randn(population, 5, IN, generator=generator) * 3


@pytest.mark.parametrize("hidden_layer", [1, 2])
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_population_output_equals_each_member_module(activation, hidden_layer):
    population = make_population(activation, hidden_layer)
    x = inputs(len(SEEDS))
    out = population(x)
    assert out.shape == (len(SEEDS), 5, OUT)
    for member in range(len(SEEDS)):
        expected = population.member_module(member)(x[member])
        torch.testing.assert_close(out[member], expected, rtol=0, atol=1e-5)


@pytest.mark.parametrize("hidden_layer", [1, 2])
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_to_flat_then_load_flat_restores_every_parameter_exactly(activation, hidden_layer):
    source = make_population(activation, hidden_layer)
    target = make_population(activation, hidden_layer, seeds=[7, 8, 9])
    target.load_flat(source.to_flat())
    assert torch.equal(target.to_flat(), source.to_flat())
    for got, want in zip(target.parameters(), source.parameters()):
        assert torch.equal(got, want)


@pytest.mark.parametrize("hidden_layer", [1, 2])
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_from_member_modules_round_trips(activation, hidden_layer):
    population = make_population(activation, hidden_layer)
    modules = [population.member_module(m) for m in range(len(SEEDS))]
    rebuilt = PopulationMLP.from_modules(modules, activation)
    assert torch.equal(rebuilt.to_flat(), population.to_flat())


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_num_params_equals_the_member_module_parameter_count(activation):
    population = make_population(activation, 2)
    module_count = sum(p.numel() for p in population.member_module(0).parameters())
    assert population.num_params == module_count == population.to_flat().shape[1]


@pytest.mark.parametrize("activation, hidden_layer, keys", [
    ("tanh", 1, ["0.weight", "0.bias", "2.weight", "2.bias"]),
    ("relu", 2, ["0.weight", "0.bias", "2.weight", "2.bias", "4.weight", "4.bias"]),
    ("prelu", 1, ["0.weight", "0.bias", "1.weight", "2.weight", "2.bias"]),
    ("prelu", 2, ["0.weight", "0.bias", "1.weight", "2.weight", "2.bias", "3.weight", "4.weight", "4.bias"]),
])
def test_member_state_dict_follows_the_paper_layout(activation, hidden_layer, keys):
    population = make_population(activation, hidden_layer)
    state = population.member_module(1).state_dict()
    assert list(state) == keys
    assert state["0.weight"].shape == (HIDDEN, IN)
    assert torch.equal(state["0.weight"], population.weights[0][1].T)
    assert torch.equal(state["0.bias"], population.biases[0][1, 0])
    if activation == "prelu":
        assert torch.equal(state["1.weight"], torch.tensor([0.2]))


def test_build_mlp_layout():
    module = build_mlp(6, 3, 10, 2, "leakyrelu")
    kinds = [type(layer) for layer in module]
    assert kinds == [nn.Linear, nn.LeakyReLU, nn.Linear, nn.LeakyReLU, nn.Linear]
    assert (module[0].in_features, module[0].out_features, module[-1].out_features) == (6, 10, 3)


def test_a_member_initialises_the_same_alone_or_in_a_population():
    alone = PopulationMLP.initialise([4], IN, OUT, HIDDEN, 1, "tanh")
    together = PopulationMLP.initialise([3, 4, 5], IN, OUT, HIDDEN, 1, "tanh")
    assert torch.equal(alone.to_flat()[0], together.to_flat()[1])



@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_a_members_values_and_gradients_do_not_depend_on_its_population(activation):
    """Odd widths put a member's activations at different offsets from the end of the batch for
    each population size; its outputs and gradients must stay bit-identical all the same."""
    seeds = list(range(9))
    everyone = PopulationMLP.initialise(seeds, IN, OUT, 61, 1, activation)
    x = torch.randn(len(seeds), 193, IN, generator=torch.Generator().manual_seed(1)) * 3

    def outputs_and_gradients(population, x):
        population.requires_grad_()
        with torch.enable_grad():
            out = population(x)
            grads = torch.autograd.grad((out ** 2).sum(), population.parameters())
        with torch.no_grad():
            return population(x), grads

    out_all, grads_all = outputs_and_gradients(everyone, x)
    for size in (1, 3, 7):
        out, grads = outputs_and_gradients(PopulationMLP.initialise(seeds[:size], IN, OUT, 61, 1, activation), x[:size])
        assert torch.equal(out, out_all[:size]), size
        assert all(torch.equal(g, g_all[:size]) for g, g_all in zip(grads, grads_all)), size


def test_a_member_acting_on_one_observation_gives_the_same_output_alone():
    """One input row per member (an agent acting) must not take a matrix-vector path for P=1 that
    rounds differently from the batched product for P>1."""
    seeds = list(range(9))
    everyone = PopulationMLP.initialise(seeds, 7, 6, 167, 1, "prelu")
    x = torch.randn(len(seeds), 1, 7, generator=torch.Generator().manual_seed(2))
    out_all = everyone(x)
    for member in range(len(seeds)):
        alone = PopulationMLP.initialise(seeds[member:member + 1], 7, 6, 167, 1, "prelu")
        assert torch.equal(alone(x[member:member + 1]), out_all[member:member + 1]), member


def test_different_seeds_initialise_different_members():
    population = PopulationMLP.initialise([3, 4], IN, OUT, HIDDEN, 1, "tanh")
    assert not torch.equal(population.to_flat()[0], population.to_flat()[1])


def test_select_picks_members_in_the_given_order():
    population = make_population("prelu", 1)
    picked = population.select([2, 0])
    assert torch.equal(picked.to_flat(), population.to_flat()[[2, 0]])


def test_detached_copy_does_not_share_storage():
    population = make_population("relu", 1)
    copy = population.detached_copy()
    copy.weights[0].add_(1.0)
    assert not torch.equal(copy.to_flat(), population.to_flat())



def member_autograd_gradients(population: PopulationMLP, x: torch.Tensor, grad_out: torch.Tensor) -> torch.Tensor:
    """Reference: per member, autograd of sum(grad_out * output[:rows]) through its nn.Sequential,
    flattened in state-dict order: (P, D)."""
    rows = grad_out.shape[1]
    flat = []
    for member in range(population.population):
        module = population.member_module(member)
        loss = (module(x[member])[:rows] * grad_out[member]).sum()
        flat.append(torch.cat([g.reshape(-1) for g in torch.autograd.grad(loss, list(module.parameters()))]))
    return torch.stack(flat)


@pytest.mark.parametrize("hidden_layer", [1, 2])
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_hand_written_backward_equals_autograd_of_the_member_modules(activation, hidden_layer):
    population = make_population(activation, hidden_layer)
    x = inputs(len(SEEDS))
    rows = 3   # back-propagate through the first rows only, as DDQN does for [states, next states]
    grad_out = torch.randn(len(SEEDS), rows, OUT, generator=torch.Generator().manual_seed(1))
    output, cache = population.forward(x)
    assert torch.equal(output, population(x))
    grads = population.backward(cache, grad_out, rows=rows)
    assert [g.shape for g in grads] == [p.shape for p in population.parameters()]
    layers = len(population.weights)
    as_population = PopulationMLP(grads[:layers], grads[layers:2 * layers], grads[2 * layers:], activation)
    torch.testing.assert_close(as_population.to_flat(), member_autograd_gradients(population, x, grad_out),
                               rtol=1e-4, atol=1e-5)



@pytest.mark.parametrize("hidden_layer", [1, 2])
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_backward_into_adams_gradient_buffer_gives_the_same_gradients(activation, hidden_layer):
    population = make_population(activation, hidden_layer)
    x = inputs(len(SEEDS))
    grad_out = torch.randn(len(SEEDS), 3, OUT, generator=torch.Generator().manual_seed(1))
    expected = population.backward(population.forward(x)[1], grad_out, rows=3)
    optimizer = PopulationAdam(population.parameters(), torch.full((len(SEEDS),), 1e-3))
    optimizer.grad.fill_(float("nan"))   # every element must be written
    written = population.backward(population.forward(x)[1], grad_out, rows=3, out=optimizer.grad_views)
    assert all(w is view for w, view in zip(written, optimizer.grad_views))
    assert torch.equal(optimizer.grad, torch.cat([g.reshape(len(SEEDS), -1) for g in expected], dim=1))

# --- the paper's use_layer_norm: one LayerNorm, shared by every hidden layer after the first ------

def layer_norm_population(hidden_layer: int, activation: str = "tanh") -> PopulationMLP:
    population = PopulationMLP.initialise(SEEDS, IN, OUT, HIDDEN, hidden_layer, activation, layer_norm=True)
    gain, shift = population.norm
    gain.copy_(torch.rand(gain.shape, generator=torch.Generator().manual_seed(1)) + 0.5)  # not the identity
    shift.copy_(torch.randn(shift.shape, generator=torch.Generator().manual_seed(2)))
    return population


def test_build_mlp_puts_one_shared_layer_norm_before_every_activation_but_the_first():
    module = build_mlp(IN, OUT, HIDDEN, 3, "tanh", layer_norm=True)
    norms = [m for m in module if isinstance(m, nn.LayerNorm)]
    assert [type(m).__name__ for m in module] == ["Linear", "Tanh", "Linear", "LayerNorm", "Tanh", "Linear",
                                                  "LayerNorm", "Tanh", "Linear"]
    assert len(norms) == 2 and norms[0] is norms[1]
    assert not any(isinstance(m, nn.LayerNorm) for m in build_mlp(IN, OUT, HIDDEN, 1, "tanh", layer_norm=True))


@pytest.mark.parametrize("hidden_layer", [2, 3])
def test_a_layer_norm_population_equals_its_member_modules_and_round_trips(hidden_layer):
    population = layer_norm_population(hidden_layer)
    x = inputs(len(SEEDS))
    out = population(x)
    for member in range(len(SEEDS)):
        module = population.member_module(member)
        norm = next(m for m in module if isinstance(m, nn.LayerNorm))
        torch.testing.assert_close(norm.weight, population.norm[0][member, 0])
        torch.testing.assert_close(out[member], module(x[member]), rtol=0, atol=1e-5)
    rebuilt = PopulationMLP.from_modules([population.member_module(m) for m in range(len(SEEDS))], "tanh")
    assert torch.equal(rebuilt.to_flat(), population.to_flat())
    assert population.flat_size() == sum(p.numel() for p in population.member_module(0).parameters())


def test_a_layer_norm_leaves_the_initial_weights_and_a_one_layer_network_as_they_were():
    plain = PopulationMLP.initialise(SEEDS, IN, OUT, HIDDEN, 2, "tanh")
    normed = PopulationMLP.initialise(SEEDS, IN, OUT, HIDDEN, 2, "tanh", layer_norm=True)
    assert all(torch.equal(a, b) for a, b in zip(plain.weights + plain.biases, normed.weights + normed.biases))
    assert [n.unique().tolist() for n in normed.norm] == [[1.0], [0.0]]  # nn.LayerNorm's start
    assert PopulationMLP.initialise(SEEDS, IN, OUT, HIDDEN, 1, "tanh", layer_norm=True).norm == []


def test_autograd_reaches_the_layer_norm_and_the_hand_written_backward_refuses_it():
    population = layer_norm_population(2).requires_grad_()
    out, cache = population.forward(inputs(len(SEEDS)))
    grads = torch.autograd.grad(out.square().sum(), population.parameters())
    assert len(grads) == len(population.parameters()) and grads[-2].abs().sum() > 0 and grads[-1].abs().sum() > 0
    member = population.rows(torch.tensor([1]))
    torch.testing.assert_close(member(inputs(len(SEEDS))[1:2]), out[1:2])
    with pytest.raises(NotImplementedError, match="LayerNorm"):
        population.backward(cache, torch.ones_like(out), out.shape[1])
