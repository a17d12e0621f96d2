"""Twin Delayed DDPG (TD3, Fujimoto et al. 2018) for a population of P independent agents.

The paper's semantics (agents/TD3.py @ 3216697): a deterministic actor mu(s) = tanh(net(s)) * bound
explores with Gaussian noise of std ``action_std * bound`` (clipped to the action box) after
``init_episodes`` episodes of uniformly random actions. Every learning step samples a replay
minibatch and fits twin critics to

    y = r + gamma * (1 - done) * min_i Q'_i(s', clip(mu'(s') + clip(eps, -c, c)))

with eps ~ N(0, policy_std * bound) (target policy smoothing, c = policy_std_clip * bound) and the
MSE summed over both critics. Every ``policy_delay``-th step the actor ascends Q_1(s, mu(s)) and the
three target networks move towards the online ones with rate ``tau``. All noise scales are
fractions of the action bound, as in Fujimoto et al.'s code (the paper's code scales only the
exploration noise; the two agree for bound 1, e.g. MountainCarContinuous and HalfCheetah).

Both critics of all members form one ``PopulationMLP`` of 2P networks (critic 1 of member m is row
m, critic 2 is row P + m), so a critic pass is one batched matmul per layer. Gradients come from
autograd; each member's loss is its own mean, and summing the members' losses keeps every gradient
the member's own. Subclasses (``agents.td3_discrete``) change only how action vectors are made.

With ``icm: true`` the ICM (agents/icm.py) learns on each sampled batch and its curiosity reward
is added to the batch's rewards before the critic step.
"""
import math
from dataclasses import dataclass

import torch

from agents.base import AgentConfig, per_member, require_action_space, soft_update
from agents.icm import ICMOptions, PopulationICM
from agents.replay import PopulationReplay
from common.rng import MemberStreams, derive_seed
from common.schema import ACTIVATIONS, option
from envs.real import RealEnvSpec
from models.adam import PopulationAdam
from models.flat_params import into_one_tensor
from models.mlp import PopulationMLP

# Roles that keep each network's initial weights apart from the member's other random streams.
_ACTOR_ROLE, _CRITIC_1_ROLE, _CRITIC_2_ROLE = 1, 2, 3


@dataclass
class TD3Config(ICMOptions, AgentConfig):
    """The paper's Pendulum values (default_config_pendulum_td3_opt.yaml @ 3216697 of their code);
    default_config/<env>_td3.yaml hold their MountainCarContinuous and HalfCheetah values."""

    train_episodes: int = option(70, "cap on training episodes", low=1)
    init_episodes: int = option(20, "episodes of uniformly random actions that fill the replay buffer", low=0)
    early_out_num: int = option(5, "episodes in the moving mean of the SE early-out rule", low=1)
    early_out_virtual_diff: float = option(
        0.0478, "SE early out when that mean changes by less than this fraction", low=0.0)
    batch_size: int = option(233, "replay minibatch size", low=1)
    gamma: float = option(0.944, "discount factor", low=0.0, high=1.0)
    lr: float = option(0.00352, "Adam learning rate of the actor and the critics", low=0.0, low_open=True)
    tau: float = option(0.0464, "soft target update rate (0 would never move the target network)",
                        low=0.0, low_open=True, high=1.0)
    policy_delay: int = option(1, "critic updates per actor and target update", low=1)
    rb_size: int = option(1000000, "replay buffer capacity (transitions)", low=1)
    hidden_size: int = option(134, "actor and critic hidden units", low=1)
    hidden_layer: int = option(2, "actor and critic hidden layers", low=1)
    activation: str = option("leakyrelu", "actor and critic activation", choices=ACTIVATIONS)
    action_std: float = option(0.0571, "exploration noise std, as a fraction of the action bound", low=0.0)
    policy_std: float = option(0.102, "target policy smoothing noise std, as a fraction of the action bound",
                               low=0.0)
    policy_std_clip: float = option(0.25, "clip of the smoothing noise, as a fraction of the action bound",
                                    low=0.0)
    layer_norm: bool = option(
        False, "a LayerNorm before every hidden activation but the first, one per network shared by those "
               "places (the paper's use_layer_norm: build_nn_from_config, models/model_utils.py @ 3216697)")


