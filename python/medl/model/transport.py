"""Carry a fixed-effects code across batches along the anchor pairs (anchored counterfactuals).

The mixed-effects VAE's code is batch-invariant only as far as training made it so. Where a
batch is nearly all one cell type, that type's code in its own batch stays offset from the
same type's code in the other batches, and decoding the offset code with another batch's
effects lands between types. The anchor pairs (:func:`medl.model.anchors.mnn_pairs`) measure the
offset where it matters: each pair is the same kind of cell seen in two batches. So a cell
of batch ``s`` sent to batch ``t`` is moved by the kernel-weighted mean of ``code(q) -
code(p)`` over its ``k`` nearest anchors ``p`` of batch ``s`` whose partners ``q`` are in
batch ``t`` (the correction vectors of Seurat's and fastMNN's integration, here in the
code; weights that fall to zero at the k-th, so the move is continuous in the code,
:mod:`medl.model.neighbours`), then decoded with ``t``'s effects. Where the code is
already aligned the move is near zero (docs/method.md gives the measurements).
"""

from __future__ import annotations

import numpy as np
import torch

from .neighbours import kernel_neighbours, query_chunk

#: At most this many pairs are kept (a random subset), which bounds memory on large data.
MAX_PAIRS = 50_000


class AnchorTransport:
    """The anchor pairs' codes, both ways, and the batches on either side.

    Parameters
    ----------
    start, end
        Codes (pairs x latent) of each pair's two cells, every pair in both directions.
    start_batch, end_batch
        Their batch codes.
    k
        Nearest anchors that set a cell's move.
    """

    def __init__(
        self,
        start: torch.Tensor,
        end: torch.Tensor,
        start_batch: torch.Tensor,
        end_batch: torch.Tensor,
        k: int = 20,
    ) -> None:
        self.start, self.end = start, end
        self.start_batch, self.end_batch = start_batch.long(), end_batch.long()
        self.k = int(k)

    @classmethod
    @torch.inference_mode()
    def from_pairs(
        cls,
        encode,
        x_of,
        pairs: torch.Tensor,
        batch_codes: torch.Tensor,
        seed: int = 0,
        chunk: int = 8192,
    ) -> AnchorTransport:
        """Encode both cells of every pair (``pairs``: n x 2 row indices).

        ``x_of(rows)`` gives the scaled expression of the rows and ``encode`` their codes.
        """
        if len(pairs) > MAX_PAIRS:
            keep = np.random.default_rng(seed).choice(len(pairs), MAX_PAIRS, replace=False)
            pairs = pairs[torch.as_tensor(np.sort(keep), device=pairs.device)]
        rows, inverse = torch.unique(pairs.reshape(-1), return_inverse=True)
        codes = torch.cat([encode(x_of(part)).float() for part in rows.split(chunk)])
        a, b = inverse.reshape(-1, 2).T
        both = torch.cat([a, b]), torch.cat([b, a])
        cell_batch = batch_codes[rows]
        return cls(codes[both[0]], codes[both[1]], cell_batch[both[0]], cell_batch[both[1]])

    def state(self) -> dict[str, torch.Tensor]:
        """Tensors to save (on the CPU); :meth:`from_state` rebuilds the transport."""
        return {
            "start": self.start.cpu(),
            "end": self.end.cpu(),
            "start_batch": self.start_batch.cpu(),
            "end_batch": self.end_batch.cpu(),
            "k": torch.tensor(self.k),
        }

    @classmethod
    def from_state(cls, state: dict[str, torch.Tensor], device: torch.device) -> AnchorTransport:
        return cls(
            state["start"].to(device),
            state["end"].to(device),
            state["start_batch"].to(device),
            state["end_batch"].to(device),
            int(state["k"]),
        )

    def links(self, source: int, target: int) -> bool:
        """Whether any anchor pair joins batch ``source`` to batch ``target``."""
        return bool(((self.start_batch == source) & (self.end_batch == target)).any())

    def shift(self, z: torch.Tensor, own: torch.Tensor, dest: torch.Tensor) -> torch.Tensor:
        """``z`` moved from each cell's batch ``own`` towards its target batch ``dest``."""
        return z + self.move(z, own, dest)

    def move(self, z: torch.Tensor, own: torch.Tensor, dest: torch.Tensor) -> torch.Tensor:
        """How far :meth:`shift` moves each code (cells x latent).

        Cells kept in their own batch, and batch pairs without anchors, are not moved.
        In float32 also under bfloat16 autocast, so that distances to the anchors do not
        round (MEDL passes codes computed in float32 too).
        """
        dtype, z = z.dtype, z.float()
        out = torch.zeros_like(z)
        with torch.autocast(z.device.type, enabled=False):
            for s, t in torch.unique(torch.stack([own, dest]), dim=1).T.tolist():
                anchors = (self.start_batch == s) & (self.end_batch == t)
                if s == t or not bool(anchors.any()):
                    continue
                start = self.start[anchors].float()
                delta = self.end[anchors].float() - start
                cells = torch.nonzero((own == s) & (dest == t)).squeeze(1)
                for part in cells.split(query_chunk(len(start))):
                    idx, weights = kernel_neighbours(z[part], start, self.k)
                    out[part] += (weights.unsqueeze(2) * delta[idx]).sum(1)
        return out.to(dtype)
