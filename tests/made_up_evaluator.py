"""An evaluator that makes up member results in microseconds, for tests of the NES master."""
import math

from nes.tasks import MemberResult


class MadeUpEvaluator:
    """Scores that depend only on the task, so any code that asks for the same tasks gets the same
    answers. Member 2 blows up in iteration 2, every member in iteration 3; iteration 1 is solved
    (CartPole-v0's threshold is 195)."""

    def evaluate(self, tasks, time_budget):
        results = []
        for task in tasks:
            it, m = task.iteration, task.member
            score = float(task.eps[:7].sum()) * 100 + m
            blew_up = (it == 2 and m == 2) or it == 3
            results.append(MemberResult(
                run_id=task.run_id, iteration=it, member=m,
                score=-math.inf if blew_up else score, score_orig=float(task.psi[:3].sum()) + m,
                test_return_orig=300.0 if it == 1 else 10.0 + m, flipped=(m + it) % 2 == 1,
                seconds=0.25 * (m + 1), timed_out=False, failed=blew_up, real_env_steps=10 * m,
                synthetic_steps=100 + m))
        return list(reversed(results))   # any order: the master sorts them

    def close(self):
        pass
