"""The batch-effect test against simulated truth (issue 25).

Three regimes of ``medl.datasets.simulate`` (1500 cells x 300 genes, 3 batches, 4 cell
types): batch effects independent of cell type, cell types confounded with batch (0.8),
and type-specific batch effects (interaction 1.0 over a shared effect of 0.5); seeds 0-2;
the default MEDL, fitted once per data set. ``batch_effects(target="batch1",
reference="batch0", groups=cell_type)`` is scored against the true per-type LFC, the mean
over the type's cells of the truth's batch1 - batch0 difference, in two versions: of the
truth layers ``log1p(1e4 p)`` (``noise_free``) and of the expected log-normalised profile
(``expected``, ``true_counterfactual(expected=True)``, what the model of log-normalised X
estimates). Printed, one JSON line per fit:

- ``auroc``: of ``prob_de`` for the genes with |noise-free LFC| > 0.5 against the rest,
  the minimum over types (at the default delta 0.25, and at delta 0.5, the threshold the
  truth is cut at);
- at ``prob_de > 0.95``: ``fdp``, the false discovery proportion counting as false the
  calls with |noise-free LFC| <= delta (``fdp_strict``: <= 0.5), the worst type, and
  ``power``, the share of the > 0.5 genes found;
- ``fdp_fdr05``: the false discovery proportion (|noise-free LFC| <= delta) of the genes
  called at ``fdr <= 0.05``, the worst type: what the ``fdr`` column promises to bound;
- ``lfc_coverage``: the share of genes x types whose true LFC lies in lfc_mean +- z
  lfc_sd at nominal 50% and 90%, against both truths;
- ``observed``: the trivial baseline, a test of the observed cells (what ``FindMarkers``
  does, in Welch's form): per type, the difference of the mean of its batch1 and batch0
  cells, with the SD of that difference, scored the same way (``prob_de``: P(|lfc| >
  delta) under that normal; ``lfc_coverage_90`` against the expected LFC);
- ``rms_error``: the RMS distance of each estimate from the expected LFC, over types and
  genes;
- ``pooled``: MEDL's test and the observed cells' with one group of all cells
  (``groups=None``), against the mean true LFC over all cells: where the batches differ in
  composition, the observed difference mixes it in.

About 5 minutes on 2 CPU cores.

    python bench/batch_effects_sim.py [--seeds 0 1 2] [--regimes independent ...]
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
from scipy.stats import norm
from sklearn.metrics import roc_auc_score

import medl
from medl.datasets import true_counterfactual

REGIMES = {
    "independent": {"batch_effect": 1.0},
    "confounded": {"batch_effect": 1.0, "confounding": 0.8},
    "type-specific": {"batch_effect": 0.5, "interaction": 1.0},
}
Z = {"50": norm.ppf(0.75), "90": norm.ppf(0.95)}


def true_lfc(
    a, target: str, reference: str, expected: bool, pooled: bool = False
) -> dict[str, np.ndarray]:
    diff = true_counterfactual(a, target, expected) - true_counterfactual(a, reference, expected)
    if pooled:
        return {"all": diff.mean(0)}
    types = a.obs["cell_type"].astype(str).to_numpy()
    return {t: diff[types == t].mean(0) for t in np.unique(types)}


def observed_difference(a, pooled: bool = False) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per type (or ``"all"``), the observed batch1 - batch0 difference of means and its
    SD (Welch)."""
    own = a.obs["batch"].astype(str).to_numpy()
    types = a.obs["cell_type"].astype(str).to_numpy()
    X = a.X.toarray() if hasattr(a.X, "toarray") else np.asarray(a.X)
    out = {}
    for group in ["all"] if pooled else np.unique(types):
        cells = np.ones(len(own), bool) if pooled else types == group
        one, zero = X[cells & (own == "batch1")], X[cells & (own == "batch0")]
        var = one.var(0, ddof=1) / len(one) + zero.var(0, ddof=1) / len(zero)
        out[str(group)] = (one.mean(0) - zero.mean(0), np.sqrt(var))
    return out


def call_scores(mean, sd, true, expected, delta: float = 0.25) -> dict:
    """One group's AUROC of P(|lfc| > delta) for |true| > 0.5, FDP and power at > 0.95,
    90% coverage of the expected LFC and the RMS error to it."""
    sd = np.maximum(sd, 1e-12)
    prob = norm.sf((delta - mean) / sd) + norm.cdf((-delta - mean) / sd)
    big, called = np.abs(true) > 0.5, prob > 0.95
    return {
        "auroc": roc_auc_score(big, prob) if 0 < big.sum() < len(big) else np.nan,
        "fdp": float((np.abs(true[called]) <= delta).mean()) if called.any() else 0.0,
        "power": float(called[big].mean()) if big.any() else np.nan,
        "lfc_coverage_90": float((np.abs(mean - expected) <= Z["90"] * sd).mean()),
        "rms_error": float(np.sqrt(((mean - expected) ** 2).mean())),
    }


