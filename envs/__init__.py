"""Real, synthetic and reward envs as gymnasium envs and as P x B population envs.

The learned envs' gymnasium ids (``SynthEnv/Synthetic-v0``, ``SynthEnv/Reward-v0``) are registered
by ``import nes``: building one from a model file needs the run schema, which lives there.
"""
