"""Loss weights: the paper's per-dataset presets (spec section 3, Tables S1-S3)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace


@dataclass(frozen=True)
class LossWeights:
    """Weights of every loss term.

    ``ae_*`` are used by the AE/AEC baselines, ``fe_*`` by the fixed-effects subnetwork
    (``fec_*`` when cell-type labels are given: FEC), ``re_*`` by the random-effects
    subnetwork. ``fe_latent_kl`` weighs the latent KL of the variational variant's
    mixed-effects VAE (which also uses ``re_kl`` for its per-batch layers and ``fec_y``);
    ``fe_anchor`` its pull between mutual nearest neighbours of different batches
    (:mod:`medl.model.anchors`; 0: off).
    """

    ae_recon: float = 1.0
    aec_recon: float = 1.0
    aec_y: float = 0.1
    fe_recon: float = 1000.0
    fe_adv: float = 1.0
    fec_recon: float = 1000.0
    fec_adv: float = 1.0
    fec_y: float = 1.0
    re_recon: float = 110.0
    re_z: float = 0.1
    re_kl: float = 1e-5
    fe_latent_kl: float = 8.0
    fe_anchor: float = 0.0
    fe_cross: float = 0.0

    def update(self, overrides: dict[str, float] | None) -> LossWeights:
        if not overrides:
            return self
        names = {f.name for f in fields(self)}
        unknown = sorted(set(overrides) - names)
        if unknown:
            raise ValueError(f"Unknown loss weight(s) {unknown}; valid names: {sorted(names)}.")
        return replace(self, **{k: float(v) for k, v in overrides.items()})

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


#: The defaults are the ASDc weights, the paper's middle-sized dataset.
PRESETS: dict[str, LossWeights] = {
    "default": LossWeights(),
    "healthy_heart": LossWeights(
        aec_recon=81, aec_y=0.1, fe_recon=5400, fe_adv=1, fec_recon=9450, fec_adv=1, fec_y=1
    ),
    "asdc": LossWeights(
        aec_recon=1, aec_y=0.1, fe_recon=1000, fe_adv=1, fec_recon=1000, fec_adv=1, fec_y=1
    ),
    "amlh": LossWeights(
        aec_recon=100, aec_y=0.1, fe_recon=4000, fe_adv=1, fec_recon=1500, fec_adv=1, fec_y=1
    ),
}


def resolve(preset: str | None, overrides: dict[str, float] | None = None) -> LossWeights:
    """The preset's weights (``None`` -> ``"default"``) with ``overrides`` applied."""
    name = "default" if preset is None else str(preset).lower()
    if name not in PRESETS:
        raise ValueError(f"Unknown preset {preset!r}; choose one of {sorted(PRESETS)}.")
    return PRESETS[name].update(overrides)
