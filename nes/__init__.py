"""The NES middle loop: the run schema, what it evolves, the master and its evaluation backends.

Importing the package registers the learned envs with gymnasium (``SynthEnv/Synthetic-v0``,
``SynthEnv/Reward-v0``; see ``nes/gym_registration.py``).
"""
from nes.gym_registration import register_envs

register_envs()
