"""sb3_transfer: a Stable-Baselines3 agent trained on a learned SE and tested on the real env."""
import tempfile

import pytest

from experiments import sb3_transfer
from tests.helpers import write_tiny_ses

pytestmark = pytest.mark.skipif(not sb3_transfer.available(), reason="stable_baselines3 is not installed")


def test_a_training_leaves_no_logger_folder_in_the_temporary_directory(tmp_path, monkeypatch):
    model = write_tiny_ses(tmp_path / "ses") / "se_0.pt"
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))  # where SB3's default logger would make SB3-<time>
    row = sb3_transfer._train_and_test((str(model), "ppo", 0, 7, 256))
    assert row["agent"] == "sb3_ppo" and row["train_steps"] == 256
    assert not [path.name for path in scratch.iterdir() if path.name.startswith("SB3-")]
