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


class VariationalRows(nn.Module):
    """A bias-free variational dense layer on a one-hot batch input.

    With one-hot input the product ``z @ W`` is row ``W[batch]``, so the layer is stored as a
    (batches x width) table of Gaussian posteriors N(mu, softplus(rho) + 1e-5) and looked up
    by integer code. Training draws one weight sample per step (reparameterisation);
    evaluation uses the posterior means.
    """

    def __init__(
        self,
        n_batches: int,
        width: int,
        prior_scale: float,
        post_loc_init_scale: float,
        post_scale_init: float,
    ) -> None:
        super().__init__()
        self.prior_scale = prior_scale
        self.mu = nn.Parameter(torch.randn(n_batches, width) * post_loc_init_scale)
        rho0 = math.log(math.expm1(post_scale_init - 1e-5))  # softplus^-1
        self.rho = nn.Parameter(torch.full((n_batches, width), rho0))

    def sigma(self, rows: torch.Tensor | None = None) -> torch.Tensor:
        """Posterior spreads, of every batch or of the batches ``rows``."""
        rho = self.rho if rows is None else self.rho.index_select(0, rows)
        return F.softplus(rho) + 1e-5

    def forward(self, codes: torch.Tensor) -> torch.Tensor:
        # index_select, not weight[codes]: on CPU the backward of advanced indexing sums the
        # rows' gradients in a thread-dependent order, so seeded fits differed run to run.
        if not self.training:
            return self.mu.index_select(0, codes)
        # One weight sample per batch present in the minibatch: rows of absent batches
        # cannot affect the output, and sampling the whole table made each step cost grow
        # with the number of batches.
        present, where = torch.unique(codes, return_inverse=True)
        mu = self.mu.index_select(0, present)
        return (mu + self.sigma(present) * torch.randn_like(mu)).index_select(0, where)

    def kl(self) -> torch.Tensor:
        """Closed-form KL(q || p) between the posterior and the N(0, prior_scale) prior."""
        sigma, p = self.sigma(), self.prior_scale
        return (torch.log(p / sigma) + (sigma**2 + self.mu**2) / (2 * p**2) - 0.5).sum()


class REBlock(nn.Module):
    """Random-effects block: batch-normalise x, then ``(1 + gamma(z)) * x + beta(z)``."""

    def __init__(
        self,
        width: int,
        n_batches: int,
        prior_scale: float = 0.25,
        post_loc_init_scale: float = 0.1,
        post_scale_init: float = 0.01,
    ) -> None:
        super().__init__()
        self.norm = nn.BatchNorm1d(width)
        args = (n_batches, width, prior_scale, post_loc_init_scale, post_scale_init)
        self.gamma = VariationalRows(*args)
        self.beta = VariationalRows(*args)

    def forward(self, x: torch.Tensor, codes: torch.Tensor) -> torch.Tensor:
        return (1 + self.gamma(codes)) * self.norm(x) + self.beta(codes)
