"""The docs say what medl does: the tutorial's code runs, and every fit lists the same options."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import matplotlib

import medl
from medl.train.options import FitOptions

matplotlib.use("Agg")
DOCS = Path(__file__).resolve().parents[1] / "docs"


def test_tutorial_runs_as_written(capsys):
    text = (DOCS / "tutorial.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    assert len(blocks) >= 6, "the tutorial lost its code"
    namespace: dict = {}
    for block in blocks:
        exec(compile(block, "docs/tutorial.md", "exec"), namespace)  # noqa: S102
    printed = capsys.readouterr().out
    assert "counterfactual MSE: MEDL" in printed
    # the tutorial's claim that MEDL beats the mean shift holds on its own data
    mse = re.search(r"MEDL ([0-9.]+), mean shift ([0-9.]+)", printed)
    assert float(mse.group(1)) < float(mse.group(2))


def test_every_fit_takes_the_declared_options():
    declared = FitOptions.names()
    for fit in (medl.MEDL.fit, medl.AE.fit, medl.AEC.fit):
        params = inspect.signature(fit).parameters
        keyword_only = [n for n, p in params.items() if p.kind is p.KEYWORD_ONLY]
        assert keyword_only == declared, fit.__qualname__
        assert all(f"\n        {name}" in fit.__doc__ for name in ("validation", "resume"))
        assert "{fit_options}" not in fit.__doc__


def test_an_unknown_option_is_named():
    import pytest

    with pytest.raises(TypeError, match=r"unknown option\(s\) \['max_epoch'\]"):
        medl.AE().fit([[1.0, 2.0], [3.0, 4.0]], max_epoch=3)
