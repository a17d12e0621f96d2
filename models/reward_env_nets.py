"""Reward networks (RNs) for a population: the reward an agent sees on the real env.

The paper's reward types (Ferreira et al. 2022; ``envs/reward_env.py`` @ 3216697 of their code),
for a real transition (s, a, r, s', info) and the agent's discount gamma:

====  ===========================  =========================================
code  name                         reward the agent sees
====  ===========================  =========================================
0     real                         r
1     potential_exclusive          gamma * Phi(s') - Phi(s)
2     potential_additive           r + gamma * Phi(s') - Phi(s)
3     potential_info_exclusive     gamma * Phi(s', info) - Phi(s, info)
4     potential_info_additive      r + gamma * Phi(s', info) - Phi(s, info)
5     nonpotential_exclusive       f(s')
6     nonpotential_additive        r + f(s')
7     nonpotential_info_exclusive  f(s', info)
8     nonpotential_info_additive   r + f(s', info)
101   info_linear_exclusive        w . info
102   info_linear_additive         r + w . info
====  ===========================  =========================================

As in the paper's code: Phi and f are MLPs that read the state only (one-hot for a discrete
state), never the action; ``info`` is the info vector of this step (s -> s'), appended to both s
and s'. Phi of the next state is used as it is even when s' is terminal, so an
exclusive potential reward over an episode s_0 .. s_T telescopes, discounted, to
gamma^T Phi(s_T) - Phi(s_0).

Departures: w starts at zero (the paper's is a bias-free nn.Linear with its default random init);
type 0 has no parameters here (the paper gives it an unused one-input network);
a PReLU network has one slope per hidden layer (the paper shares one slope across layers), as
our SE networks do.
"""
import torch

from common.errors import UserError
from models.mlp import PopulationMLP

REWARD_TYPES = {
    "real": 0,
    "potential_exclusive": 1,
    "potential_additive": 2,
    "potential_info_exclusive": 3,
    "potential_info_additive": 4,
    "nonpotential_exclusive": 5,
    "nonpotential_additive": 6,
    "nonpotential_info_exclusive": 7,
    "nonpotential_info_additive": 8,
    "info_linear_exclusive": 101,
    "info_linear_additive": 102,
}
_NAMES_BY_CODE = {code: name for name, code in REWARD_TYPES.items()}


def reward_type_name(value, where: str = "reward type") -> str:
    """The canonical name of a reward type given as a name or the paper's code (int or digits)."""
    if isinstance(value, str) and value in REWARD_TYPES:
        return value
    if not isinstance(value, bool):
        try:
            code = int(value)
        except (TypeError, ValueError):
            code = None
        if code in _NAMES_BY_CODE and str(value).strip() == str(code):
            return _NAMES_BY_CODE[code]
    choices = ", ".join(f"{name} ({code})" for name, code in REWARD_TYPES.items())
    raise UserError(f"{where} is {value!r}; choose a name or code: {choices}")


def is_potential(reward_type: str) -> bool:
    return reward_type.startswith("potential")


def is_additive(reward_type: str) -> bool:
    return reward_type.endswith("_additive")


def uses_info(reward_type: str) -> bool:
    return "info" in reward_type


def check_reward_type(reward_type: str, spec, info_dim: int | None = None) -> None:
    """One-line UserError when ``reward_type`` needs an info vector the env ``spec`` lacks."""
    info_dim = spec.info_dim if info_dim is None else info_dim
    if uses_info(reward_type) and info_dim == 0:
        raise UserError(f"reward type '{reward_type}' ({REWARD_TYPES[reward_type]}) needs the env's info vector, "
                        f"and {spec.env_id} has none (HalfCheetah-v5 has one)")


