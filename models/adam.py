"""Adam for a population: per-member learning rates, step counts and an active mask."""
import torch


class PopulationAdam:
    """Adam over tensors whose first dimension is the population; members not ``active`` stay frozen.

    A frozen member's parameters, moments and step count are untouched, so its trajectory is the
    one it would have had alone.
    """

    def __init__(self, params: list[torch.Tensor], lr: torch.Tensor, betas=(0.9, 0.999), eps: float = 1e-8):
        self.params = params
        self.lr = lr.to(torch.float32)
        self.beta1, self.beta2, self.eps = betas[0], betas[1], eps
        self.exp_avg = [torch.zeros_like(p) for p in params]
        self.exp_avg_sq = [torch.zeros_like(p) for p in params]
        self.steps = torch.zeros(lr.shape[0])
        # beta ** steps per member, kept by multiplying. ATen's vectorised pow rounds differently
        # from the scalar pow it runs on a tensor's last few elements, so ``beta ** steps`` gave a
        # member a bias correction that depended on its place in the population, and after a few
        # hundred steps (0.999 ** 168) weights that did too. A product rounds the same either way.
        self.beta1_power = torch.ones(lr.shape[0], dtype=torch.float64)
        self.beta2_power = torch.ones(lr.shape[0], dtype=torch.float64)

    @torch.no_grad()
    def step(self, grads: list[torch.Tensor], active: torch.Tensor) -> None:
        self.steps += active.to(self.steps.dtype)
        self.beta1_power = torch.where(active, self.beta1_power * self.beta1, self.beta1_power)
        self.beta2_power = torch.where(active, self.beta2_power * self.beta2, self.beta2_power)
        # As torch.optim.Adam: the corrections in double precision, applied in float32. A member
        # that never stepped takes step one's (it is masked out below; this keeps its values finite).
        bias1 = 1 - self.beta1_power.clamp(max=self.beta1)
        bias2 = 1 - self.beta2_power.clamp(max=self.beta2)
        step_sizes = (self.lr.double() / bias1).float()
        bias2_roots = bias2.sqrt().float()
        everyone = bool(active.all())  # then no member needs its old values kept
        for p, g, m, v in zip(self.params, grads, self.exp_avg, self.exp_avg_sq):
            shape = (-1,) + (1,) * (p.dim() - 1)
            mask = active.view(shape)
            new_m = torch.lerp(m, g, 1 - self.beta1)
            new_v = v * self.beta2 + (1 - self.beta2) * g * g
            denom = (new_v.sqrt() / bias2_roots.view(shape)).add_(self.eps)
            new_p = p - step_sizes.view(shape) * new_m / denom
            m.copy_(new_m if everyone else torch.where(mask, new_m, m))
            v.copy_(new_v if everyone else torch.where(mask, new_v, v))
            p.copy_(new_p if everyone else torch.where(mask, new_p, p))
