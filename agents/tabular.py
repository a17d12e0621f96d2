"""Tabular Q-learning and SARSA for a population of P independent agents.

Each member owns a Q table; the population's tables are one tensor (P, num_states, num_actions),
so every act and update is a gather/scatter over the members. The state is the cell index, read
as the ``argmax`` of the env's one-hot observation (``spec.discrete_states``).

The paper's semantics (their agents/QL.py, agents/SARSA.py, base_agent.py, and the ``ql`` and
``sarsa`` sections of default_config_gridworld.yaml, all @ 3216697):

- Q starts at zero; the behaviour policy is epsilon-greedy (ties go to the lowest action index,
  as ``torch.argmax``), epsilon is multiplied by ``eps_decay`` after every episode and floored at
  ``eps_min``; tests act greedily.
- One online update per env step on the transition just made (their replay buffer holds one
  transition), and only once the member is past its init episodes:
  Q(s, a) += alpha * (r + gamma * v(s') * (1 - terminated) - Q(s, a)), where v(s') is
  max_a' Q(s', a') for Q-learning and Q(s', a') for SARSA. Ours: an episode cut by the step
  limit still bootstraps (the paper's gym TimeLimit done counts as terminal: QL.py:70; the
  protocol's ``time_limit_is_terminal`` does that). On an SE with ``done_in_target: raw`` the
  (1 - terminated) is 1 - the SE's raw done output, as for every bootstrapping agent here; the
  paper's QL and SARSA threshold it at 0.5 (QL.py:70, SARSA.py:57).
- Optional count-based exploration in the paper's form: the visit count N(s, a) is incremented
  at each update and beta / sqrt(N(s, a)) is added to the reward of that update.

SARSA is on-policy: its target uses the action the member really takes in s'. The training
protocol calls ``act``, env step, ``observe``, ``learn``, so that action is not known when
``learn`` runs. ``learn`` therefore draws it (epsilon-greedy on the table before the update, as in
Sutton and Barto's SARSA), uses it in the target and commits to it; the next ``act`` returns the
committed action instead of drawing a new one. ``end_episode`` drops a commitment left at the
end of an episode (a truncated episode's last s' is never acted in). The paper's SARSA.py instead
draws a fresh action for the target and a different one to act, which is not SARSA.
"""
from dataclasses import dataclass

import torch

from agents.base import AgentConfig, per_member, require_action_space
from common.errors import UserError
from common.rng import MemberStreams
from common.schema import option
from envs.real import RealEnvSpec


@dataclass
class TabularConfig(AgentConfig):
    """Hyperparameters both tabular agents share."""

    gamma: float = option(0.8, "discount factor", low=0.0, high=1.0)
    alpha: float = option(1.0, "learning rate of the tabular update", low=0.0, low_open=True, high=1.0)
    eps_init: float = option(0.1, "initial epsilon", low=0.0, high=1.0)
    eps_min: float = option(0.1, "final epsilon", low=0.0, high=1.0)
    eps_decay: float = option(0.0, "epsilon multiplier per episode (0 with eps_min = eps_init: constant)",
                              low=0.0, high=1.0)
    count_based: bool = option(False, "add the count-based exploration bonus beta / sqrt(N(s, a)) to the reward")
    beta: float = option(0.005, "scale of the count-based bonus (used with count_based)", low=0.0)


@dataclass
class QLConfig(TabularConfig):
    """The paper's Cliff values (default_config_gridworld.yaml, section ql): 100 training
    episodes, alpha 1, gamma 0.8, constant epsilon 0.1, beta 0.005, 1 test episode (env and
    greedy policy are deterministic), early-out tolerance 0.02, learning from the second episode
    on (init_episodes 0; episode > init as in base_agent.py @ 7070963, >= @ 3216697). Their cliff
    (envs/gridworld.py @ 3216697) has gymnasium's 4x12 layout with rewards -1 per step and -100
    for a fall that ends the episode (-0.01 and -1 before a33a0df); on gymnasium's (a fall goes
    back to the start) these values reach the optimal -13 after 24-37 episodes (seeds 0-9)."""

    train_episodes: int = option(100, "cap on training episodes", low=1)
    test_episodes: int = option(1, "real-env episodes per test (score = their mean return)", low=1)
    init_episodes: int = option(
        0, "episodes before learning starts: learning from episode > init (base_agent.py @ 7070963; "
        "@ 3216697 >= init)", low=0)
    early_out_virtual_diff: float = option(
        0.02, "SE early out when that mean changes by less than this fraction", low=0.0)


