"""A fit beside other work: its time alone, then beside a second process on the same cores.

The second process is either another default MEDL fit (``--other medl``) or a plain torch
process that multiplies matrices on 2 threads for as long as the fit runs (``--other
torch``: it does not adapt its threads, as other software will not). The fit is the
default ``MEDL().fit`` on ``medl.datasets.simulate`` data; each in its own process.

    python bench/sharing.py --cells 2000 --other torch medl [--no-adaptive]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

FIT = """
import sys, time, json, torch, medl
torch.set_num_threads(2)
a = medl.datasets.simulate(n_cells=int(sys.argv[1]), n_genes=2000, n_batches=3, seed=0)
t0 = time.perf_counter()
m = medl.MEDL(seed=int(sys.argv[2])).fit(a.X, a.obs["batch"], progress=False)
print(json.dumps({"seconds": time.perf_counter() - t0, "epochs": m.fit_info["epochs"]}))
"""

SPIN = """
import torch
torch.set_num_threads(2)
a = torch.rand(256, 2000); w = torch.rand(2000, 256)
while True:
    (a @ w).relu_().sum()
"""


def fit(cells: int, seed: int, env: dict) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", FIT, str(cells), str(seed)],
        stdout=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip


def seconds(proc: subprocess.Popen) -> float:
    out, _ = proc.communicate()
    return json.loads(out.strip().splitlines()[-1])["seconds"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", type=int, default=2000)
    parser.add_argument("--other", nargs="+", default=["torch", "medl"])
    parser.add_argument("--no-adaptive", action="store_true", help="MEDL_ADAPTIVE_THREADS=0")
    parser.add_argument("--wait-policy", help="OMP_WAIT_POLICY for the fits (ACTIVE, PASSIVE)")
    args = parser.parse_args()
    env = dict(os.environ)
    if args.no_adaptive:
        env["MEDL_ADAPTIVE_THREADS"] = "0"
    if args.wait_policy:
        env["OMP_WAIT_POLICY"] = args.wait_policy
    alone = seconds(fit(args.cells, 0, env))
    rows = {"cells": args.cells, "adaptive": not args.no_adaptive,
            "wait_policy": args.wait_policy, "alone_s": round(alone, 1)}  # fmt: skip
    for other in args.other:
        if other == "torch":
            spin = subprocess.Popen([sys.executable, "-c", SPIN])
            time.sleep(2)
            shared = seconds(fit(args.cells, 0, env))
            spin.kill()
            spin.wait()
            rows["beside_torch_s"] = round(shared, 1)
        else:
            a, b = fit(args.cells, 0, env), fit(args.cells, 1, env)
            rows["beside_medl_s"] = [round(seconds(a), 1), round(seconds(b), 1)]
    rows["ratios"] = {
        k: (round(max(v) / alone, 2) if isinstance(v, list) else round(v / alone, 2))
        for k, v in rows.items()
        if k.startswith("beside")
    }
    print(json.dumps(rows))


if __name__ == "__main__":
    main()
