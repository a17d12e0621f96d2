"""Double DQN (van Hasselt et al. 2016) for a population of P independent agents.

The paper's semantics (agents/DDQN.py @ 3216697): epsilon-greedy with epsilon decayed per episode,
a replay buffer, Adam on the MSE between Q(s, a) and
r + gamma * Q_target(s', argmax_a' Q(s', a')) * (1 - done), and a soft target update with rate tau
after every gradient step. Every member has its own networks, optimizer state, buffer, epsilon
and random stream; one batched computation serves them all.

With ``icm: true`` the ICM (agents/icm.py) learns on each sampled batch and its curiosity reward
is added to the batch's rewards, in that order as in the paper's code.
"""
from dataclasses import dataclass

import torch

from agents.base import AgentConfig, per_member, require_action_space, soft_update
from agents.icm import ICMOptions, PopulationICM
from agents.replay import PopulationReplay
from common.rng import MemberStreams
from common.schema import ACTIVATIONS, option
from envs.real import RealEnvSpec
from models.adam import PopulationAdam
from models.flat_params import into_one_tensor
from models.mlp import PopulationMLP


@dataclass
class DDQNConfig(ICMOptions, AgentConfig):
    """The paper's CartPole SE values (default_config_cartpole_syn_env.yaml @ 3216697 of their code)."""

    batch_size: int = option(199, "replay minibatch size", low=1)
    gamma: float = option(0.988, "discount factor", low=0.0, high=1.0)
    lr: float = option(3.04e-4, "Adam learning rate", low=0.0, low_open=True)
    tau: float = option(0.00848, "soft target update rate (0 would never move the target network)",
                        low=0.0, low_open=True, high=1.0)
    eps_init: float = option(0.809, "initial epsilon", low=0.0, high=1.0)
    eps_min: float = option(0.0371, "final epsilon", low=0.0, high=1.0)
    eps_decay: float = option(0.961, "epsilon multiplier per episode", low=0.0, high=1.0)
    rb_size: int = option(100000, "replay buffer capacity (transitions)", low=1)
    hidden_size: int = option(57, "Q-network hidden units", low=1)
    hidden_layer: int = option(1, "Q-network hidden layers", low=1)
    activation: str = option("tanh", "Q-network activation", choices=ACTIVATIONS)


