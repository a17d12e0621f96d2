"""The supported real envs and the facts the NES takes from them."""
import pytest

from common.errors import UserError
from envs.real import check_env_id, make_real_env, real_env_spec


def test_cartpole_v0_spec():
    spec = real_env_spec("CartPole-v0")
    assert (spec.state_dim, spec.action_dim, spec.discrete_actions) == (4, 2, True)
    assert (spec.max_steps, spec.solved_reward) == (200, 195.0)


def test_acrobot_v1_spec():
    spec = real_env_spec("Acrobot-v1")
    assert (spec.state_dim, spec.action_dim, spec.discrete_actions) == (6, 3, True)
    assert (spec.max_steps, spec.solved_reward) == (500, -100.0)


@pytest.mark.parametrize("call", [check_env_id, make_real_env, real_env_spec])
def test_an_unknown_env_id_is_a_user_error_naming_it(call):
    with pytest.raises(UserError, match="unknown env 'Foo-v0'"):
        call("Foo-v0")