def summarise(scores: list[dict]) -> dict:
    """Worst AUROC and FDP over groups, mean power and coverage, RMS error over all."""
    pick = {"auroc": np.nanmin, "fdp": max, "power": np.nanmean,
            "rms_error": lambda v: np.sqrt(np.mean(np.square(v)))}  # fmt: skip
    return {k: round(float(pick.get(k, np.mean)([s[k] for s in scores])), 3) for k in scores[0]}


def pooled_scores(model, a) -> dict:
    """MEDL's test and the observed cells' over all cells, against the mean true LFC."""
    table = model.batch_effects(a.X, a.obs["batch"], "batch1", "batch0")
    truths = [true_lfc(a, "batch1", "batch0", e, pooled=True)["all"] for e in (False, True)]
    obs_mean, obs_sd = observed_difference(a, pooled=True)["all"]
    medl_row = call_scores(table["lfc_mean"].to_numpy(), table["lfc_sd"].to_numpy(), *truths)
    return {"medl": summarise([medl_row]),
            "observed": summarise([call_scores(obs_mean, obs_sd, *truths)])}  # fmt: skip


def test_scores(model, a, delta: float = 0.25) -> dict:
    X, batch, types = a.X, a.obs["batch"], a.obs["cell_type"]
    table = model.batch_effects(X, batch, "batch1", "batch0", groups=types, delta=delta)
    at_half = model.batch_effects(X, batch, "batch1", "batch0", groups=types, delta=0.5)
    truths = {"noise_free": true_lfc(a, "batch1", "batch0", False),
              "expected": true_lfc(a, "batch1", "batch0", True)}  # fmt: skip
    auroc, auroc_half, fdp, strict, power, by_fdr = [], [], [], [], [], []
    observed = observed_difference(a)
    base, errors = [], []
    inside = {f"{k}_{q}": [] for k in truths for q in Z}
    for group, rows in table.groupby("group", sort=False):
        true = truths["noise_free"][group]
        big = np.abs(true) > 0.5
        mean, sd = rows["lfc_mean"].to_numpy(), rows["lfc_sd"].to_numpy()
        if 0 < big.sum() < len(big):
            auroc.append(roc_auc_score(big, rows["prob_de"]))
            half = at_half[at_half["group"] == group]["prob_de"]
            auroc_half.append(roc_auc_score(big, half))
        called = rows["prob_de"].to_numpy() > 0.95
        if called.any():
            fdp.append(float((np.abs(true[called]) <= delta).mean()))
            strict.append(float((~big[called]).mean()))
        chosen = rows["fdr"].to_numpy() <= 0.05
        if chosen.any():
            by_fdr.append(float((np.abs(true[chosen]) <= delta).mean()))
        power.append(float(called[big].mean()) if big.any() else np.nan)
        base.append(call_scores(*observed[group], true, truths["expected"][group], delta))
        errors.append(mean - truths["expected"][group])
        for q, z in Z.items():
            for kind, truth in truths.items():
                inside[f"{kind}_{q}"].append(np.abs(mean - truth[group]) <= z * sd)
    return {
        "auroc": round(float(min(auroc)), 3),
        "auroc_delta_0.5": round(float(min(auroc_half)), 3),
        "fdp": round(float(max(fdp)), 3) if fdp else None,
        "fdp_strict": round(float(max(strict)), 3) if strict else None,
        "power": round(float(np.nanmean(power)), 3),
        "fdp_fdr05": round(float(max(by_fdr)), 3) if by_fdr else None,
        "rms_error": round(float(np.sqrt(np.mean(np.square(errors)))), 3),
        "observed": summarise(base),
        "lfc_coverage": {k: round(float(np.concatenate(v).mean()), 3) for k, v in inside.items()},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--regimes", nargs="+", default=list(REGIMES), choices=list(REGIMES))
    args = parser.parse_args()
    for regime in args.regimes:
        for seed in args.seeds:
            a = medl.datasets.simulate(n_cells=1500, n_genes=300, seed=seed, **REGIMES[regime])
            t0 = time.perf_counter()
            model = medl.MEDL(seed=seed).fit(a.X, a.obs["batch"], progress=False)
            fit_s = time.perf_counter() - t0
            row = {"regime": regime, "seed": seed, "fit_s": round(fit_s, 1)}
            t0 = time.perf_counter()
            row.update(test_scores(model, a))
            row["pooled"] = pooled_scores(model, a)
            row["test_s"] = round(time.perf_counter() - t0, 1)
            print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
