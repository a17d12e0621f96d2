"""Intrinsic Curiosity Module (Pathak et al. 2017) for a population: the paper's curiosity baseline.

Three networks per member:

- an encoder phi: state -> features (``icm_feature_size``);
- an inverse model g(phi(s), phi(s')) that predicts the action taken between s and s' (logits and
  cross-entropy for discrete actions, the action vector and MSE for continuous ones); it shapes the
  features to hold what the agent can influence;
- a forward model f(phi(s), a) that predicts phi(s') (the action one-hot for discrete actions).

The curiosity reward of a transition is the forward model's surprise,
``eta / 2 * ||f(phi(s), a) - phi(s')||^2``; the ICM learns on
``(1 - beta) * inverse loss + beta * forward loss``, the forward loss being that same half squared
error averaged over the batch. As in Pathak et al. and in the paper's code
(models/icm_baseline.py), the forward loss also trains the encoder; the inverse loss keeps the
features from collapsing. The paper's code regresses discrete action indices with MSE (@ 004176f;
BCE or cross-entropy from 5bb9002 on) and averages the error over features; we use Pathak et al.'s
cross-entropy and summed error.

Each member has its own networks (initialised from its own seed) and Adam state; a member outside
``active`` is untouched by ``learn``.
"""
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from common.rng import derive_seed
from common.schema import option
from envs.real import RealEnvSpec
from models.adam import PopulationAdam
from models.mlp import PopulationMLP


@dataclass
class ICMOptions:
    """ICM hyperparameters, mixed into the configs of the agents that support it: lr and feature
    size from the paper's default_config_cartpole.yaml @ 004176f (@ 3216697: lr 1e-4,
    feature_dim 32), hidden size as @ 3216697 (128)."""

    icm: bool = option(False, "add the ICM curiosity reward to the env reward")
    icm_lr: float = option(1e-3, "ICM Adam learning rate", low=0.0, low_open=True)
    icm_beta: float = option(0.2, "ICM loss weight of the forward model (1 - beta: inverse model)",
                             low=0.0, high=1.0)
    icm_eta: float = option(0.5, "scale of the intrinsic reward (eta / 2 x forward-model error)", low=0.0)
    icm_feature_size: int = option(128, "size of the ICM state features", low=1)
    icm_hidden_size: int = option(128, "hidden units of the ICM networks", low=1)


# A member's three networks are seeded with (member seed, ICM tag, network): three-part
# derivations never meet the member seed itself or the two-part ones agents use for their networks.
_ICM_TAG = 0x1C3
_ENCODER, _INVERSE, _FORWARD = 1, 2, 3


class PopulationICM:
    """The ICM of P independent members. Every input has the population as its leading dimension:
    states (P, N, S), next states (P, N, S), actions (P, N) or (P, N, 1) indices for a discrete
    action space, (P, N, A) vectors for a continuous one."""

    def __init__(self, options: ICMOptions, spec: RealEnvSpec, seeds: list[int]):
        self.options, self.spec = options, spec
        self.population = len(seeds)
        self.discrete = spec.discrete_actions
        features, hidden = options.icm_feature_size, options.icm_hidden_size
        seeded = lambda role: [derive_seed(s, _ICM_TAG, role) for s in seeds]  # noqa: E731
        # Layouts: the paper's two-hidden-layer leaky-ReLU encoder (models/icm_baseline.py @ 3216697);
        # Pathak et al.'s one-hidden-layer heads (ReLU inverse model, leaky-ReLU forward model; the
        # paper's inverse model has two hidden layers, its forward model residual blocks).
        mlp = PopulationMLP.initialise
        self.encoder = mlp(seeded(_ENCODER), spec.state_dim, features, hidden, 2, "leakyrelu")
        self.inverse_model = mlp(seeded(_INVERSE), 2 * features, spec.action_dim, hidden, 1, "relu")
        self.forward_model = mlp(seeded(_FORWARD), features + spec.action_dim, features, hidden, 1, "leakyrelu")
        # Autograd tracks them only inside ``learn``; everything else runs under no_grad.
        self.nets = tuple(net.requires_grad_() for net in (self.encoder, self.inverse_model, self.forward_model))
        self.optimizer = PopulationAdam(self.parameters(), torch.full((self.population,), options.icm_lr))

    def parameters(self) -> list[torch.Tensor]:
        return [p for net in self.nets for p in net.parameters()]

    def _action_input(self, actions: torch.Tensor) -> torch.Tensor:
        """What the forward model reads: a one-hot for a discrete action, else the action vector."""
        if self.discrete:
            return F.one_hot(actions.reshape(actions.shape[0], actions.shape[1]).long(), self.spec.action_dim).float()
        return actions.float()

    def _losses(self, nets, states, actions, next_states):
        """Per-member inverse loss (M,), forward loss (M,) and per-transition surprise (M, N)."""
        encoder, inverse_model, forward_model = nets
        batch = states.shape[1]
        phi, phi_next = encoder(torch.cat([states, next_states], dim=1)).split(batch, dim=1)
        predicted_action = inverse_model(torch.cat([phi, phi_next], dim=-1))
        if self.discrete:
            target = actions.reshape(actions.shape[0], batch).long()
            inverse_loss = F.cross_entropy(predicted_action.transpose(1, 2), target, reduction="none").mean(dim=1)
        else:
            inverse_loss = ((predicted_action - actions) ** 2).mean(dim=(1, 2))
        predicted_phi = forward_model(torch.cat([phi, self._action_input(actions)], dim=-1))
        surprise = 0.5 * ((predicted_phi - phi_next) ** 2).sum(dim=-1)
        return inverse_loss, surprise.mean(dim=1), surprise

    @torch.no_grad()
    def intrinsic_reward(self, states, actions, next_states) -> torch.Tensor:
        """(P, N) curiosity rewards eta / 2 * ||f(phi(s), a) - phi(s')||^2."""
        return self.options.icm_eta * self._losses(self.nets, states, actions, next_states)[2]

    def learn(self, states, actions, next_states, active: torch.Tensor) -> torch.Tensor:
        """One Adam step for the ``active`` members; returns the (P,) mask of non-finite losses.

        Only the active members' rows are computed: inactive rows may hold anything.
        """
        members = torch.nonzero(active).flatten()
        everyone = len(members) == self.population
        if everyone:
            nets = self.nets
        else:
            nets = tuple(net.select(members).requires_grad_() for net in self.nets)
            states, actions, next_states = states[members], actions[members], next_states[members]
        with torch.enable_grad():
            inverse_loss, forward_loss, _ = self._losses(nets, states, actions, next_states)
            loss = (1 - self.options.icm_beta) * inverse_loss + self.options.icm_beta * forward_loss
            # Members share no parameters, so the gradient of the sum is each member's own gradient.
            grads = torch.autograd.grad(loss.sum(), [p for net in nets for p in net.parameters()])
        finite = torch.zeros_like(active)
        finite[members] = torch.isfinite(loss.detach())
        if not everyone:
            grads = [torch.zeros_like(p).index_copy_(0, members, g) for p, g in zip(self.parameters(), grads)]
        self.optimizer.step(list(grads), active & finite)
        return active & ~finite
