"""Proximal Policy Optimization (PPO-clip, Schulman et al. 2017) for a population of P agents.

Each member has an actor and a critic V(s) (separate MLPs, one Adam over both, as in the paper's
agents/PPO.py @ 3216697). Discrete actions: a categorical policy over the actor's logits,
greedy = argmax.
Continuous actions: a diagonal Gaussian with mean tanh(actor(s)) (the paper's Actor_PPO) and a
learned, state-independent std that starts at ``action_std``; the sample u is clipped to [-1, 1]
and scaled by the env's action bound, so ``action_std`` is a fraction of the bound; greedy = mean.

Update rule (every ``update_episodes`` whole episodes of a member, from ``end_episode``):
advantages by GAE(lambda) with bootstrapping from V(s') unless the env *terminated* (an episode
cut by the time limit is bootstrapped), normalised over the rollout; then ``ppo_epochs`` epochs
over minibatches of ``batch_size`` transitions reshuffled per member from its own random stream,
each an Adam step on

    -min(r A, clip(r, 1 - eps_clip, 1 + eps_clip) A) + vf_coef (V(s) - R)^2 - ent_coef H

with r = pi(a|s) / pi_old(a|s) and R = A + V_old(s) (the GAE return), gradients clipped to
``max_grad_norm`` per member and network.

ICM (``icm: true``): the curiosity reward of every rollout transition is added to its reward
before GAE, and the ICM takes one step per minibatch of the first epoch.

Where we depart from the paper's code (agents/PPO.py): it updates once update_episodes x
max_steps env steps have passed (mid-episode if need be), takes ppo_epochs full-batch steps on
Monte-Carlo returns normalised per rollout (advantage = normalised return - V), learns the std
itself rather than its log, and trains the ICM once per update on the whole rollout. Whole
episodes let the members of a population end their episodes together and update in one call;
GAE, minibatches and a log-std are the standard PPO of Schulman et al. ``init_episodes`` only delays the first
real-env test: PPO learns from its first rollout, as in the paper's configs (init_episodes 0).

Population invariance: every tensor a member's numbers pass through has a shape that does not
depend on the other members (the rollout buffer always has its full capacity; minibatches have a
fixed size and padding rows are masked), so a member trains bit for bit the same alone.
"""
import math
from dataclasses import dataclass

import torch

from agents.base import AgentConfig, per_member
from agents.icm import ICMOptions
from common.rng import MemberStreams, derive_seed
from common.schema import ACTIVATIONS, option
from envs.real import RealEnvSpec
from models.adam import PopulationAdam
from models.mlp import PopulationMLP

# Seed roles that keep the actor's and the critic's initial weights apart.
_ACTOR_ROLE, _CRITIC_ROLE = 1, 2


@dataclass
class PPOConfig(ICMOptions, AgentConfig):
    """Defaults from the paper's hand-set MountainCarContinuous PPO (default_config_cmc_ppo.yaml
    @ 3216697 of their code: update_episodes 10, gamma 0.99, lr 3e-4, vf_coef 1, ent_coef 0.01,
    eps_clip 0.2, two hidden layers of 64, action_std 0.5) where they carry over; ppo_epochs, batch_size,
    gae_lambda and max_grad_norm are the usual PPO values (the paper took 80 full-batch epochs).
    default_config/<env>_ppo.yaml hold measured values per env."""

    train_episodes: int = option(10000, "cap on training episodes", low=1)
    init_episodes: int = option(0, "episodes before real-env tests start (PPO learns from the first)", low=0)
    early_out_num: int = option(50, "episodes in the moving mean of the SE early-out rule", low=1)
    early_out_virtual_diff: float = option(
        0.02, "SE early out when that mean changes by less than this fraction", low=0.0)
    update_episodes: int = option(10, "whole episodes per rollout (one PPO update each)", low=1)
    ppo_epochs: int = option(10, "passes over the rollout per update", low=1)
    batch_size: int = option(64, "minibatch size (transitions per Adam step)", low=1)
    gamma: float = option(0.99, "discount factor", low=0.0, high=1.0)
    gae_lambda: float = option(0.95, "GAE lambda (1: Monte-Carlo advantages)", low=0.0, high=1.0)
    lr: float = option(3e-4, "Adam learning rate of the actor and the critic", low=0.0, low_open=True)
    eps_clip: float = option(0.2, "clip range of the probability ratio", low=0.0, low_open=True)
    vf_coef: float = option(1.0, "weight of the value loss", low=0.0)
    ent_coef: float = option(0.01, "weight of the entropy bonus", low=0.0)
    max_grad_norm: float = option(0.5, "gradient norm clip per member and network (0: off)", low=0.0)
    anneal_lr: bool = option(False, "decay the learning rate linearly to 0 over train_episodes")
    hidden_size: int = option(64, "actor and critic hidden units", low=1)
    hidden_layer: int = option(2, "actor and critic hidden layers", low=1)
    activation: str = option("tanh", "actor and critic activation", choices=ACTIVATIONS)
    action_std: float = option(0.5, "initial std of the Gaussian policy, as a fraction of the action bound",
                               low=0.0, low_open=True)


