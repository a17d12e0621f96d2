"""The batched synthetic env: P members x B parallel episodes as tensors, with per-episode auto-reset."""
import numpy as np
import torch

from envs.initial_states import InitialStateSampler
from envs.real import RealEnvSpec
from envs.state_bounds import StateClipper
from models.synthetic_env_nets import SyntheticEnvNets


class SyntheticVecEnv:
    """Steps P SEs (one per member) on B episodes each.

    Episodes end when the done net fires (terminated) or at the real env's step limit (truncated).
    Next states are clipped into the real env's observation bounds where they are finite, as
    ``SyntheticEnv`` clips them (a NaN or inf output still flags its member, below).
    With ``autoreset``, an ended episode restarts at once from a fresh real-env initial state and
    the returned observation is that new start, as in gymnasium's same-step autoreset; the true
    next state is in ``final_obs``. A member whose SE produced NaN or inf is flagged in
    ``nonfinite`` and its values are replaced by zeros so the batch goes on.

    With ``raw_done`` every step also leaves the done net's raw outputs in ``done_values`` (P, B)
    (0 for inactive members): the value the paper's agents put in their TD target
    (``synthetic_env.done_in_target: raw``). The returned flags stay thresholded.
    """

    def __init__(self, nets: SyntheticEnvNets, spec: RealEnvSpec, sampler: InitialStateSampler,
                 episodes_per_member: int = 1, autoreset: bool = True, raw_done: bool = False):
        self.nets, self.spec, self.sampler = nets, spec, sampler
        self.clip = StateClipper(spec)
        self.raw_done = raw_done
        self.done_values: torch.Tensor | None = None
        self.population, self.episodes, self.autoreset = nets.population, episodes_per_member, autoreset
        self.states = torch.zeros(self.population, self.episodes, spec.state_dim)
        self.elapsed = torch.zeros(self.population, self.episodes, dtype=torch.long)
        self.nonfinite = torch.zeros(self.population, dtype=torch.bool)

    def reset(self, members: torch.Tensor | None = None) -> torch.Tensor:
        """Restart all episodes of ``members`` (a bool mask, default all); returns all observations."""
        mask = torch.ones(self.population, dtype=torch.bool) if members is None else members
        index = torch.nonzero(mask).flatten().tolist()
        if index:
            self.states[index] = torch.from_numpy(self.sampler.sample(index, self.episodes))
            self.elapsed[index] = 0
        return self.states.clone()

    def step(self, actions: torch.Tensor, active: torch.Tensor | None = None):
        """Advance the episodes of ``active`` members; the others keep their state.

        Returns (obs, reward, terminated, truncated, final_obs), each with leading dims (P, B).
        """
        active = torch.ones(self.population, dtype=torch.bool) if active is None else active
        if self.raw_done:
            next_states, rewards, terminated = self._step_raw(actions, active)
        else:
            next_states, rewards, terminated = self.nets(actions, self.states)
        if not (bool(torch.isfinite(next_states).all()) and bool(torch.isfinite(rewards).all())):
            next_states, rewards = self._flag_nonfinite(next_states, rewards, active)
        next_states = self.clip(next_states)
        keep = active[:, None]
        self.elapsed += keep
        truncated = (self.elapsed >= self.spec.max_steps) & ~terminated
        if not bool(active.all()):   # with every member active (a population of one, always) nothing is masked
            truncated, terminated, rewards = truncated & keep, terminated & keep, torch.where(keep, rewards, 0.0)
            next_states = torch.where(keep[..., None], next_states, self.states)
        final_obs = next_states
        self.states = final_obs.clone()
        if self.autoreset:
            self._restart_ended(terminated | truncated)
        return self.states.clone(), rewards, terminated, truncated, final_obs

    def _flag_nonfinite(self, next_states: torch.Tensor, rewards: torch.Tensor, active: torch.Tensor):
        """Flag the active members with a NaN or inf output; zeros replace those values. (An inactive
        member's outputs are discarded by ``step`` whatever they are.)"""
        bad = ~(torch.isfinite(next_states).all(dim=-1) & torch.isfinite(rewards))
        bad_members = bad.any(dim=1) & active
        if not bad_members.any():
            return next_states, rewards
        self.nonfinite |= bad_members
        return (torch.nan_to_num(next_states, nan=0.0, posinf=0.0, neginf=0.0),
                torch.nan_to_num(rewards, nan=0.0, posinf=0.0, neginf=0.0))

    def _step_raw(self, actions: torch.Tensor, active: torch.Tensor):
        """The nets' step with ``done_values`` recorded; a non-finite done output flags its member
        (it would reach the TD target) and counts as 0."""
        next_states, rewards, raw = self.nets.raw_outputs(actions, self.states)
        bad_done = ~torch.isfinite(raw)
        if bad_done.any():
            self.nonfinite |= bad_done.any(dim=1) & active
            raw = torch.nan_to_num(raw, nan=0.0, posinf=0.0, neginf=0.0)
        self.done_values = torch.where(active[:, None], raw, 0.0)
        return next_states, rewards, raw > 0.5

    def _restart_ended(self, ended: torch.Tensor) -> None:
        if not ended.any():
            return
        for member in torch.nonzero(ended.any(dim=1)).flatten().tolist():
            slots = torch.nonzero(ended[member]).flatten()
            fresh = self.sampler.sample([member], len(slots))[0]
            self.states[member, slots] = torch.from_numpy(np.asarray(fresh))
            self.elapsed[member, slots] = 0

    def close(self) -> None:
        """Close the sampler's real envs: the SE owns its sampler, as ``RewardVecEnv`` owns its real env."""
        self.sampler.close()