class TD3:
    name, title = "td3", "TD3 (twin delayed DDPG, continuous actions)"
    Config = TD3Config
    discrete = False
    # Held as (P,) tensors: members that differ only in these train as one batch (``agents.varied``).
    MEMBER_FIELDS = ("lr", "gamma", "tau")

    @classmethod
    def check_spec(cls, spec: RealEnvSpec) -> None:
        require_action_space(cls.name, spec, discrete=cls.discrete)

    def __init__(self, config: TD3Config, spec: RealEnvSpec, seeds: list[int], member_configs=None):
        """``member_configs``, when given, holds each member's own values of ``MEMBER_FIELDS``."""
        self.check_spec(spec)
        self.config, self.spec = config, spec
        self.population = population = len(seeds)
        self.action_size, self.bound = spec.action_dim, spec.action_bound
        self.rng = MemberStreams(seeds)

        self.actor = PopulationMLP.initialise([derive_seed(s, _ACTOR_ROLE) for s in seeds], spec.state_dim,
                                              self.action_size, config.hidden_size, config.hidden_layer,
                                              config.activation, config.layer_norm).requires_grad_()
        self.critics = PopulationMLP.initialise(
            [derive_seed(s, role) for role in (_CRITIC_1_ROLE, _CRITIC_2_ROLE) for s in seeds],
            spec.state_dim + self.action_size, 1, config.hidden_size, config.hidden_layer,
            config.activation, config.layer_norm).requires_grad_()
        self.actor_target, self.critics_target = self.actor.detached_copy(), self.critics.detached_copy()
        values = lambda name: per_member(name, config, member_configs, population)  # noqa: E731
        lr = values("lr")
        self.actor_optimizer = PopulationAdam(self.actor.parameters(), lr)
        self.critic_optimizer = PopulationAdam(self.critics.parameters(), lr.repeat(2))
        self.gamma, self.tau = values("gamma")[:, None], values("tau")[:, None]
        # The targets in one (P, N) tensor each too (Adam re-homes the online networks): a soft update is one lerp.
        self.actor_target_params = into_one_tensor(self.actor_target.parameters())
        self.critics_target_params = into_one_tensor(self.critics_target.parameters())
        self.replay = PopulationReplay(population, config.rb_size, spec.state_dim, self.action_size)
        self.episodes = torch.zeros(population, dtype=torch.long)
        self.updates = torch.zeros(population, dtype=torch.long)
        self.nonfinite_loss = torch.zeros(population, dtype=torch.bool)
        self.icm = PopulationICM(config, spec, seeds) if config.icm else None
        self._last_vectors = torch.zeros(population, 1, self.action_size)

    # --- how action vectors are made (``agents.td3_discrete`` overrides these) -------------------
    def policy_vectors(self, actor: PopulationMLP, states: torch.Tensor, active: torch.Tensor,
                       members: torch.Tensor | None = None) -> torch.Tensor:
        """mu(s) = tanh(net(s)) * bound, the critic's action input (P', N, A); differentiable."""
        return torch.tanh(actor(states)) * self.bound

    def random_vectors(self, count: int, active: torch.Tensor) -> torch.Tensor:
        """(P, count, A) uniformly random actions for the init episodes."""
        uniform = self.rng.uniform(count * self.action_size, active).view(self.population, count, -1)
        return (uniform * 2 - 1) * self.bound

    def clip_vectors(self, vectors: torch.Tensor) -> torch.Tensor:
        return vectors.clamp(-self.bound, self.bound)

    def env_actions(self, vectors: torch.Tensor) -> torch.Tensor:
        return vectors

    @torch.no_grad()
    def greedy(self, obs: torch.Tensor) -> torch.Tensor:
        """(P, B, S) -> (P, B, A) deterministic actions mu(s)."""
        return self.env_actions(self.policy_vectors(self.actor, obs, torch.zeros(self.population, dtype=torch.bool)))

    # --- the protocol ----------------------------------------------------------------------------
    def _noise(self, shape: tuple, std: float, active: torch.Tensor, members: torch.Tensor | None = None):
        """Gaussian noise of std ``std * bound`` (P', *shape); only ``active`` members draw."""
        draws = self.rng.normal(math.prod(shape), active)
        draws = draws if members is None else draws[members]
        return draws.view(-1, *shape) * (std * self.bound)

    @torch.no_grad()
    def act(self, obs: torch.Tensor, active: torch.Tensor) -> torch.Tensor:
        """Random actions in a member's init episodes, noisy policy actions after them."""
        batch = obs.shape[1]
        exploring = active & (self.episodes < self.config.init_episodes)
        acting = active & ~exploring
        random = self.random_vectors(batch, exploring)
        noisy = self.policy_vectors(self.actor, obs, acting) + self._noise((batch, self.action_size),
                                                                           self.config.action_std, acting)
        self._last_vectors = torch.where(exploring[:, None, None], random, self.clip_vectors(noisy))
        return self.env_actions(self._last_vectors)

    def observe(self, active, states, actions, rewards, next_states, terminated, done_values=None) -> None:
        """Store one transition per active member with the action vector ``act`` made (B = 1); the
        buffer's done is ``done_values`` where given (the raw SE output), else ``terminated``."""
        dones = terminated if done_values is None else done_values
        self.replay.add(active, states, self._last_vectors, rewards, next_states, dones)

    def learn(self, active: torch.Tensor) -> torch.Tensor:
        """One critic step for every active member, plus an actor and target step every
        ``policy_delay``-th time; returns the members whose loss was not finite."""
        config = self.config
        members = torch.nonzero(active).flatten()
        everyone = len(members) == self.population
        twin = torch.cat([members, members + self.population])
        states, vectors, rewards, next_states, dones = self.replay.sample(self.rng, config.batch_size, active, members)
        icm_nonfinite = torch.zeros_like(active)
        if self.icm is not None:
            rewards, icm_nonfinite = self._add_curiosity(active, members, states, vectors, rewards, next_states)

        with torch.no_grad():
            smoothing = self._noise((config.batch_size, self.action_size), config.policy_std, active, members)
            limit = config.policy_std_clip * self.bound
            actor_target = self.actor_target if everyone else self.actor_target.select(members)
            next_vectors = self.clip_vectors(self.policy_vectors(actor_target, next_states, active, members)
                                             + smoothing.clamp(-limit, limit))
            critics_target = self.critics_target if everyone else self.critics_target.select(twin)
            next_q = critics_target(torch.cat([next_states, next_vectors], dim=-1).repeat(2, 1, 1)).squeeze(-1)
            gamma = self.gamma if everyone else self.gamma[members]
            target = rewards + gamma * (1 - dones) * torch.minimum(*next_q.chunk(2))

        critics = self.critics if everyone else self.critics.rows(twin)
        q = critics(torch.cat([states, vectors], dim=-1).repeat(2, 1, 1)).squeeze(-1)
        critic_loss = ((q - target.repeat(2, 1)) ** 2).mean(dim=1).view(2, -1).sum(dim=0)
        grads = torch.autograd.grad(critic_loss.sum(), self.critics.parameters())
        finite = torch.zeros_like(active)
        finite[members] = torch.isfinite(critic_loss)
        self.critic_optimizer.step(grads, (active & finite).repeat(2))
        self.updates += active.long()

        delayed = active & finite & (self.updates % config.policy_delay == 0)
        actor_finite = self._actor_step(delayed, members, states) if delayed.any() else torch.ones_like(active)
        return (active & ~(finite & actor_finite)) | icm_nonfinite

    def _add_curiosity(self, active, members, states, vectors, rewards, next_states):
        """One ICM step on the sampled batch, then rewards + its curiosity reward, in that order
        as in the paper's code. The ICM reads the executed action (an index for discrete TD3) and
        takes whole-population tensors; inactive members' rows stay zero and are not used."""
        actions = self.env_actions(vectors)
        if len(members) < self.population:
            whole = lambda t: t.new_zeros((self.population,) + t.shape[1:]).index_copy_(0, members, t)  # noqa: E731
            states, actions, next_states = whole(states), whole(actions), whole(next_states)
        nonfinite = self.icm.learn(states, actions, next_states, active)
        return rewards + self.icm.intrinsic_reward(states, actions, next_states)[members], nonfinite

    def _actor_step(self, delayed: torch.Tensor, members: torch.Tensor, states: torch.Tensor) -> torch.Tensor:
        """Ascend Q_1(s, mu(s)) for the ``delayed`` members, then move their targets."""
        chosen = torch.nonzero(delayed).flatten()
        everyone = len(chosen) == self.population
        # ``states`` holds the rows of ``members``; keep those of the chosen ones.
        states = states[torch.isin(members, chosen)]
        actor = self.actor if everyone else self.actor.rows(chosen)
        critic_1 = self.critics.rows(chosen)
        q = critic_1(torch.cat([states, self.policy_vectors(actor, states, delayed, chosen)], dim=-1))
        actor_loss = -q.mean(dim=(1, 2))
        grads = torch.autograd.grad(actor_loss.sum(), self.actor.parameters())
        finite = torch.ones_like(delayed)
        finite[chosen] = torch.isfinite(actor_loss)
        moving = delayed & finite
        self.actor_optimizer.step(grads, moving)
        soft_update(self.actor_target_params, self.actor_optimizer.flat, self.tau, moving)
        soft_update(self.critics_target_params, self.critic_optimizer.flat, self.tau.repeat(2, 1), moving.repeat(2))
        return finite

    def end_episode(self, active: torch.Tensor) -> None:
        self.episodes += active.long()

    def member_state_dict(self, member: int) -> dict[str, torch.Tensor]:
        parts = {"actor": self.actor.member_module(member), "critic_1": self.critics.member_module(member),
                 "critic_2": self.critics.member_module(self.population + member)}
        return {f"{name}.{k}": v for name, module in parts.items() for k, v in module.state_dict().items()}