def gae(rewards, values, next_values, terminated, episode_end, gamma, gamma_lambda,
        done_values: torch.Tensor | None = None) -> torch.Tensor:
    """GAE(lambda) advantages (P, T) of a rollout stored in time order; ``gamma`` and
    ``gamma_lambda`` (gamma times lambda) are numbers, or (P, 1) and (P,) per member.

    delta_t = r_t + gamma V(s'_t) [not terminated_t] - V(s_t);  A_t = delta_t + gamma lam A_{t+1},
    the recursion cut at every episode end (terminated or truncated). ``where`` rather than a
    product, so that a padding row can never leak a NaN into a real one. With ``done_values`` (an
    SE's raw done outputs, ``synthetic_env.done_in_target: raw``) the bootstrap is weighted by
    1 - done_t instead; a padding row's delta never reaches a real row, since the recursion is cut
    (by ``where``) at the end of each member's last episode.
    """
    if done_values is None:
        deltas = rewards + torch.where(terminated, 0.0, gamma * next_values) - values
    else:
        deltas = rewards + gamma * next_values * (1 - done_values) - values
    advantages = torch.zeros_like(deltas)
    running = torch.zeros_like(deltas[:, 0])
    for t in range(deltas.shape[1] - 1, -1, -1):
        running = deltas[:, t] + torch.where(episode_end[:, t], 0.0, gamma_lambda * running)
        advantages[:, t] = running
    return advantages