@dataclass
class SARSAConfig(TabularConfig):
    """The paper's Cliff values (default_config_gridworld.yaml, section sarsa): alpha 0.99,
    gamma 0.8, epsilon starting at 0.01, beta 0.005, 200 training episodes, 5 init episodes,
    1 test episode, early-out tolerance 0.02.

    One departure: the paper keeps epsilon at 0.01; here it decays by 0.98 per episode towards 0.
    With alpha near 1 one exploratory step rewrites a value, and the rarely visited cells far from
    the goal (where gamma 0.8 leaves all values within a few tenths of each other) keep stale
    values that can make the greedy policy loop: on gymnasium's cliff, with a constant 0.01,
    2 of seeds 0-19 end the 200 episodes with a greedy test of -100 (the step limit). With the
    decay all 20 end at -13 or -15; once exploration stops, the greedy policy is the path SARSA
    has been repairing online.
    """

    train_episodes: int = option(200, "cap on training episodes", low=1)
    test_episodes: int = option(1, "real-env episodes per test (score = their mean return)", low=1)
    init_episodes: int = option(
        5, "episodes before learning starts: learning from episode > init (base_agent.py @ 7070963; "
        "@ 3216697 >= init)", low=0)
    early_out_virtual_diff: float = option(
        0.02, "SE early out when that mean changes by less than this fraction", low=0.0)
    alpha: float = option(0.99, "learning rate of the tabular update", low=0.0, low_open=True, high=1.0)
    eps_init: float = option(0.01, "initial epsilon", low=0.0, high=1.0)
    eps_min: float = option(0.0, "final epsilon", low=0.0, high=1.0)
    eps_decay: float = option(0.98, "epsilon multiplier per episode (0 with eps_min = eps_init: constant)",
                              low=0.0, high=1.0)


class TabularAgent:
    """What Q-learning and SARSA share: the tables, epsilon-greedy acting, the update rule.

    Training feeds one episode per member (B = 1); ``greedy`` takes any B.
    """

    name: str
    Config = TabularConfig
    # Held as (P,) tensors: members that differ only in these train as one batch (``agents.varied``).
    MEMBER_FIELDS = ("alpha", "gamma", "eps_init", "eps_min", "eps_decay")

    @classmethod
    def check_spec(cls, spec: RealEnvSpec) -> None:
        if not spec.discrete_states:
            raise UserError(f"agent '{cls.name}' needs discrete states, but {spec.env_id} has continuous observations")
        require_action_space(cls.name, spec, discrete=True)

    def __init__(self, config: TabularConfig, spec: RealEnvSpec, seeds: list[int], member_configs=None):
        """``member_configs``, when given, holds each member's own values of ``MEMBER_FIELDS``."""
        self.check_spec(spec)
        self.config = config
        self.population = len(seeds)
        self.num_actions = spec.action_dim
        self.rng = MemberStreams(seeds)
        shape = (self.population, spec.state_dim, spec.action_dim)
        self.q = torch.zeros(shape)
        self.visits = torch.zeros(shape, dtype=torch.long)  # N(s, a): updates made on each pair
        values = lambda name: per_member(name, config, member_configs, self.population)  # noqa: E731
        self.alpha, self.gamma = values("alpha"), values("gamma")
        self.epsilon, self.eps_min, self.eps_decay = values("eps_init"), values("eps_min"), values("eps_decay")
        self.nonfinite_loss = torch.zeros(self.population, dtype=torch.bool)
        self.members = torch.arange(self.population)
        # The transition ``observe`` hands to ``learn``: cell indices (P,), reward, terminated and the
        # bootstrap weight (P,): not terminated, or 1 - the SE's raw done output (``done_values``).
        self.transition: tuple[torch.Tensor, ...] | None = None

    # ------------------------------------------------------------------ acting

    def greedy(self, obs: torch.Tensor) -> torch.Tensor:
        """(P, B, S) one-hot observations -> (P, B) greedy actions."""
        cells = obs.argmax(dim=-1)
        return self.q.gather(1, cells[..., None].expand(-1, -1, self.num_actions)).argmax(dim=-1)

    def _epsilon_greedy(self, cells: torch.Tensor, active: torch.Tensor) -> torch.Tensor:
        """(P, B) cells -> (P, B) actions; only ``active`` members draw random numbers."""
        batch = cells.shape[1]
        # One draw of 2B uniforms per member: the explore coin flips, then the random actions.
        uniforms = self.rng.uniform(2 * batch, active)
        explore = uniforms[:, :batch] < self.epsilon[:, None]
        random_actions = (uniforms[:, batch:] * self.num_actions).long().clamp(max=self.num_actions - 1)
        values = self.q.gather(1, cells[..., None].expand(-1, -1, self.num_actions))
        return torch.where(explore, random_actions, values.argmax(dim=-1))

    def act(self, obs: torch.Tensor, active: torch.Tensor) -> torch.Tensor:
        """Epsilon-greedy actions (P, B) for the observations (P, B, S)."""
        return self._epsilon_greedy(obs.argmax(dim=-1), active)

    # ---------------------------------------------------------------- learning

    def observe(self, active, states, actions, rewards, next_states, terminated, done_values=None) -> None:
        """Keep the step's transition (B = 1) for the ``learn`` call that follows it."""
        bootstrap = ~terminated[:, 0] if done_values is None else 1 - done_values[:, 0]
        self.transition = (states[:, 0].argmax(dim=-1), actions[:, 0].long(), rewards[:, 0].float(),
                           next_states[:, 0].argmax(dim=-1), terminated[:, 0], bootstrap)

    def next_value(self, next_cells: torch.Tensor, terminated: torch.Tensor, active: torch.Tensor) -> torch.Tensor:
        """v(s') of the update target for each member (P,)."""
        raise NotImplementedError

    def learn(self, active: torch.Tensor) -> torch.Tensor:
        """One tabular update on the last observed transition of each active member."""
        cells, actions, rewards, next_cells, terminated, bootstrap = self.transition
        index = (self.members, cells, actions)
        visits = self.visits[index] + 1
        if self.config.count_based:
            rewards = rewards + self.config.beta / visits.float().sqrt()
        target = rewards + self.gamma * self.next_value(next_cells, terminated, active) * bootstrap
        value = self.q[index]
        updated = value + self.alpha * (target - value)
        finite = torch.isfinite(updated)
        self.q[index] = torch.where(active & finite, updated, value)
        self.visits[index] += active.long()
        return active & ~finite

    def end_episode(self, active: torch.Tensor) -> None:
        decayed = torch.clamp(self.epsilon * self.eps_decay, min=self.eps_min)
        self.epsilon = torch.where(active, decayed, self.epsilon)

    def member_state_dict(self, member: int) -> dict[str, torch.Tensor]:
        return {"q_table": self.q[member].clone()}


