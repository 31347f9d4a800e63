"""Building blocks shared by the MEDL networks (see ``medl_spec.md`` section 2)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn


def dense(n_in: int, n_out: int, bias: bool = True) -> nn.Linear:
    """A Keras-style dense layer: Glorot-uniform kernel, zero bias (the reference's init)."""
    layer = nn.Linear(n_in, n_out, bias=bias)
    nn.init.xavier_uniform_(layer.weight)
    if bias:
        nn.init.zeros_(layer.bias)
    return layer


def mlp(n_in: int, hidden: Sequence[int], n_out: int) -> nn.Sequential:
    """Dense -> ReLU stack ending in logits (softmax lives in the cross-entropy loss)."""
    layers: list[nn.Module] = []
    for width in hidden:
        layers += [dense(n_in, width), nn.ReLU()]
        n_in = width
    layers.append(dense(n_in, n_out))
    return nn.Sequential(*layers)


class Encoder(nn.Module):
    """Dense -> BatchNorm -> SELU per hidden layer, then Dense(latent) -> SELU.

    ``forward`` returns every layer's activation; the last one is the latent code. The
    fixed-effects adversary reads all of them.
    """

    def __init__(self, n_genes: int, hidden: Sequence[int], latent_dim: int) -> None:
        super().__init__()
        dims = [n_genes, *hidden, latent_dim]
        self.linears = nn.ModuleList(dense(a, b) for a, b in zip(dims[:-1], dims[1:]))
        self.norms = nn.ModuleList(nn.BatchNorm1d(width) for width in hidden)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        activations = []
        for i, linear in enumerate(self.linears):
            x = linear(x)
            if i < len(self.norms):
                x = self.norms[i](x)
            x = F.selu(x)
            activations.append(x)
        return activations


class TiedDecoder(nn.Module):
    """Decoder that multiplies by the transpose of each encoder kernel, in reverse order.

    Only the biases are its own (zero-initialised); there is no batch norm, SELU between
    layers and a linear output.
    """

    def __init__(self, encoder: Encoder) -> None:
        super().__init__()
        # A plain attribute list keeps the encoder out of this module's parameters: the
        # kernels are owned (and saved) once, by the encoder.
        self._encoder = [encoder]
        self.biases = nn.ParameterList(
            nn.Parameter(torch.zeros(linear.in_features)) for linear in reversed(encoder.linears)
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        linears = list(reversed(self._encoder[0].linears))
        for i, (linear, bias) in enumerate(zip(linears, self.biases)):
            z = F.linear(z, linear.weight.t(), bias)
            if i < len(linears) - 1:
                z = F.selu(z)
        return z


class _GaussianKL(torch.autograd.Function):
    """sum KL(N(mu, softplus(rho) + 1e-5) || N(0, p)) with a hand-written backward.

    The per-batch tables of a 1,000-batch fit hold millions of entries and every step
    differentiates the KL over all of them; autograd's dozen elementwise passes made that
    cost most of the step. Here forward and backward take a few passes each.
    """

    @staticmethod
    def forward(ctx, mu: torch.Tensor, rho: torch.Tensor, prior: float) -> torch.Tensor:
        with torch.autocast(mu.device.type, enabled=False):  # a sum of millions: float32
            sigma = F.softplus(rho).add_(1e-5)
            flat_s, flat_m = sigma.reshape(-1), mu.reshape(-1)
            quad = (torch.dot(flat_s, flat_s) + torch.dot(flat_m, flat_m)) / (2 * prior**2)
            kl = mu.numel() * (math.log(prior) - 0.5) - torch.log(sigma).sum() + quad
        ctx.save_for_backward(mu, rho, sigma)
        ctx.prior = prior
        return kl

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        mu, rho, sigma = ctx.saved_tensors
        inv_p2 = 1.0 / ctx.prior**2
        grad_mu = mu * (grad * inv_p2)
        # d/dsigma = sigma / p^2 - 1 / sigma, and dsigma/drho = sigmoid(rho)
        grad_rho = (sigma * inv_p2).sub_(sigma.reciprocal()).mul_(torch.sigmoid(rho)).mul_(grad)
        return grad_mu, grad_rho, None


def gaussian_kl(mu: torch.Tensor, rho: torch.Tensor, prior_scale: float) -> torch.Tensor:
    """Closed-form KL between the posteriors N(mu, softplus(rho) + 1e-5) and N(0, prior)."""
    return _GaussianKL.apply(mu, rho, prior_scale)


class BatchEffects(nn.Module):
    """Per-batch variational scale (gamma) and shift (beta) of every random-effects layer.

    Each is a bias-free variational dense layer on the one-hot batch input; with one-hot
    input ``z @ W`` is row ``W[batch]``, so all layers' weights live in one
    (batches x 2 * sum(widths)) table of Gaussian posteriors N(mu, softplus(rho) + 1e-5),
    looked up by integer code. One table means one lookup, one weight sample and one KL
    per step however many layers there are. Training draws one weight sample per batch
    present in the minibatch (reparameterisation); evaluation uses the posterior means.
    """

    def __init__(
        self,
        n_batches: int,
        widths: Sequence[int],
        prior_scale: float = 0.25,
        post_loc_init_scale: float = 0.1,
        post_scale_init: float = 0.01,
    ) -> None:
        super().__init__()
        self.prior_scale = prior_scale
        self.splits = [w for width in widths for w in (width, width)]  # gamma, beta per layer
        total = sum(self.splits)
        self.mu = nn.Parameter(torch.randn(n_batches, total) * post_loc_init_scale)
        rho0 = math.log(math.expm1(post_scale_init - 1e-5))  # softplus^-1
        self.rho = nn.Parameter(torch.full((n_batches, total), rho0))

    def sigma(self, rows: torch.Tensor | None = None) -> torch.Tensor:
        """Posterior spreads, of every batch or of the batches ``rows``."""
        rho = self.rho if rows is None else self.rho.index_select(0, rows)
        return F.softplus(rho) + 1e-5

    def forward(self, codes: torch.Tensor) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """(gamma, beta) of each layer, one row per cell."""
        # index_select, not weight[codes]: on CPU the backward of advanced indexing sums the
        # rows' gradients in a thread-dependent order, so seeded fits differed run to run.
        if self.training:
            return self.sample(codes)
        return self.layers(self.mu.index_select(0, codes))

    def sample(
        self, codes: torch.Tensor, generator: torch.Generator | None = None
    ) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """One posterior draw of every batch in ``codes``, shared by its cells."""
        # rows of batches absent from the minibatch cannot affect the output
        present, where = torch.unique(codes, return_inverse=True)
        mu = self.mu.index_select(0, present)
        noise = torch.randn(mu.shape, generator=generator, device=mu.device, dtype=mu.dtype)
        return self.layers((mu + self.sigma(present) * noise).index_select(0, where))

    def draw(
        self, rows: torch.Tensor, n: int, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """``n`` posterior draws of the table rows of the batches ``rows``
        (n x len(rows) x width); :meth:`layers` turns a row into the layers' effects."""
        mu = self.mu.index_select(0, rows)
        noise = torch.randn((n, *mu.shape), generator=generator, device=mu.device, dtype=mu.dtype)
        return mu + self.sigma(rows) * noise

    def layers(self, rows: torch.Tensor) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """(gamma, beta) of each layer from table rows (one per cell, or one for all)."""
        parts = rows.split(self.splits, dim=1)
        return list(zip(parts[0::2], parts[1::2]))

    def average(self) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """(gamma, beta) of each layer at the mean of the batches' posterior means (1 row).

        Decoding with these gives a cell "averaged over the batches seen": the batch-free
        profile of the mixed-effects decoder.
        """
        return self.layers(self.mu.mean(0, keepdim=True))

    def kl(self) -> torch.Tensor:
        """KL(q || p) summed within each layer, averaged over the gamma and beta layers."""
        return gaussian_kl(self.mu, self.rho, self.prior_scale) / len(self.splits)


class REBlock(nn.Module):
    """Random-effects block: batch-normalise x, then ``(1 + gamma) * x + beta``."""

    def __init__(self, width: int) -> None:
        super().__init__()
        self.norm = nn.BatchNorm1d(width)

    def forward(self, x: torch.Tensor, effects: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        gamma, beta = effects
        return (1 + gamma) * self.norm(x) + beta