def _gather_rows(x: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """Rows ``index`` (P', N) of each member of ``x`` (P', T, ...) -> (P', N, ...)."""
    return x.gather(1, index.view(*index.shape, *([1] * (x.dim() - 2))).expand(-1, -1, *x.shape[2:]))


def _masked_mean(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean over dim 1 of the rows in ``mask``; (P', N) -> (P',)."""
    return torch.where(mask, x, 0.0).sum(dim=1) / mask.sum(dim=1).clamp(min=1)


class PPO:
    name, title = "ppo", "PPO (clipped surrogate, GAE; discrete or continuous actions)"
    Config = PPOConfig
    # Held as (P,) tensors: members that differ only in these train as one batch (``agents.varied``).
    MEMBER_FIELDS = ("lr", "gamma")

    @classmethod
    def check_spec(cls, spec: RealEnvSpec) -> None:
        """PPO acts in discrete and continuous action spaces alike."""

    def __init__(self, config: PPOConfig, spec: RealEnvSpec, seeds: list[int], member_configs=None):
        """``member_configs``, when given, holds each member's own values of ``MEMBER_FIELDS``."""
        self.config, self.spec = config, spec
        self.population = population = len(seeds)
        self.discrete = spec.discrete_actions
        self.rng = MemberStreams(seeds)
        net = (config.hidden_size, config.hidden_layer, config.activation)
        self.actor = PopulationMLP.initialise([derive_seed(s, _ACTOR_ROLE) for s in seeds], spec.state_dim,
                                              spec.action_dim, *net).requires_grad_()
        self.critic = PopulationMLP.initialise([derive_seed(s, _CRITIC_ROLE) for s in seeds], spec.state_dim, 1,
                                               *net).requires_grad_()
        self.log_std = None if self.discrete else torch.full(
            (population, 1, spec.action_dim), math.log(config.action_std)).requires_grad_()
        self.lr = per_member("lr", config, member_configs, population)
        self.optimizer = PopulationAdam(self.parameters(), self.lr)
        self.gamma = per_member("gamma", config, member_configs, population)[:, None]
        # gamma * lambda as the Python product of the two, as GAE had it with numbers.
        self.gamma_lambda = per_member(lambda c: c.gamma * c.gae_lambda, config, member_configs, population)
        self.icm = self._make_icm(config, spec, seeds) if config.icm else None
        self.nonfinite_loss = torch.zeros(population, dtype=torch.bool)

        # The rollout buffer: always its full capacity, so that no shape depends on other members.
        self.capacity = config.update_episodes * spec.max_steps
        cap = (population, self.capacity)
        self.states = torch.zeros(*cap, spec.state_dim)
        self.next_states = torch.zeros(*cap, spec.state_dim)
        self.actions = torch.zeros(cap, dtype=torch.long) if self.discrete else torch.zeros(*cap, spec.action_dim)
        self.rewards = torch.zeros(cap)
        self.terminated = torch.zeros(cap, dtype=torch.bool)
        self.done_values: torch.Tensor | None = None  # allocated by the first raw-done transition
        self.episode_end = torch.zeros(cap, dtype=torch.bool)
        self.count = torch.zeros(population, dtype=torch.long)
        self.episodes = torch.zeros(population, dtype=torch.long)         # in the current rollout
        self.played = torch.zeros(population, dtype=torch.long)           # in all
        self._sampled = None  # the raw Gaussian samples of the last ``act``, before clipping

    @staticmethod
    def _make_icm(config, spec, seeds):
        from agents.icm import PopulationICM
        return PopulationICM(config, spec, seeds)

    def parameters(self) -> list[torch.Tensor]:
        return self.actor.parameters() + self.critic.parameters() + ([] if self.discrete else [self.log_std])

    def _env_actions(self, sampled: torch.Tensor) -> torch.Tensor:
        return sampled if self.discrete else sampled.clamp(-1.0, 1.0) * self.spec.action_bound

    # --- the policy --------------------------------------------------------------------------
    def _log_prob_entropy(self, actor, log_std, states, actions):
        """log pi(a|s) and the policy entropy, both (P', N); differentiable."""
        out = actor(states)
        if self.discrete:
            log_probs = torch.log_softmax(out, dim=-1)
            entropy = -(log_probs.exp() * log_probs).sum(dim=-1)
            return log_probs.gather(-1, actions.unsqueeze(-1)).squeeze(-1), entropy
        z = (actions - torch.tanh(out)) / log_std.exp()
        log_prob = (-0.5 * z * z - log_std - 0.5 * math.log(2 * math.pi)).sum(dim=-1)
        entropy = (0.5 + 0.5 * math.log(2 * math.pi) + log_std).sum(dim=-1).expand_as(log_prob)
        return log_prob, entropy

    @torch.no_grad()
    def greedy(self, obs: torch.Tensor) -> torch.Tensor:
        """The most likely action: argmax of the logits, or the Gaussian mean."""
        out = self.actor(obs)
        return out.argmax(dim=-1) if self.discrete else torch.tanh(out) * self.spec.action_bound

    @torch.no_grad()
    def act(self, obs: torch.Tensor, active: torch.Tensor) -> torch.Tensor:
        """A sample of the policy; only ``active`` members draw random numbers."""
        out = self.actor(obs)
        batch = obs.shape[1]
        if self.discrete:
            # Inverse-CDF sampling from the member's own uniform draw.
            cdf = torch.softmax(out, dim=-1).cumsum(dim=-1)
            u = self.rng.uniform(batch, active).unsqueeze(-1)
            return (cdf < u).sum(dim=-1).clamp(max=self.spec.action_dim - 1)
        noise = self.rng.normal(batch * self.spec.action_dim, active).view(self.population, batch, -1)
        self._sampled = torch.tanh(out) + self.log_std.exp() * noise
        return self._env_actions(self._sampled)

    # --- the protocol --------------------------------------------------------------------------
    def observe(self, active, states, actions, rewards, next_states, terminated, done_values=None) -> None:
        """Append one transition per active member (B = 1 training episode per member)."""
        members = torch.nonzero(active).flatten()
        at = self.count[members]
        if (at >= self.capacity).any():
            raise RuntimeError("PPO rollout overflow: an episode ran longer than the env's max_steps")
        taken = actions if self.discrete else self._sampled  # the log-prob needs the unclipped sample
        self.states[members, at] = states[members, 0]
        self.next_states[members, at] = next_states[members, 0]
        self.actions[members, at] = taken[members, 0]
        self.rewards[members, at] = rewards[members, 0]
        self.terminated[members, at] = terminated[members, 0]
        if done_values is not None:
            if self.done_values is None:
                self.done_values = torch.zeros(self.terminated.shape)
            self.done_values[members, at] = done_values[members, 0]
        self.count[members] += 1

    def learn(self, active: torch.Tensor) -> torch.Tensor:
        """PPO learns from whole rollouts in ``end_episode``; nothing happens per step."""
        return torch.zeros_like(active)

    def updates_due(self, ended: torch.Tensor) -> torch.Tensor:
        """The ``ended`` members whose ``end_episode`` will update (their rollout is then full): the
        training loop lets them wait for each other, so one batched update serves them all."""
        return ended & (self.count > 0) & (self.episodes + 1 >= self.config.update_episodes)

    def end_episode(self, active: torch.Tensor) -> None:
        """Close the episode; members with ``update_episodes`` episodes in their rollout update."""
        ended = active & (self.count > 0)
        due = self.updates_due(active)
        members = torch.nonzero(ended).flatten()
        self.episode_end[members, self.count[members] - 1] = True
        self.episodes += ended.long()
        self.played += ended.long()
        if due.any():
            if self.config.anneal_lr:
                remaining = (1 - self.played / self.config.train_episodes).clamp(min=0)
                self.optimizer.lr = self.lr * remaining
            self.nonfinite_loss |= self._update(due)
            self.count[due], self.episodes[due] = 0, 0
            self.episode_end[due] = False

    def member_state_dict(self, member: int) -> dict[str, torch.Tensor]:
        state = {f"actor.{k}": v for k, v in self.actor.member_module(member).state_dict().items()}
        state |= {f"critic.{k}": v for k, v in self.critic.member_module(member).state_dict().items()}
        if not self.discrete:
            state["log_std"] = self.log_std[member, 0].detach().clone()
        return state

    # --- the update ----------------------------------------------------------------------------
    def _update(self, due: torch.Tensor) -> torch.Tensor:
        """``ppo_epochs`` epochs of minibatch steps for the ``due`` members; returns the members
        whose loss was not finite (they take no further step)."""
        config = self.config
        members = torch.nonzero(due).flatten()
        count = self.count[members]
        data = {"states": self.states[members], "actions": self.actions[members],
                "next_states": self.next_states[members]}
        data |= self._targets(members, data)

        batch = config.batch_size
        num_batches = (count + batch - 1) // batch               # per member
        positions = torch.arange(int(num_batches.max()) * batch)
        valid = torch.arange(self.capacity) < count[:, None]
        failed = torch.zeros(len(members), dtype=torch.bool)
        params = self.parameters()
        for epoch in range(config.ppo_epochs):
            # A fresh permutation per member: its own uniforms sorted, the rollout's rows first;
            # it wraps around to fill the last minibatch (rows past the rollout are masked).
            keys = self.rng.uniform(self.capacity, due)[members].masked_fill(~valid, 2.0)
            order = torch.argsort(keys, dim=1, stable=True).gather(1, positions[None, :] % count[:, None])
            for k in range(int(num_batches.max())):
                window = slice(k * batch, (k + 1) * batch)
                minibatch = {name: _gather_rows(x, order[:, window]) for name, x in data.items()}
                in_rollout = positions[None, window] < count[:, None]
                with torch.enable_grad():
                    loss = self._loss(*self._networks(members), minibatch, in_rollout)
                    # Members share no parameters: the gradient of the sum is each member's own.
                    grads = torch.autograd.grad(loss.sum(), params)
                stepping = (k < num_batches) & ~failed
                finite = torch.isfinite(loss.detach())
                failed |= stepping & ~finite
                step = torch.zeros_like(due)
                step[members] = stepping & finite
                self.optimizer.step(self._clip(list(grads)), step)
                if self.icm is not None and epoch == 0:
                    self._learn_icm(members, minibatch, step)
        nonfinite = torch.zeros_like(due)
        nonfinite[members] = failed
        return nonfinite

    def _networks(self, members: torch.Tensor):
        """Actor, critic and log-std of the ``members``, differentiable back to the full tensors
        (built afresh for each step: a backward pass frees the indexing's graph)."""
        if len(members) == self.population:
            return self.actor, self.critic, self.log_std
        log_std = None if self.discrete else self.log_std[members]
        return self.actor.rows(members), self.critic.rows(members), log_std

    @torch.no_grad()
    def _targets(self, members, data) -> dict[str, torch.Tensor]:
        """Old log-probs, normalised GAE advantages and value targets of the rollout (P', capacity)."""
        config = self.config
        actor, critic, log_std = self._networks(members)
        count = self.count[members]
        rewards = self.rewards[members]
        if self.icm is not None:
            curiosity = self.icm.intrinsic_reward(self.states, self._env_actions(self.actions), self.next_states)
            rewards = rewards + curiosity[members]
        values = critic(data["states"]).squeeze(-1)
        next_values = critic(data["next_states"]).squeeze(-1)
        old_log_prob, _ = self._log_prob_entropy(actor, log_std, data["states"], data["actions"])
        length = int(count.max())
        advantages = torch.zeros_like(values)
        raw_dones = None if self.done_values is None else self.done_values[members, :length]
        advantages[:, :length] = gae(rewards[:, :length], values[:, :length], next_values[:, :length],
                                     self.terminated[members, :length], self.episode_end[members, :length],
                                     self.gamma[members], self.gamma_lambda[members], raw_dones)
        valid = torch.arange(self.capacity) < count[:, None]
        mean = _masked_mean(advantages, valid)[:, None]
        std = _masked_mean((advantages - mean) ** 2, valid).sqrt()[:, None]
        return {"old_log_prob": old_log_prob, "returns": advantages + values,
                "advantages": (advantages - mean) / (std + 1e-8)}

    def _loss(self, actor, critic, log_std, minibatch, mask) -> torch.Tensor:
        """Each member's PPO loss (P',) over the rows of its minibatch in ``mask``."""
        config = self.config
        log_prob, entropy = self._log_prob_entropy(actor, log_std, minibatch["states"], minibatch["actions"])
        ratio = (log_prob - minibatch["old_log_prob"]).exp()
        advantages = minibatch["advantages"]
        surrogate = torch.min(ratio * advantages, ratio.clamp(1 - config.eps_clip, 1 + config.eps_clip) * advantages)
        value_error = (critic(minibatch["states"]).squeeze(-1) - minibatch["returns"]) ** 2
        return (-_masked_mean(surrogate, mask) + config.vf_coef * _masked_mean(value_error, mask)
                - config.ent_coef * _masked_mean(entropy, mask))

    def _learn_icm(self, members, minibatch, step) -> None:
        """One ICM step on a PPO minibatch (the ICM takes full-population tensors and a mask)."""
        def full(x):
            out = torch.zeros((self.population,) + x.shape[1:], dtype=x.dtype)
            out[members] = x
            return out
        self.nonfinite_loss |= self.icm.learn(full(minibatch["states"]), full(self._env_actions(minibatch["actions"])),
                                              full(minibatch["next_states"]), step)

    def _clip(self, grads: list[torch.Tensor]) -> list[torch.Tensor]:
        """Scale each member's policy (actor and std) and critic gradients to a norm of at most
        ``max_grad_norm``, each on its own: the value loss's scale must not shrink the policy's step."""
        if not self.config.max_grad_norm:
            return grads
        actor_count, critic_count = len(self.actor.parameters()), len(self.critic.parameters())
        critic_group = range(actor_count, actor_count + critic_count)
        policy_group = [i for i in range(len(grads)) if i not in critic_group]
        for group in (policy_group, critic_group):
            norm = torch.sqrt(sum(grads[i].pow(2).flatten(1).sum(dim=1) for i in group))
            scale = (self.config.max_grad_norm / (norm + 1e-6)).clamp(max=1.0)
            for i in group:
                grads[i] = grads[i] * scale.view((-1,) + (1,) * (grads[i].dim() - 1))
        return grads