class QLearning(TabularAgent):
    """Off-policy: the target bootstraps from the best action in s'."""

    name, title = "ql", "tabular Q-learning (discrete states)"
    Config = QLConfig

    def next_value(self, next_cells, terminated, active):
        return self.q[self.members, next_cells].max(dim=-1).values


class SARSA(TabularAgent):
    """On-policy: the target bootstraps from the action the member will take in s' (see above)."""

    name, title = "sarsa", "tabular SARSA, on-policy (discrete states)"
    Config = SARSAConfig

    def __init__(self, config: SARSAConfig, spec: RealEnvSpec, seeds: list[int], member_configs=None):
        super().__init__(config, spec, seeds, member_configs)
        self.next_action = torch.zeros(self.population, dtype=torch.long)
        self.committed = torch.zeros(self.population, dtype=torch.bool)  # next_action is owed to s'

    def act(self, obs: torch.Tensor, active: torch.Tensor) -> torch.Tensor:
        """The committed action where ``learn`` chose one, an epsilon-greedy draw elsewhere."""
        owed = active & self.committed
        self.committed &= ~active
        if owed.equal(active):  # nobody draws (a draw with an empty mask changes nothing either)
            return self.next_action[:, None].expand(-1, obs.shape[1])
        drawn = self._epsilon_greedy(obs.argmax(dim=-1), active & ~owed)
        return torch.where(owed[:, None], self.next_action[:, None], drawn)

    def next_value(self, next_cells, terminated, active):
        # A terminal s' is never acted in: no action is drawn or owed for it.
        choosing = active & ~terminated
        chosen = self._epsilon_greedy(next_cells[:, None], choosing)[:, 0]
        self.next_action = torch.where(choosing, chosen, self.next_action)
        self.committed |= choosing
        return self.q[self.members, next_cells, chosen]

    def end_episode(self, active: torch.Tensor) -> None:
        super().end_episode(active)
        self.committed &= ~active