class RewardEnvNets:
    """P reward networks of one type and architecture, one flat parameter vector psi per member.

    ``net`` is the Phi/f MLP of types 1-8, ``weights`` (P, info_dim) the w of types 101/102;
    type 0 has neither (psi is empty).
    """

    def __init__(self, reward_type: str, population: int, state_dim: int, info_dim: int,
                 net: PopulationMLP | None = None, weights: torch.Tensor | None = None):
        self.reward_type, self.state_dim, self.info_dim = reward_type, state_dim, info_dim
        self.net, self.weights = net, weights
        self._population = population

    @classmethod
    def initialise(cls, seeds, spec, hidden_size: int, hidden_layer: int, activation: str, reward_type,
                   info_dim: int | None = None) -> "RewardEnvNets":
        """Members drawn from their own seeds (nn.Linear's init); w of types 101/102 starts at zero.

        ``info_dim`` defaults to the env's (``spec.info_dim``).
        """
        reward_type = reward_type_name(reward_type)
        info_dim = spec.info_dim if info_dim is None else info_dim
        check_reward_type(reward_type, spec, info_dim)
        net = weights = None
        if reward_type.startswith("info_linear"):
            weights = torch.zeros(len(seeds), info_dim)
        elif reward_type != "real":
            input_dim = spec.state_dim + (info_dim if uses_info(reward_type) else 0)
            net = PopulationMLP.initialise(list(seeds), input_dim, 1, hidden_size, hidden_layer, activation)
        return cls(reward_type, len(seeds), spec.state_dim, info_dim, net, weights)

    @property
    def population(self) -> int:
        return self._population

    @property
    def num_params(self) -> int:
        if self.net is not None:
            return self.net.num_params
        return self.info_dim if self.weights is not None else 0

    @torch.no_grad()
    def rewards(self, states: torch.Tensor, next_states: torch.Tensor, env_rewards: torch.Tensor,
                infos: torch.Tensor | None = None, gamma: float | torch.Tensor = 0.99) -> torch.Tensor:
        """The reward the agent sees, (P, N), for transitions (P, N, S) -> (P, N, S).

        ``env_rewards`` (P, N) are the real env's rewards, ``infos`` (P, N, info_dim) the step's
        info vectors (types 3/4/7/8/101/102), ``gamma`` the agent's discount (a float or (P,)).
        """
        kind = self.reward_type
        if kind == "real":
            return env_rewards.float().clone()
        if uses_info(kind) and (infos is None or infos.shape[-1] != self.info_dim):
            raise ValueError(f"reward type '{kind}' needs (P, N, {self.info_dim}) info vectors")
        if self.weights is not None:
            shaping = (infos.float() * self.weights[:, None, :]).sum(dim=-1)
        else:
            if uses_info(kind):
                states = torch.cat([states, infos], dim=-1)
                next_states = torch.cat([next_states, infos], dim=-1)
            if is_potential(kind):
                # Phi(s) and Phi(s') in one batched forward.
                phi = self.net(torch.cat([states, next_states], dim=1).float()).squeeze(-1)
                phi_s, phi_next = phi.split(states.shape[1], dim=1)
                if isinstance(gamma, torch.Tensor):
                    gamma = gamma.reshape(-1, 1)
                shaping = gamma * phi_next - phi_s
            else:
                shaping = self.net(next_states.float()).squeeze(-1)
        return env_rewards.float() + shaping if is_additive(kind) else shaping

    # --- flat vectors: NES works on one vector psi per member --------------------------------
    def flat_size(self, include_slopes: bool = True) -> int:
        if self.net is not None:
            return self.net.flat_size(include_slopes)
        return self.info_dim if self.weights is not None else 0

    def to_flat(self, include_slopes: bool = True) -> torch.Tensor:
        """(P, D): psi (the MLP in build_mlp's state-dict order, without PReLU slopes for
        ``include_slopes`` False; or w)."""
        if self.net is not None:
            return self.net.to_flat(include_slopes)
        if self.weights is not None:
            return self.weights.clone()
        return torch.zeros(self.population, 0)

    def load_flat(self, flat: torch.Tensor, include_slopes: bool = True) -> None:
        if self.net is not None:
            self.net.load_flat(flat, include_slopes)
        elif self.weights is not None:
            self.weights.copy_(flat)

    def with_flat(self, flat: torch.Tensor, include_slopes: bool = True) -> "RewardEnvNets":
        """A new population of this type and architecture whose members have parameters ``flat`` (P', D)
        (the slopes of this population's member 0 where ``flat`` leaves them out)."""
        count = flat.shape[0]
        net = self.net.select([0] * count) if self.net is not None else None
        weights = torch.zeros(count, self.info_dim) if self.weights is not None else None
        clone = RewardEnvNets(self.reward_type, count, self.state_dim, self.info_dim, net, weights)
        clone.load_flat(flat, include_slopes)
        return clone

    # --- single-network layout (the paper's RewardEnv keys, ``env.reward_net...``) ------------
    def member_state_dict(self, member: int) -> dict[str, torch.Tensor]:
        """Member ``member`` as the paper's RewardEnv state: ``env.reward_net.0.weight`` ... for an
        MLP, ``env.reward_net`` (the vector w) for types 101/102, nothing for type 0."""
        if self.net is not None:
            return {f"env.reward_net.{key}": value.clone()
                    for key, value in self.net.member_module(member).state_dict().items()}
        if self.weights is not None:
            return {"env.reward_net": self.weights[member].clone()}
        return {}

    @classmethod
    def from_state_dict(cls, state: dict[str, torch.Tensor], spec, hidden_size: int, hidden_layer: int,
                        activation: str, reward_type, info_dim: int | None = None) -> "RewardEnvNets":
        """A population of one from ``member_state_dict``'s layout.

        Raises KeyError or RuntimeError (the first line says which) if the state does not fit.
        """
        nets = cls.initialise([0], spec, hidden_size, hidden_layer, activation, reward_type, info_dim)
        if nets.net is not None:
            module = nets.net.member_module(0)
            prefix = "env.reward_net."
            module.load_state_dict({k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)})
            nets.load_flat(torch.nn.utils.parameters_to_vector(module.parameters()).detach()[None])
        elif nets.weights is not None:
            weights = state["env.reward_net"]
            if weights.shape != (nets.info_dim,):
                raise RuntimeError(f"env.reward_net has shape {tuple(weights.shape)}, expected ({nets.info_dim},)")
            nets.load_flat(weights.reshape(1, -1).float())
        return nets
