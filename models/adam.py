"""Adam for a population: per-member learning rates, step counts and an active mask."""
import numpy as np
import torch

from models.flat_params import into_one_tensor


class PopulationAdam:
    """Adam over tensors whose first dimension is the population; members not ``active`` stay frozen.

    A frozen member's parameters, moments and step count are untouched, so its trajectory is the
    one it would have had alone.

    The parameters are re-homed into one (P, N) tensor (``models.flat_params``), the moments live
    in one each, and a step concatenates the gradients into that layout: about a dozen operations
    on one tensor instead of a dozen per parameter tensor, updating the parameters in place. For a
    population of one, where every operation's fixed cost dominates, this matters most.
    ``exp_avg`` and ``exp_avg_sq`` are per-parameter views.
    """

    def __init__(self, params: list[torch.Tensor], lr: torch.Tensor, betas=(0.9, 0.999), eps: float = 1e-8):
        self.params = params
        self.flat = into_one_tensor(params)
        self.population = lr.shape[0]
        self.lr = lr.to(torch.float32)
        self.beta1, self.beta2, self.eps = betas[0], betas[1], eps
        self._sizes = [p[0].numel() for p in params]
        width = sum(self._sizes)
        self._exp_avg = torch.zeros(self.population, width)
        self._exp_avg_sq = torch.zeros(self.population, width)
        self.exp_avg = self._per_parameter(self._exp_avg)
        self.exp_avg_sq = self._per_parameter(self._exp_avg_sq)
        # A gradient buffer in the same layout: a backward that writes into ``grad_views`` hands
        # ``step`` its gradients without the per-parameter reshapes and the concatenation.
        self.grad = torch.zeros(self.population, width)
        self.grad_views = self._per_parameter(self.grad)
        self.steps = np.zeros(self.population, dtype=np.int64)
        # beta ** steps per member, kept by multiplying. ATen's vectorised pow rounds differently
        # from the scalar pow it runs on a tensor's last few elements, so ``beta ** steps`` gave a
        # member a bias correction that depended on its place in the population, and after a few
        # hundred steps (0.999 ** 168) weights that did too. A product rounds the same either way.
        # These P numbers live in numpy: its operations on a few numbers cost a fraction of torch's,
        # and both round float64 alike.
        self.beta1_power = np.ones(self.population)
        self.beta2_power = np.ones(self.population)

    def _per_parameter(self, flat: torch.Tensor) -> list[torch.Tensor]:
        """Views of ``flat`` (P, N) shaped like each parameter."""
        return [part.view(p.shape) for part, p in zip(flat.split(self._sizes, dim=1), self.params)]

    def _flat(self, tensors: list[torch.Tensor]) -> torch.Tensor:
        return torch.cat([t.reshape(self.population, -1) for t in tensors], dim=1)

    @torch.no_grad()
    def step(self, grads: list[torch.Tensor] | torch.Tensor, active: torch.Tensor | None) -> None:
        """One step of the ``active`` members (None: every member) on ``grads``: a tensor per
        parameter, or all of them side by side as one (P, N) tensor (``grad``)."""
        everyone = active is None or bool(active.all())
        if everyone:
            self.steps += 1
            np.multiply(self.beta1_power, self.beta1, out=self.beta1_power)
            np.multiply(self.beta2_power, self.beta2, out=self.beta2_power)
        else:
            stepping = active.numpy()
            self.steps += stepping
            np.multiply(self.beta1_power, self.beta1, out=self.beta1_power, where=stepping)
            np.multiply(self.beta2_power, self.beta2, out=self.beta2_power, where=stepping)
        # As torch.optim.Adam: the corrections in double precision, applied in float32. A member
        # that never stepped takes step one's (it is masked out below; this keeps its values finite).
        bias1 = 1 - np.minimum(self.beta1_power, self.beta1)
        bias2 = 1 - np.minimum(self.beta2_power, self.beta2)
        step_sizes = torch.from_numpy((self.lr.numpy().astype(np.float64) / bias1).astype(np.float32)[:, None])
        bias2_roots = torch.from_numpy(np.sqrt(bias2).astype(np.float32)[:, None])
        g = grads if isinstance(grads, torch.Tensor) else self._flat(grads)
        p, m, v = self.flat, self._exp_avg, self._exp_avg_sq
        if everyone:
            # The same arithmetic as below, in place.
            m.lerp_(g, 1 - self.beta1)
            v.mul_(self.beta2).add_((1 - self.beta2) * g * g)
            denom = (v.sqrt() / bias2_roots).add_(self.eps)
            p.sub_((step_sizes * m).div_(denom))
            return
        new_m = torch.lerp(m, g, 1 - self.beta1)
        new_v = v * self.beta2 + (1 - self.beta2) * g * g
        denom = (new_v.sqrt() / bias2_roots).add_(self.eps)
        new_p = p - step_sizes * new_m / denom
        mask = active[:, None]   # frozen members keep their old values
        m.copy_(torch.where(mask, new_m, m))
        v.copy_(torch.where(mask, new_v, v))
        p.copy_(torch.where(mask, new_p, p))
