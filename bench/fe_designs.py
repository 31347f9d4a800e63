"""Quick sweep of MEDL settings on the three datasets of ``make compare``, one JSON row each.

For each design, MEDL is fitted on the independent and the confounded simulation (6
batches, 1,200 cells x 500 genes) and on Kang (condition as batch). Each row reports:
- FE kNN cell-type purity and batch entropy;
- on the simulations, the counterfactual MSE to the truth and the type-specific shift r;
- on Kang, control -> stimulated population-specific R² and the interferon-panel shift.

Scoring is compare.py's own. This is for choosing defaults: put the winner through
``make compare`` next to the peers. About 2 min per design on 2 CPU cores.

    python bench/fe_designs.py 'default|{}' 'fec50|{"_labels": true, "loss_weights": {"fec_y": 50}}'

``--regimes confounded`` runs instead on more confounded simulations (other seeds, gene and
batch counts, confounding 0.9), and ``--peers`` adds a row for the kNN matcher and the
global shift on the simulations.

A design is ``name|json``. The JSON holds ``MEDL(...)`` keyword arguments; ``"_labels": true``
also passes the cell types to ``fit`` (FEC), and ``"_fit": {...}`` holds ``fit(...)`` keyword
arguments (e.g. ``{"min_steps": 500}``).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import scipy.sparse as sp

import compare
import medl


def score(data: compare.Dataset, model: medl.MEDL) -> dict[str, float]:
    a = data.adata
    X, batch, types = a.X, a.obs["batch"], a.obs["cell_type"]
    fe = model.fixed_effects(X)
    re = model.random_effects(X, batch)
    out = {
        "purity": medl.metrics.knn_purity(fe, types),
        "entropy": medl.metrics.batch_entropy(fe, batch),
        # the RE latent must carry the batch: its batch ASW above FE's
        "re_asw_gain": medl.metrics.silhouette(re, batch) - medl.metrics.silhouette(fe, batch),
    }
    cf = compare.Counterfactual(
        lambda t: model.counterfactual(X, batch, t), model.reconstruct_random(X, batch), 0.0
    )
    if data.truth:
        s = compare.simulated_counterfactual_scores(data, {"m": cf}).loc["m"]
        out.update({"cf_mse": s["MSE to truth"], "type_r": s["type-specific shift r"]})
    else:
        both = compare.real_counterfactual_scores(data, {"m": cf})
        s, back = both["ctrl -> stim"].loc["m"], both["stim -> ctrl"].loc["m"]
        out.update({"r2": s["population-specific R²"], "panel": s["panel shift"],
                    "gene_r": s["gene r"], "r2_back": back["population-specific R²"],
                    "panel_back": back["panel shift"]})  # fmt: skip
    return {k: round(float(v), 3) for k, v in out.items()}


def tag(data: compare.Dataset) -> str:
    if data.name.startswith("conf:"):
        return data.name[5:]
    return (
        "conf" if "confounded" in data.name else "indep" if "independent" in data.name else "kang"
    )


#: (tag, simulate(...) settings) of the extra confounded simulations
CONFOUNDED = [
    ("s1", {"n_genes": 500, "n_batches": 6, "confounding": 0.8, "seed": 1}),
    ("s2", {"n_genes": 500, "n_batches": 6, "confounding": 0.8, "seed": 2}),
    ("g300b3", {"n_genes": 300, "n_batches": 3, "confounding": 0.8, "seed": 0}),
    ("c09", {"n_genes": 500, "n_batches": 6, "confounding": 0.9, "seed": 0}),
]


def confounded_datasets() -> list[compare.Dataset]:
    found = []
    for name, settings in CONFOUNDED:
        a = medl.datasets.simulate(
            n_cells=1200, n_cell_types=4, batch_effect=1.0, interaction=0.5, **settings
        )
        a.obs["cell_type"] = a.obs["cell_type"].astype("category")
        a.X = sp.csr_matrix(a.X, dtype=np.float32)
        found.append(compare.Dataset(f"conf:{name}", compare.with_pca(a, 0), True, []))
    return found


def peer_row(found: list[compare.Dataset]) -> dict:
    """The kNN matcher's and the global shift's counterfactual MSE, and the ceiling."""
    row: dict = {"design": "peers"}
    for data in found:
        if not data.truth:
            continue
        s = compare.simulated_counterfactual_scores(
            data, compare.baseline_counterfactuals(data, None)
        )["MSE to truth"]
        obs = data.adata.obs
        row[f"{tag(data)}_knn_mse"] = round(float(s.iloc[0]), 3)
        row[f"{tag(data)}_shift_mse"] = round(float(s.iloc[1]), 3)
        ceiling = medl.metrics.batch_entropy_ceiling(obs["batch"], obs["cell_type"])
        row[f"{tag(data)}_ceiling"] = round(float(ceiling), 3)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("designs", nargs="+", help="name|json")
    parser.add_argument("--data", default=str(Path(__file__).parents[2] / "shared" / "data"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--regimes", choices=["compare", "confounded"], default="compare")
    parser.add_argument("--peers", action="store_true")
    args = parser.parse_args()
    args.quick = False
    found = compare.datasets(args)[0] if args.regimes == "compare" else confounded_datasets()
    if args.peers:
        print(json.dumps(peer_row(found)), flush=True)
    for spec in args.designs:
        name, kwargs = spec.split("|", 1)
        kwargs = json.loads(kwargs)
        use_labels = kwargs.pop("_labels", False)
        fit_kwargs = kwargs.pop("_fit", {})
        row: dict = {"design": name}
        for data in found:
            a = data.adata
            labels = a.obs["cell_type"] if use_labels else None
            t0 = time.perf_counter()
            model = medl.MEDL(seed=args.seed, **kwargs)
            # the schedule's own settings are the design's fit defaults, which MEDL.fit reads
            names = {"step_budget", "batches_per_epoch"} & fit_kwargs.keys()
            schedule = {**model._fit_defaults(), **{k: fit_kwargs.pop(k) for k in names}}
            model._fit_defaults = lambda schedule=schedule: schedule
            model.fit(a.X, a.obs["batch"], labels, progress=False, **fit_kwargs)
            row.update({f"{tag(data)}_{k}": v for k, v in score(data, model).items()})
            row[f"{tag(data)}_seconds"] = round(time.perf_counter() - t0)
        print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
