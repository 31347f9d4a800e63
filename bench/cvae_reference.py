"""A plain conditional VAE: the yardstick for what a small counterfactual model costs.

Two hidden layers of 256 in the encoder and decoder, the one-hot batch concatenated to
both inputs, a 10-d Gaussian code, a Gaussian likelihood with a learned per-gene spread,
Adam 1e-3, minibatch 128, 150 epochs, no validation or early stopping. Its counterfactual
decodes a cell's code with the target batch's one-hot. It is deliberately the simplest
model that answers the same question as MEDL's counterfactuals, so that MEDL's fit time can
be stated as a multiple of it (bench/time_to_result.py).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn


class CVAE(nn.Module):
    def __init__(self, n_genes: int, n_batches: int, hidden: int = 256, latent: int = 10):
        super().__init__()
        self.n_batches = n_batches
        self.enc = nn.Sequential(
            nn.Linear(n_genes + n_batches, hidden), nn.ReLU(),
            nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, 2 * latent),
        )  # fmt: skip
        self.dec = nn.Sequential(
            nn.Linear(latent + n_batches, hidden), nn.ReLU(),
            nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, n_genes),
        )  # fmt: skip
        self.log_scale = nn.Parameter(torch.zeros(n_genes))

    def posterior(self, x, onehot):
        mean, logvar = self.enc(torch.cat([x, onehot], 1)).chunk(2, 1)
        return mean, logvar.clamp(-12, 8)

    def decode(self, z, onehot):
        return self.dec(torch.cat([z, onehot], 1))

    def loss(self, x, onehot):
        mean, logvar = self.posterior(x, onehot)
        z = mean + torch.exp(0.5 * logvar) * torch.randn_like(mean)
        out = self.decode(z, onehot)
        scale = self.log_scale.clamp_min(-7)
        nll = (0.5 * (out - x).square() * torch.exp(-2 * scale) + scale).sum(1).mean()
        kl = 0.5 * (mean.square() + logvar.exp() - 1 - logvar).sum(1).mean()
        return nll + kl


def fit_cvae(X: np.ndarray, codes: np.ndarray, n_batches: int, epochs: int = 150, seed: int = 0):
    """Fit on dense log-normalised ``X`` (cells x genes) with integer batch ``codes``."""
    torch.manual_seed(seed)
    x = torch.as_tensor(np.asarray(X, dtype=np.float32))
    onehot = nn.functional.one_hot(torch.as_tensor(codes).long(), n_batches).float()
    model = CVAE(x.shape[1], n_batches)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    for _ in range(epochs):
        for idx in torch.randperm(len(x)).split(128):
            if len(idx) < 2:
                continue
            loss = model.loss(x[idx], onehot[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    return model.eval()


@torch.no_grad()
def counterfactual(model: CVAE, X: np.ndarray, codes: np.ndarray, target: int) -> np.ndarray:
    x = torch.as_tensor(np.asarray(X, dtype=np.float32))
    own = nn.functional.one_hot(torch.as_tensor(codes).long(), model.n_batches).float()
    dest = torch.zeros_like(own)
    dest[:, target] = 1.0
    return model.decode(model.posterior(x, own)[0], dest).numpy()