class DDQN:
    name, title = "ddqn", "Double DQN"
    Config = DDQNConfig
    # Held as (P,) tensors: members that differ only in these train as one batch (``agents.varied``).
    MEMBER_FIELDS = ("lr", "gamma", "tau", "eps_init", "eps_min", "eps_decay")

    @classmethod
    def check_spec(cls, spec: RealEnvSpec) -> None:
        require_action_space(cls.name, spec, discrete=True)

    def __init__(self, config: DDQNConfig, spec: RealEnvSpec, seeds: list[int], member_configs=None):
        """``member_configs``, when given, holds each member's own values of ``MEMBER_FIELDS``."""
        self.check_spec(spec)
        self.config, self.spec = config, spec
        self.population = len(seeds)
        self.action_counts = torch.full((self.population,), spec.action_dim)
        self.rng = MemberStreams(seeds)
        self.q = self._make_q_network(config, spec, seeds)
        self.q_target = self.q.detached_copy()
        values = lambda name: per_member(name, config, member_configs, self.population)  # noqa: E731
        self.optimizer = PopulationAdam(self.q.parameters(), values("lr"))
        # The target network in one (P, N) tensor too (Adam re-homes the online one): a soft update is one lerp.
        self.q_target_params = into_one_tensor(self.q_target.parameters())
        self.replay = PopulationReplay(self.population, config.rb_size, spec.state_dim)
        self.epsilon, self.eps_min, self.eps_decay = values("eps_init"), values("eps_min"), values("eps_decay")
        self.gamma, self.tau = values("gamma")[:, None], values("tau")[:, None]
        self.nonfinite_loss = torch.zeros(self.population, dtype=torch.bool)
        self.icm = PopulationICM(config, spec, seeds) if config.icm else None

    @staticmethod
    def _make_q_network(config: DDQNConfig, spec: RealEnvSpec, seeds: list[int]) -> PopulationMLP:
        return PopulationMLP.initialise(seeds, spec.state_dim, spec.action_dim, config.hidden_size,
                                        config.hidden_layer, config.activation)

    @torch.no_grad()
    def greedy(self, obs: torch.Tensor) -> torch.Tensor:
        """(P, B, S) -> (P, B) greedy actions."""
        return self.q(obs).argmax(dim=-1)

    @torch.no_grad()
    def act(self, obs: torch.Tensor, active: torch.Tensor) -> torch.Tensor:
        """Epsilon-greedy actions (P, B); only ``active`` members draw random numbers."""
        batch = obs.shape[1]
        # Decided in numpy: P x B comparisons, which a population of one makes at every step.
        explore = self.rng.uniform(batch, active).numpy() < self.epsilon.numpy()[:, None]
        random_actions = self.rng.integers(self.action_counts, batch, active)
        if explore.all():   # no greedy action would be used (often so for a population of one)
            return random_actions
        return torch.where(torch.from_numpy(explore), random_actions, self.q(obs).argmax(dim=-1))

    def observe(self, active, states, actions, rewards, next_states, terminated, done_values=None) -> None:
        """Store one transition per active member (B = 1 training episode per member); the buffer's
        done is ``done_values`` where given (the raw SE output the paper stores), else ``terminated``."""
        dones = terminated if done_values is None else done_values
        self.replay.add(active, states, actions, rewards, next_states, dones)

    @torch.no_grad()
    def learn(self, active: torch.Tensor) -> torch.Tensor:
        """One gradient step for every active member; returns the members whose loss was not finite.

        The forward and backward passes run on the active members only: late in a training most
        members have stopped, and computing masked rows would waste most of the batch.
        """
        everyone = bool(active.all())
        members = None if everyone else torch.nonzero(active).flatten()
        states, actions, rewards, next_states, dones = self.replay.sample(self.rng, self.config.batch_size, active,
                                                                          members)
        if self.icm is not None:
            rewards, icm_nonfinite = self._add_curiosity(active, members, states, actions, rewards, next_states)
        taken = actions.long()   # (M, batch, 1): the index of each transition's action
        grad, grad_views = self.optimizer.grad, self.optimizer.grad_views
        if everyone:
            # The backward writes straight into the optimizer's gradient buffer.
            _, loss = self._td_gradients(self.q, self.q_target, self.gamma, states, taken, rewards, next_states,
                                         dones, out=grad_views)
            finite = torch.isfinite(loss)
            stepping = None if bool(finite.all()) else finite   # None: every member steps
            nonfinite = ~finite
        else:
            grads, loss = self._td_gradients(self.q.select(members), self.q_target.select(members),
                                             self.gamma[members], states, taken, rewards, next_states, dones)
            finite = torch.zeros_like(active)
            finite[members] = torch.isfinite(loss)
            for view, member_grads in zip(grad_views, grads):   # the others' rows are masked out
                view.index_copy_(0, members, member_grads)
            stepping = active & finite
            nonfinite = active & ~finite
        self.optimizer.step(grad, stepping)
        soft_update(self.q_target_params, self.optimizer.flat, self.tau, stepping)
        if self.icm is not None:
            nonfinite |= icm_nonfinite
        return nonfinite

    def _td_gradients(self, q, q_target, gamma, states, taken, rewards, next_states, dones, out=None):
        """Gradients of each member's double-DQN loss for ``q.parameters()`` (into ``out`` where
        given), and the losses (M,); ``gamma`` (M, 1) holds the M members' discounts and ``taken``
        (M, batch, 1) the actions."""
        batch = states.shape[1]
        not_done = 1 - dones
        if not not_done.any():
            # Every sampled transition ends its episode (always so on a bandit SE): the target is
            # the reward alone, and the next-state passes would only be multiplied by zero.
            q_now, cache = q.forward(states)
            return self._td_error_gradients(q, cache, q_now, taken, rewards, out)
        # One forward of the online net serves both Q(s, .) and the argmax over Q(s', .).
        q_both, cache = q.forward(torch.cat([states, next_states], dim=1))
        q_now, q_next = q_both.split(batch, dim=1)
        best_next = q_next.argmax(dim=-1, keepdim=True)
        next_value = q_target(next_states).gather(-1, best_next).squeeze(-1)
        target = rewards + gamma * next_value * not_done
        return self._td_error_gradients(q, cache, q_now, taken, target, out)

    @staticmethod
    def _td_error_gradients(q, cache, q_now, taken, target, out):
        batch = q_now.shape[1]
        error = q_now.gather(-1, taken).squeeze(-1) - target
        # d(mean squared error)/dQ, placed on the taken action; each member's gradient is its own.
        grad_q = torch.zeros_like(q_now).scatter_(-1, taken, (2.0 / batch * error).unsqueeze(-1))
        return q.backward(cache, grad_q, rows=batch, out=out), (error ** 2).mean(dim=1)

    def _add_curiosity(self, active, members, states, actions, rewards, next_states):
        """One ICM step on the sampled batch, then rewards + its curiosity reward (the ICM takes
        whole-population tensors; inactive members' rows stay zero and are not used)."""
        if members is not None:
            whole = lambda t: t.new_zeros((self.population,) + t.shape[1:]).index_copy_(0, members, t)  # noqa: E731
            states, actions, next_states = whole(states), whole(actions), whole(next_states)
        nonfinite = self.icm.learn(states, actions, next_states, active)
        curiosity = self.icm.intrinsic_reward(states, actions, next_states)
        return rewards + (curiosity if members is None else curiosity[members]), nonfinite

    def member_state_dict(self, member: int) -> dict[str, torch.Tensor]:
        return {f"q.{k}": v for k, v in self.q.member_module(member).state_dict().items()}

    def end_episode(self, active: torch.Tensor) -> None:
        decayed = torch.clamp(self.epsilon * self.eps_decay, min=self.eps_min)
        self.epsilon = torch.where(active, decayed, self.epsilon)
