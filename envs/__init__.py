"""Real, synthetic and reward envs; importing the package registers the learned envs with gymnasium
(``SynthEnv/Synthetic-v0``, ``SynthEnv/Reward-v0``; see ``envs/gym_registration.py``)."""
from envs.gym_registration import register_envs

register_envs()
