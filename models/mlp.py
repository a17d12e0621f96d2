"""MLPs in the paper's layout, single and population-batched.

``build_mlp`` gives ``nn.Sequential(Linear, act, Linear, act, ..., Linear)``, the layout of the
paper's published state dicts (a PReLU adds ``.<i>.weight`` with one parameter). Since dee1e90 the
paper's build_nn_from_config (models/model_utils.py @ 3216697) puts a norm before each activation
after the first, which shifts the later indices of networks with 2+ hidden layers: nn.Identity, or
with ``use_layer_norm`` one nn.LayerNorm instance that all those places share (``layer_norm``).
``PopulationMLP`` holds the same networks for P members with a leading population dimension and
runs one batched matmul per layer for all of them.
"""
import math

import torch
from torch import nn


# ATen's elementwise loops run a tensor's last (numel mod twice the vector width) elements through
# the scalar sigmoid, which rounds differently from the vectorised one, and whether a member's values
# fall in that tail depends on the population's size. Sigmoid therefore runs on whole blocks: the
# tail gets a zero-padded block of its own, so every element takes the vectorised kernel.
_VECTOR_BLOCK = 64  # a multiple of twice the widest vector (AVX-512: 16 floats)


def _sigmoid_in_blocks(flat: torch.Tensor) -> torch.Tensor:
    whole = flat.numel() - flat.numel() % _VECTOR_BLOCK
    if whole == flat.numel():
        return flat.sigmoid()
    tail = nn.functional.pad(flat[whole:], (0, _VECTOR_BLOCK - (flat.numel() - whole))).sigmoid()
    return torch.cat([flat[:whole].sigmoid(), tail[:flat.numel() - whole]])


def _sigmoid_in_blocks_(flat: torch.Tensor) -> torch.Tensor:
    whole = flat.numel() - flat.numel() % _VECTOR_BLOCK
    flat[:whole].sigmoid_()
    if whole < flat.numel():
        block = flat.new_zeros(_VECTOR_BLOCK)
        block[:flat.numel() - whole] = flat[whole:]
        flat[whole:] = block.sigmoid_()[:flat.numel() - whole]
    return flat


def _tanh_(x: torch.Tensor) -> torch.Tensor:
    # tanh(x) = 2 sigmoid(2x) - 1, as in ``_tanh_layer`` (which fuses these passes where it can).
    _sigmoid_in_blocks_(x.mul_(2).view(-1))
    return x.mul_(2).sub_(1)


def _tanh(x: torch.Tensor) -> torch.Tensor:
    """``_tanh_`` out of place, for autograd (which cannot see through in-place ops)."""
    return (_sigmoid_in_blocks((x * 2).reshape(-1)) * 2 - 1).view(x.shape)


# A layer's activation overwrites the layer's fresh output where autograd is not recording: on the
# DDQN update's (P, 2 x batch, width) activations, a new tensor per call costs more than the math.
_ACTIVATIONS_IN_PLACE = {"tanh": _tanh_, "relu": torch.relu_,
                         "leakyrelu": lambda x: nn.functional.leaky_relu_(x, 0.01)}
_ONE, _MINUS_ONE = torch.tensor(1.0), torch.tensor(-1.0)
_ACTIVATIONS = {"tanh": _tanh, "relu": torch.relu,
                "leakyrelu": lambda x: nn.functional.leaky_relu(x, 0.01)}


def _product_and_sum(b: torch.Tensor, x: torch.Tensor, w: torch.Tensor, out=None) -> torch.Tensor:
    # baddbmm with a single output column or a single input row rounds differently for a
    # population of one (a matrix-vector path) than for several; a product and a sum over the
    # inputs rounds the same for every P, which keeps a member's values independent of its population.
    if w.shape[2] == 1:
        return torch.add((x * w.transpose(1, 2)).sum(dim=-1, keepdim=True), b, out=out)
    return torch.add((x.transpose(1, 2) * w).sum(dim=1, keepdim=True), b, out=out)


