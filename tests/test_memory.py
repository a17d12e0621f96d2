import platform
import subprocess
import sys
import textwrap

import pytest

from common.memory import retain_freed_memory
from tests.helpers import REPO_ROOT, entry_point_env

pytestmark = pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="mallopt's thresholds are glibc's")

# A fresh process trains DDQN at P=16 on CartPole for 300 steps each and prints its page faults
# per agent-step. A fresh one, because glibc raises its thresholds itself once it has freed a
# large enough block, so a process that trained before would pass with or without the setting.
_FAULTS_PER_STEP = textwrap.dedent("""
    import resource
    import torch
    from agents.ddqn import DDQN, DDQNConfig
    from agents.training import train_population
    from envs.real import real_env_spec
    from envs.real_vec import RealVecEnv
    from nes.config import load_config

    torch.set_num_threads(1)
    config = load_config(None, ["env=CartPole-v0", "agent=ddqn", "protocol.max_train_steps=300",
                                "protocol.test_every=0"])
    seeds = list(range(16))
    agent = DDQN(DDQNConfig(), real_env_spec("CartPole-v0"), seeds)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    result = train_population(agent, RealVecEnv("CartPole-v0", seeds), RealVecEnv("CartPole-v0", seeds),
                              config.agent_config(), config.protocol, on_synthetic=False)
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
    print(faults / int(result.train_steps.sum()))
""")


def test_the_settings_are_taken_once_per_process():
    assert retain_freed_memory() is True
    assert retain_freed_memory() is True


@pytest.mark.slow  # a training subprocess
def test_a_population_update_reuses_its_memory_instead_of_faulting_pages_in():
    completed = subprocess.run([sys.executable, "-c", _FAULTS_PER_STEP], cwd=REPO_ROOT, env=entry_point_env(),
                               capture_output=True, text=True, timeout=120)
    assert completed.returncode == 0, completed.stderr
    # Handing freed memory back to the kernel, each update faults its activations in again:
    # 10-30 page faults per agent-step here; kept, under one.
    assert float(completed.stdout) < 3
