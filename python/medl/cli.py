"""Command line: ``medl fit`` on an .h5ad and ``medl demo`` on simulated data."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import anndata as ad
import scipy.sparse as sp

from . import datasets, metrics, plotting, pp
from .api import run_medl
from .model import AE


def _fit_command(args: argparse.Namespace) -> int:
    source = Path(args.data)
    if not source.is_file():
        raise SystemExit(f"medl fit: {source} does not exist.")
    adata = ad.read_h5ad(source)
    preprocess = args.preprocess
    if preprocess == "auto":
        preprocess = "yes" if pp.looks_like_counts(adata, args.layer) else "no"
        if preprocess == "yes":
            print(
                f"medl fit: {source.name} holds raw counts: normalising, log1p and keeping "
                f"{args.n_top_genes} highly variable genes (--preprocess no to skip)."
            )
    if preprocess == "yes":
        if args.layer:
            adata.X = adata.layers[args.layer]
        adata = pp.preprocess(adata, n_top_genes=args.n_top_genes)
        layer = None
    else:
        layer = args.layer
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    model = run_medl(
        adata,
        batch_key=args.batch,
        labels_key=args.labels,
        layer=layer,
        counterfactual=args.counterfactual,
        variant=args.variant,
        latent_dim=args.latent_dim,
        preset=args.preset,
        device=args.device,
        seed=args.seed,
        max_epochs=args.max_epochs,
        batch_size=args.batch_size,
        progress=not args.quiet,
        checkpoint=args.checkpoint,
        checkpoint_every=args.checkpoint_every,
        resume=args.resume,
    )
    model.save(out / "model", overwrite=True)
    result = out / f"{source.stem}_medl.h5ad"
    if sp.issparse(adata.X):
        adata.X = adata.X.tocsr()
    adata.write_h5ad(result)
    print(f"medl fit: wrote {result} and the model to {out / 'model'}.")
    return 0


def _demo_command(args: argparse.Namespace) -> int:
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    adata = datasets.simulate(n_cells=args.n_cells, n_genes=args.n_genes, seed=args.seed)
    model = run_medl(
        adata,
        batch_key="batch",
        latent_dim=2,
        lr=1e-3,
        seed=args.seed,
        device=args.device,
        max_epochs=args.max_epochs,
        batch_size=256,
        progress=not args.quiet,
    )
    plotting.training_curves(model.history, out / "training_curves.png")
    # the same autoencoder without the adversary: the reference for the FE space's mixing
    ae = AE(latent_dim=2, lr=1e-3, seed=args.seed, device=args.device).fit(
        adata.X, max_epochs=args.max_epochs, batch_size=256, progress=False
    )
    latents = {
        "AE": ae.transform(adata.X),
        "FE": adata.obsm["X_medl_fe"],
        "RE": adata.obsm["X_medl_re"],
    }
    colors = {"batch": adata.obs["batch"], "cell type": adata.obs["cell_type"]}
    plotting.latent_scatter(latents, colors, out / "latents.png")
    scores = {
        f"{space}_{by}_asw": round(metrics.silhouette(emb, adata.obs[key]), 4)
        for space, emb in latents.items()
        for by, key in (("batch", "batch"), ("celltype", "cell_type"))
    }
    (out / "scores.json").write_text(json.dumps(scores, indent=1))
    model.save(out / "model", overwrite=True)
    print(json.dumps(scores, indent=1))
    print(f"medl demo: figures and model in {out}.")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="medl", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    fit = sub.add_parser("fit", help="fit MEDL to an .h5ad and write latents + model")
    fit.add_argument("data", help="input .h5ad (cells x genes)")
    fit.add_argument("--batch", required=True, help="obs column with the batch")
    fit.add_argument("--labels", default=None, help="obs column with cell types (FEC)")
    fit.add_argument("--out", required=True, help="output directory")
    fit.add_argument("--layer", default=None, help="layer to use instead of X")
    fit.add_argument(
        "--counterfactual",
        nargs="*",
        default=None,
        metavar="BATCH",
        help="write layers medl_cf_<BATCH> with every cell as if from BATCH",
    )
    fit.add_argument(
        "--preprocess",
        choices=["auto", "yes", "no"],
        default="auto",
        help="normalise + log1p + HVG first (auto: when X holds counts)",
    )
    fit.add_argument("--n-top-genes", type=int, default=3000)
    fit.add_argument(
        "--variant", default="variational", choices=["variational", "paper"],
        help="medl's default design or the published model as specified",
    )  # fmt: skip
    fit.add_argument("--latent-dim", type=int, default=None, help="default: the variant's")
    fit.add_argument("--preset", default=None)
    fit.add_argument("--max-epochs", type=int, default=None, help="default: sized to the data")
    fit.add_argument("--batch-size", type=int, default=None, help="default: sized to the data")
    fit.add_argument("--checkpoint", default=None, help="file to write the training state to")
    fit.add_argument("--checkpoint-every", type=int, default=1, help="epochs between writes")
    fit.add_argument(
        "--resume", action="store_true", help="continue from --checkpoint (same data, options)"
    )
    fit.add_argument("--device", default="auto")
    fit.add_argument("--seed", type=int, default=0)
    fit.add_argument("--quiet", action="store_true")
    fit.set_defaults(func=_fit_command)

    demo = sub.add_parser("demo", help="fit on simulated data and write figures")
    demo.add_argument("--out", default="demo_out")
    demo.add_argument("--n-cells", type=int, default=3000)
    demo.add_argument("--n-genes", type=int, default=500)
    demo.add_argument("--max-epochs", type=int, default=150)
    demo.add_argument("--device", default="auto")
    demo.add_argument("--seed", type=int, default=0)
    demo.add_argument("--quiet", action="store_true")
    demo.set_defaults(func=_demo_command)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (ValueError, TypeError) as err:
        print(f"medl {args.command}: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
