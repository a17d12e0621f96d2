"""The paper's figures, one command each: ``python -m experiments.figures <name> --models ... --out DIR``."""
from experiments.figures import density, learned_rewards, model_based, rn_curves, state_histograms, success

FIGURES = {
    "success": (success.make_success, "share of NES runs solved over NES iterations (learn_env run directories)"),
    "density": (density.make, "real-env returns (KDE), training steps and episodes: real env vs SEs, fixed and "
                              "varied HPs, for DDQN, Dueling DDQN, discrete TD3"),
    "state_histograms": (state_histograms.make, "states visited while training on the SEs vs on the real env"),
    "rn_curves": (rn_curves.make, "learning curves with each reward network vs the plain reward: own agent, "
                                  "varied HPs, transfer agent"),
    "learned_rewards": (learned_rewards.make, "CliffWalking heatmaps of the learned rewards"),
    "step_size": (success.make_step_size, "share of NES runs solved over iterations, per NES step size"),
    "model_based": (model_based.make, "agents trained on a supervised model of real transitions vs on learned SEs"),
}

# Fresh agents per model and variant when --runs is not given. density counts its runs per variant
# instead, spread over the SEs: it trains three agents, each with fixed and varied HPs (varied-HP
# members train one at a time) plus a real-env baseline, and must finish within 15 minutes on 2
# cores (6 per variant took 943 s; BENCHMARKS.md).
DEFAULT_RUNS = 10
DEFAULT_RUNS_OF = {"density": 4}
