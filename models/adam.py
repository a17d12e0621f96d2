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

    @torch.no_grad()
    def step(self, grads: list[torch.Tensor], active: torch.Tensor) -> None:
        self.steps += active.to(self.steps.dtype)
        bias1 = 1 - self.beta1 ** self.steps.clamp(min=1)
        bias2 = 1 - self.beta2 ** self.steps.clamp(min=1)
        everyone = bool(active.all())  # then no member needs its old values kept
        for p, g, m, v in zip(self.params, grads, self.exp_avg, self.exp_avg_sq):
            shape = (-1,) + (1,) * (p.dim() - 1)
            mask = active.view(shape)
            new_m = torch.lerp(m, g, 1 - self.beta1)
            new_v = v * self.beta2 + (1 - self.beta2) * g * g
            step_size = (self.lr / bias1).view(shape)
            denom = (new_v.sqrt() / bias2.sqrt().view(shape)).add_(self.eps)
            new_p = p - step_size * new_m / denom
            m.copy_(new_m if everyone else torch.where(mask, new_m, m))
            v.copy_(new_v if everyone else torch.where(mask, new_v, v))
            p.copy_(new_p if everyone else torch.where(mask, new_p, p))