def _affine(b: torch.Tensor, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """x @ w + b for (P, N, in) inputs."""
    if w.shape[2] > 1 and x.shape[1] > 1:
        return torch.baddbmm(b, x, w)
    return _product_and_sum(b, x, w)


def _tanh_layer(b: torch.Tensor, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """tanh(x @ w + b) as 2 sigmoid(2 (x @ w + b)) - 1 in three passes, without autograd.

    The same function as tanh, and about 4x faster than torch.tanh in the CPU build we pin (its
    float32 tanh kernel is not vectorised); differences are ~1e-7. The output's storage is rounded
    up to whole ``_VECTOR_BLOCK``s, so one sigmoid over it runs every element through the
    vectorised kernel (the few padding elements are scratch). Doubling rounds nothing, so baddbmm
    scaling by two and an add of 2s - 1 give exactly the values of the separate multiplications.
    """
    shape = (x.shape[0], x.shape[1], w.shape[2])
    numel = math.prod(shape)
    storage = torch.empty(-(-numel // _VECTOR_BLOCK) * _VECTOR_BLOCK)
    z = storage.as_strided(shape, (shape[1] * shape[2], shape[2], 1))
    if w.shape[2] > 1 and x.shape[1] > 1:
        torch.baddbmm(b, x, w, beta=2, alpha=2, out=z)
    else:
        _product_and_sum(b, x, w, out=z).mul_(2)
    storage.sigmoid_()
    return torch.add(_MINUS_ONE, z, alpha=2, out=z)


def build_mlp(input_dim: int, output_dim: int, hidden_size: int, hidden_layer: int, activation: str,
              layer_norm: bool = False) -> nn.Sequential:
    """The paper's MLP: ``hidden_layer`` hidden layers of ``hidden_size`` units; with
    ``layer_norm`` its one shared LayerNorm before every activation but the first."""
    make_activation = {"tanh": nn.Tanh, "relu": nn.ReLU, "leakyrelu": nn.LeakyReLU, "prelu": nn.PReLU}[activation]
    norm = nn.LayerNorm(hidden_size) if layer_norm else None
    layers, width = [], input_dim
    for layer in range(hidden_layer):
        layers += [nn.Linear(width, hidden_size)] + ([norm] if norm is not None and layer > 0 else [])
        layers.append(make_activation())
        width = hidden_size
    layers.append(nn.Linear(width, output_dim))
    return nn.Sequential(*layers)


class PopulationMLP:
    """P MLPs of one architecture as stacked tensors.

    Weights are stored ``(P, in, out)`` so a layer is one ``baddbmm`` over inputs ``(P, N, in)``;
    biases ``(P, 1, out)``; a PReLU slope ``(P, 1, 1)`` per hidden layer. ``norm`` is empty, or the
    gain and bias ``(P, 1, hidden)`` of the one LayerNorm that every hidden layer after the first
    applies before its activation (the paper's ``use_layer_norm``, one module in several places).
    """

    def __init__(self, weights, biases, slopes, activation: str, norm=()):
        self.weights, self.biases, self.slopes, self.activation = weights, biases, slopes, activation
        self.norm = list(norm)

    @classmethod
    def initialise(cls, seeds, input_dim, output_dim, hidden_size, hidden_layer, activation,
                   layer_norm: bool = False) -> "PopulationMLP":
        """nn.Linear's default init, drawn per member from its own seed; a LayerNorm starts as
        nn.LayerNorm does (gain 1, bias 0) and draws nothing, so the weights are the same either way."""
        dims = [input_dim] + [hidden_size] * hidden_layer + [output_dim]
        weights = [torch.empty(len(seeds), i, o) for i, o in zip(dims[:-1], dims[1:])]
        biases = [torch.empty(len(seeds), 1, o) for o in dims[1:]]
        for member, seed in enumerate(seeds):
            generator = torch.Generator().manual_seed(int(seed))
            for w, b in zip(weights, biases):
                bound = 1.0 / math.sqrt(w.shape[1])
                w[member] = (torch.rand(w.shape[1:], generator=generator) * 2 - 1) * bound
                b[member] = (torch.rand(b.shape[1:], generator=generator) * 2 - 1) * bound
        slopes = [torch.full((len(seeds), 1, 1), 0.25) for _ in range(hidden_layer)] if activation == "prelu" else []
        norm = [torch.ones(len(seeds), 1, hidden_size), torch.zeros(len(seeds), 1, hidden_size)]
        return cls(weights, biases, slopes, activation, norm if layer_norm and hidden_layer > 1 else ())

    @property
    def population(self) -> int:
        return self.weights[0].shape[0]

    def parameters(self) -> list[torch.Tensor]:
        return [*self.weights, *self.biases, *self.slopes, *self.norm]

    def requires_grad_(self) -> "PopulationMLP":
        """Let autograd compute ``parameters()`` gradients (agents without a hand-written backward)."""
        for p in self.parameters():
            p.requires_grad_(True)
        return self

    def _activate(self, z: torch.Tensor, layer: int) -> torch.Tensor:
        if self.activation == "prelu":
            return torch.where(z >= 0, z, z * self.slopes[layer])
        if torch.is_grad_enabled() and z.requires_grad:
            return _ACTIVATIONS[self.activation](z)
        return _ACTIVATIONS_IN_PLACE[self.activation](z)

    def _hidden_layer(self, x: torch.Tensor, layer: int):
        """Hidden layer ``layer``: its pre-activation as the cache keeps it, and its activation."""
        w, b = self.weights[layer], self.biases[layer]
        recording = torch.is_grad_enabled() and (x.requires_grad or w.requires_grad or b.requires_grad)
        if self.activation == "tanh" and not recording and not (self.norm and layer > 0):
            h = _tanh_layer(b, x, w)
            return h, h   # computed in place: the backward of tanh needs only the activation
        z = _affine(b, x, w)
        if self.norm and layer > 0:
            gain, shift = self.norm
            z = torch.addcmul(shift, nn.functional.layer_norm(z, z.shape[-1:]), gain)
        return z, self._activate(z, layer)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """(P, N, in) -> (P, N, out)."""
        return self.forward(x)[0]

    def forward(self, x: torch.Tensor):
        """Output (P, N, out) and the per-layer (input, pre-activation) cache that ``backward`` needs
        (tanh and (leaky) ReLU overwrite the pre-activation: their backward needs only the activation)."""
        cache = []
        for layer in range(len(self.weights) - 1):
            z, h = self._hidden_layer(x, layer)
            cache.append((x, z))
            x = h
        z = _affine(self.biases[-1], x, self.weights[-1])
        cache.append((x, z))
        return z, cache

    def backward(self, cache, grad_out: torch.Tensor, rows: int, out: list[torch.Tensor] | None = None):
        """Gradients of sum(grad_out * output[:, :rows]) for ``parameters()``, by hand; written
        into ``out`` (one tensor per parameter, e.g. ``PopulationAdam.grad_views``) where given.

        Written out instead of autograd because the batched DDQN update is the hot loop of NES,
        and this is about twice as fast; ``rows`` lets a forward over [states, next states]
        back-propagate through the states only. Networks with a LayerNorm train with autograd.
        """
        if self.norm:
            raise NotImplementedError("the hand-written backward has no LayerNorm: use autograd (requires_grad_)")
        layers = len(self.weights)
        out = out or [None] * len(self.parameters())
        out_w, out_b, out_slope = out[:layers], out[layers:2 * layers], out[2 * layers:]
        grads_w, grads_b, grads_slope = [], [], []
        delta = grad_out
        for layer in range(layers - 1, -1, -1):
            x, z = cache[layer]
            x = x[:, :rows]
            grads_w.append(torch.bmm(x.transpose(1, 2), delta, out=out_w[layer]))
            grads_b.append(torch.sum(delta, dim=1, keepdim=True, out=out_b[layer]))
            if layer == 0:
                break
            activated = x                       # this layer's input is the layer below's activation
            pre_activation = cache[layer - 1][1][:, :rows]
            upstream = torch.bmm(delta, self.weights[layer].transpose(1, 2))
            delta, slope_grad = self._activation_backward(upstream, activated, pre_activation, layer - 1,
                                                          out_slope[layer - 1] if self.slopes else None)
            if slope_grad is not None:
                grads_slope.append(slope_grad)
        return [*grads_w[::-1], *grads_b[::-1], *grads_slope[::-1]]

    def _activation_backward(self, upstream: torch.Tensor, h: torch.Tensor, z: torch.Tensor, layer: int,
                             slope_out: torch.Tensor | None = None):
        """Gradient through the activation, from its output ``h`` where that suffices; overwrites
        ``upstream``, a fresh product nothing else reads. A PReLU's slope gradient goes to ``slope_out``."""
        if self.activation == "tanh":
            # 1 - h^2 as one add of -h^2: negating rounds nothing, so the values are those of 1 + (-h^2).
            derivative = torch.mul(h, h)
            return upstream.mul_(torch.add(_ONE, derivative, alpha=-1, out=derivative)), None
        if self.activation == "relu":
            return upstream.mul_(h > 0), None
        if self.activation == "leakyrelu":
            return upstream.mul_(torch.where(h > 0, 1.0, 0.01)), None
        negative = z < 0
        slope_grad = torch.sum(upstream * z * negative, dim=(1, 2), keepdim=True, out=slope_out)
        return upstream * torch.where(negative, self.slopes[layer], 1.0), slope_grad


    def detached_copy(self) -> "PopulationMLP":
        copy = lambda ts: [t.detach().clone() for t in ts]  # noqa: E731
        return PopulationMLP(copy(self.weights), copy(self.biases), copy(self.slopes), self.activation, copy(self.norm))

    def select(self, members) -> "PopulationMLP":
        """The sub-population ``members`` (a list or index tensor), as copies."""
        index = torch.as_tensor(members, dtype=torch.long)
        pick = lambda ts: [t.detach().index_select(0, index) for t in ts]  # noqa: E731
        return PopulationMLP(pick(self.weights), pick(self.biases), pick(self.slopes), self.activation,
                             pick(self.norm))

    def rows(self, index: torch.Tensor) -> "PopulationMLP":
        """The members ``index`` as a view autograd can differentiate back to these parameters."""
        pick = lambda ts: [t[index] for t in ts]  # noqa: E731
        return PopulationMLP(pick(self.weights), pick(self.biases), pick(self.slopes), self.activation,
                             pick(self.norm))

    # --- flat vectors: NES works on one vector psi per member --------------------------------
    # ``include_slopes=False`` leaves the PReLU slopes out of the vector (and untouched by
    # ``load_flat``): the paper's NES evolves the nn.Linear weights and biases only.
    def _flat_order(self, include_slopes: bool = True) -> list[torch.Tensor]:
        """Parameters in the state-dict order of ``build_mlp`` (weights as nn.Linear's (out, in))."""
        order = []
        for layer, (w, b) in enumerate(zip(self.weights, self.biases)):
            order += [w.transpose(1, 2), b]
            if layer == 1:
                order += self.norm  # the shared LayerNorm's one place in the state dict's parameters
            if include_slopes and layer < len(self.slopes):
                order.append(self.slopes[layer])
        return order

    @property
    def num_params(self) -> int:
        return self.flat_size()

    def flat_size(self, include_slopes: bool = True) -> int:
        return sum(t[0].numel() for t in self._flat_order(include_slopes))

    def to_flat(self, include_slopes: bool = True) -> torch.Tensor:
        """(P, D) flat parameter vectors."""
        return torch.cat([t.detach().reshape(self.population, -1) for t in self._flat_order(include_slopes)], dim=1)

    def load_flat(self, flat: torch.Tensor, include_slopes: bool = True) -> None:
        """Overwrite the parameters of ``to_flat(include_slopes)`` from (P, D) flat vectors."""
        offset = 0
        for layer, (w, b) in enumerate(zip(self.weights, self.biases)):
            out_in = w.shape[2] * w.shape[1]
            w.data.copy_(flat[:, offset:offset + out_in].reshape(-1, w.shape[2], w.shape[1]).transpose(1, 2))
            offset += out_in
            b.data.copy_(flat[:, offset:offset + b.shape[2]].reshape(b.shape))
            offset += b.shape[2]
            for norm_part in self.norm if layer == 1 else ():
                norm_part.data.copy_(flat[:, offset:offset + norm_part.shape[2]].reshape(norm_part.shape))
                offset += norm_part.shape[2]
            if include_slopes and layer < len(self.slopes):
                self.slopes[layer].data.copy_(flat[:, offset:offset + 1].reshape(-1, 1, 1))
                offset += 1

    # --- single-member nn.Sequential views (the paper's state-dict layout) -------------------
    def member_module(self, member: int) -> nn.Sequential:
        dims = [self.weights[0].shape[1]] + [w.shape[2] for w in self.weights]
        module = build_mlp(dims[0], dims[-1], dims[1] if len(dims) > 2 else 1, len(dims) - 2, self.activation,
                           layer_norm=bool(self.norm))
        torch.nn.utils.vector_to_parameters(self.to_flat()[member], module.parameters())
        return module

    @classmethod
    def from_modules(cls, modules: list[nn.Sequential], activation: str) -> "PopulationMLP":
        linears = [[m for m in module if isinstance(m, nn.Linear)] for module in modules]
        layer_norm = any(isinstance(m, nn.LayerNorm) for m in modules[0])
        template = cls.initialise([0] * len(modules), linears[0][0].in_features, linears[0][-1].out_features,
                                  linears[0][0].out_features, len(linears[0]) - 1, activation, layer_norm)
        flat = torch.stack([torch.nn.utils.parameters_to_vector(m.parameters()).detach() for m in modules])
        template.load_flat(flat)
        return template
