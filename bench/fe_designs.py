"""Quick sweep of MEDL settings on the three datasets of ``make compare``, one JSON row each.

For each design, MEDL is fitted on the independent and the confounded simulation (6
batches, 1,200 cells x 500 genes) and on Kang (condition as batch). Each row reports:
- FE kNN cell-type purity and batch entropy;
- on the simulations, the counterfactual MSE to the truth and the type-specific shift r;
- on Kang, control -> stimulated population-specific R² and the interferon-panel shift.

Scoring is compare.py's own. This is for choosing defaults: put the winner through
``make compare`` next to the peers. About 2 min per design on 2 CPU cores.

    python bench/fe_designs.py 'default|{}' 'fec50|{"_labels": true, "loss_weights": {"fec_y": 50}}'

A design is ``name|json``. The JSON holds ``MEDL(...)`` keyword arguments; ``"_labels": true``
also passes the cell types to ``fit`` (FEC).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import compare
import medl


def score(data: compare.Dataset, model: medl.MEDL) -> dict[str, float]:
    a = data.adata
    X, batch, types = a.X, a.obs["batch"], a.obs["cell_type"]
    fe = model.fixed_effects(X)
    out = {
        "purity": medl.metrics.knn_purity(fe, types),
        "entropy": medl.metrics.batch_entropy(fe, batch),
    }
    cf = compare.Counterfactual(
        lambda t: model.counterfactual(X, batch, t), model.reconstruct_random(X, batch), 0.0
    )
    if data.truth:
        s = compare.simulated_counterfactual_scores(data, {"m": cf}).loc["m"]
        out.update({"cf_mse": s["MSE to truth"], "type_r": s["type-specific shift r"]})
    else:
        s = compare.real_counterfactual_scores(data, {"m": cf})["ctrl -> stim"].loc["m"]
        out.update({"r2": s["population-specific R²"], "panel": s["panel shift"]})
    return {k: round(float(v), 3) for k, v in out.items()}


def tag(data: compare.Dataset) -> str:
    return (
        "conf" if "confounded" in data.name else "indep" if "independent" in data.name else "kang"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("designs", nargs="+", help="name|json")
    parser.add_argument("--data", default=str(Path(__file__).parents[2] / "shared" / "data"))
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    args.quick = False
    found, _ = compare.datasets(args)
    for spec in args.designs:
        name, kwargs = spec.split("|", 1)
        kwargs = json.loads(kwargs)
        use_labels = kwargs.pop("_labels", False)
        row: dict = {"design": name}
        for data in found:
            a = data.adata
            labels = a.obs["cell_type"] if use_labels else None
            t0 = time.perf_counter()
            model = medl.MEDL(seed=args.seed, **kwargs).fit(
                a.X, a.obs["batch"], labels, progress=False
            )
            row.update({f"{tag(data)}_{k}": v for k, v in score(data, model).items()})
            row[f"{tag(data)}_seconds"] = round(time.perf_counter() - t0)
        print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
