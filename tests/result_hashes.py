"""Hashes of what fixed-seed trainings produce, to show that a speed change left results unchanged.

    python -m tests.result_hashes > before.txt    # on the old commit
    python -m tests.result_hashes | diff before.txt -   # on the new one: no output, no change

Each line trains one small population (DDQN alone and in a population, on an SE and on the real
env; Dueling DDQN; TD3; discrete TD3; PPO; Q-learning; SARSA; varied DDQN and PPO) and hashes every member's trained
parameters, test returns and step counts. The hashes depend on the CPU's instruction set, so only
compare runs on one machine; ``tests/test_agent_contract.py`` is the portable check of exactness.
"""
import hashlib

import torch

from agents.population import SeedRoles, train_fresh_population
from envs.real import real_env_spec
from envs.real_vec import RealVecEnv
from nes.config import load_config
from nes.learned_envs import all_parameters, psi_of, training_env
from nes.model_files import config_with_overrides, load_model

SE_MODEL = "zoo/CartPole-v0/cartpole_se_seed0.pt"
# (agent, env, population, training steps, on the SE, varied hyperparameters)
RUNS = [("ddqn", "CartPole-v0", 1, 1500, True, False), ("ddqn", "CartPole-v0", 5, 1500, True, False),
        ("ddqn", "CartPole-v0", 3, 1500, False, False), ("dueling_ddqn", "CartPole-v0", 3, 800, False, False),
        ("td3", "Pendulum-v1", 2, 600, False, False), ("ppo", "CartPole-v0", 3, 1500, False, False),
        ("ddqn", "CartPole-v0", 4, 1000, False, True), ("td3_discrete", "CartPole-v0", 2, 600, False, False),
        ("ql", "CliffWalking-v1", 3, 3000, False, False), ("sarsa", "CliffWalking-v1", 3, 3000, False, False),
        ("ppo", "CartPole-v0", 3, 1500, False, True)]


def result_hash(agent: str, env: str, population: int, steps: int, on_se: bool, vary_hp: bool) -> str:
    overrides = [f"agent={agent}", "seed=0", f"protocol.max_train_steps={steps}", "protocol.test_every=0",
                 "protocol.stop_when_solved=false", "protocol.se_early_out=false",
                 f"agents.{agent}.train_episodes=100000", f"agents.{agent}.test_episodes=1",
                 f"agents.{agent}.vary_hp={str(vary_hp).lower()}"]
    seeds = list(range(7, 7 + population))
    roles = SeedRoles.of(seeds)
    if on_se:
        _, nets, se_config = load_model(SE_MODEL)
        config = config_with_overrides(se_config, overrides, SE_MODEL)
        params = all_parameters(config, psi_of(config, nets)).expand(population, -1)
        train_env = training_env(config, real_env_spec(env), params, roles.train_env)
    else:
        config = load_config(None, [f"env={env}", *overrides])
        train_env = RealVecEnv(env, roles.train_env)
    trained = train_fresh_population(agent, config.agent_config(), env, roles, train_env, config.protocol,
                                     on_synthetic=on_se)
    digest = hashlib.sha256()
    for member in range(population):
        for key, value in sorted(trained.agent.member_state_dict(member).items()):
            digest.update(key.encode())
            digest.update(value.detach().contiguous().numpy().tobytes())
    digest.update(trained.result.test_return.numpy().tobytes())
    digest.update(trained.result.train_steps.numpy().tobytes())
    return digest.hexdigest()[:16]


def main() -> None:
    torch.set_num_threads(1)
    for run in RUNS:
        agent, env, population, steps, on_se, vary_hp = run
        label = (f"{agent} on {'an SE of ' if on_se else ''}{env}, P={population}, {steps} steps"
                 f"{', varied' if vary_hp else ''}")
        print(f"{label}: {result_hash(*run)}", flush=True)


if __name__ == "__main__":
    main()
