"""The batched contextual-bandit SE: P members x B one-step episodes as tensors."""
import torch

from common.rng import MemberStreams
from envs.real import RealEnvSpec
from models.bandit_env_nets import BanditEnvNets


class BanditVecEnv:
    """Steps P bandit SEs (one per member) on B episodes each; every step ends its episode.

    ``reset`` draws each episode's start state from the member's own latent stream (seeded by the
    member's train-env seed), so a member's states do not depend on the rest of the population.
    ``step`` pays the reward network's reward and terminates every active episode; the returned
    observation is the state itself (an agent bootstraps nothing from a terminal step). A member
    whose SE produced NaN or inf is flagged in ``nonfinite``, its values replaced by zeros.
    """

    raw_done = False

    def __init__(self, nets: BanditEnvNets, spec: RealEnvSpec, seeds: list[int], episodes_per_member: int = 1):
        self.nets, self.spec = nets, spec
        self.population, self.episodes = nets.population, episodes_per_member
        self.latents = MemberStreams(seeds)
        self.states = torch.zeros(self.population, self.episodes, spec.state_dim)
        self.nonfinite = torch.zeros(self.population, dtype=torch.bool)

    def reset(self, members: torch.Tensor | None = None) -> torch.Tensor:
        """New start states for every episode of ``members`` (a bool mask, default all); returns all observations."""
        mask = torch.ones(self.population, dtype=torch.bool) if members is None else members
        latent = self.latents.normal(self.episodes * self.nets.latent_dim, mask)
        states = self.nets.start_states(latent.reshape(self.population, self.episodes, self.nets.latent_dim))
        bad = ~torch.isfinite(states).all(dim=-1).all(dim=-1) & mask
        if bad.any():
            self.nonfinite |= bad
            states = torch.nan_to_num(states, nan=0.0, posinf=0.0, neginf=0.0)
        self.states = torch.where(mask[:, None, None], states, self.states)
        return self.states.clone()

    def step(self, actions: torch.Tensor, active: torch.Tensor | None = None):
        """The reward of ``actions`` for the ``active`` members; every active episode terminates.

        Returns (obs, reward, terminated, truncated, final_obs), each with leading dims (P, B).
        """
        active = torch.ones(self.population, dtype=torch.bool) if active is None else active
        rewards = self.nets.rewards(actions, self.states)
        bad = ~torch.isfinite(rewards).all(dim=1) & active
        if bad.any():
            self.nonfinite |= bad
            rewards = torch.nan_to_num(rewards, nan=0.0, posinf=0.0, neginf=0.0)
        keep = active[:, None].expand(-1, self.episodes)
        return (self.states.clone(), torch.where(keep, rewards, 0.0), keep.clone(), torch.zeros_like(keep),
                self.states.clone())

    def close(self) -> None:
        """Nothing to release: the SE is tensors only."""
