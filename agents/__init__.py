"""Inner-loop agents, each training a population of P independent members in one computation."""
from agents.ddqn import DDQN
from agents.dueling_ddqn import DuelingDDQN
from agents.ppo import PPO
from agents.tabular import SARSA, QLearning
from agents.td3 import TD3
from agents.td3_discrete import TD3Discrete

AGENTS = {"ddqn": DDQN, "dueling_ddqn": DuelingDDQN, "ppo": PPO, "ql": QLearning, "sarsa": SARSA, "td3": TD3,
          "td3_discrete": TD3Discrete}


def make_agent(name: str, config, spec, seeds: list[int]):
    """The population agent ``name`` for ``seeds``; with ``config.vary_hp`` each member draws its
    own hyperparameters (``agents.varied``)."""
    from agents.varied import VariedAgent

    agent_class = AGENTS[name]
    if config.vary_hp:
        return VariedAgent(agent_class, config, spec, seeds)
    return agent_class(config, spec, seeds)
