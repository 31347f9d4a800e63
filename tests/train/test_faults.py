"""Training faults: a diverging fit, a fit that never improves, Ctrl-C."""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import textwrap
import threading
import time

import numpy as np
import pandas as pd
import pytest
import torch

import medl
from conftest import SMALL


def test_a_diverging_fit_warns_and_keeps_finite_weights(small_data):
    X, batch = small_data.X, small_data.obs["batch"]
    with pytest.warns(UserWarning, match="diverged at epoch .* lower learning rate") as record:
        model = medl.MEDL(**{**SMALL, "lr": 50.0}).fit(X, batch, max_epochs=20, progress=False)
    assert {"fe", "re"} & {str(w.message).split()[2] for w in record}
    diverged = model.fit_info["diverged"]
    assert any(epoch is not None for epoch in diverged.values())
    for name, epoch in diverged.items():
        if epoch is not None:
            assert model.history.loc[epoch, f"{name}.diverged"] == 1.0
    for out in (model.fixed_effects(X), model.counterfactual(X, batch, "batch1")):
        assert np.isfinite(out).all()
    # a reasonable fit raises none of this
    fine = medl.MEDL(**SMALL).fit(X, batch, max_epochs=5, progress=False)
    assert fine.fit_info["diverged"] == {"fe": None, "re": None}


class ChildOutput:
    """Reads a child's stdout (and stderr, if piped) in threads, so that waiting for a line
    has a deadline: a changed log line must fail the test, not hang the suite."""

    def __init__(self, proc: subprocess.Popen) -> None:
        self.proc, self.lines, self.err = proc, queue.Queue(), []
        self.seen: list[str] = []
        self.threads = [threading.Thread(target=self._pump, daemon=True)]
        if proc.stderr is not None:
            self.threads.append(
                threading.Thread(target=lambda: self.err.extend(proc.stderr), daemon=True)
            )
        for t in self.threads:
            t.start()

    def _pump(self) -> None:
        for line in self.proc.stdout:
            self.lines.put(line)
        self.lines.put(None)

    def wait_for(self, wanted, timeout: float = 180.0) -> str:
        """The first stdout line for which ``wanted(line)`` holds, within ``timeout`` s."""
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            try:
                line = self.lines.get(timeout=left)
            except queue.Empty:
                break
            if line is None:
                break
            self.seen.append(line)
            if wanted(line):
                return line
        self.proc.kill()
        pytest.fail(f"no expected line from the child within {timeout:.0f} s: {self.seen[-5:]}")

    def finish(self, timeout: float = 120.0) -> tuple[str, str]:
        """Wait for the child to exit; everything it printed after the awaited line."""
        self.proc.wait(timeout=timeout)
        for t in self.threads:
            t.join(timeout=10)
        rest = []
        while (line := self.lines.get()) is not None:
            rest.append(line)
        return "".join(rest), "".join(self.err)


WORKER = textwrap.dedent(
    """
    import signal, sys, numpy as np, torch, medl
    # a shell that starts jobs in the background makes them ignore SIGINT, and so would this
    signal.signal(signal.SIGINT, signal.default_int_handler)
    torch.set_num_threads(1)
    data = medl.datasets.simulate(n_cells=2000, n_genes=200, seed=0)
    model = medl.MEDL(seed=0, device="cpu").fit(
        data.X, data.obs["batch"], max_epochs=100000, patience=100000, progress="log")
    assert model.fit_info["interrupted"], model.fit_info
    assert np.isfinite(model.fixed_effects(data.X)).all()
    print("returned after", model.fit_info["epochs"], "epochs", flush=True)
    """
)


def test_ctrl_c_returns_the_best_model_so_far():
    """A real SIGINT in a child process: fit returns, warns, and the model is usable."""
    proc = subprocess.Popen(
        [sys.executable, "-c", WORKER], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )  # fmt: skip
    output = ChildOutput(proc)
    try:
        # wait until training is under way
        output.wait_for(lambda line: line.startswith("medl epoch") and "/" in line)
        time.sleep(1.0)
        proc.send_signal(signal.SIGINT)
        out, err = output.finish(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode == 0, err[-2000:]
    assert "returned after" in out
    assert "training was interrupted" in err


CHECKPOINTED = textwrap.dedent(
    """
    import sys, torch, medl
    torch.set_num_threads(2)
    data = medl.datasets.simulate(n_cells=400, n_genes=60, n_batches=3, seed=1)
    model = medl.MEDL(hidden=(64, 16), latent_dim=2, device="cpu", seed=0)
    model.fit(data.X, data.obs["batch"], max_epochs=40, patience=100, batch_size=64,
              progress="log", checkpoint=sys.argv[1])
    """
)
RESUME_FIT = {"max_epochs": 40, "patience": 100, "batch_size": 64, "progress": False}


def test_a_killed_fit_resumes_to_the_uninterrupted_result(tmp_path):
    path = tmp_path / "fit.ckpt"
    proc = subprocess.Popen(
        [sys.executable, "-c", CHECKPOINTED, str(path)], stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )  # fmt: skip
    output = ChildOutput(proc)
    try:
        output.wait_for(  # "medl epoch N/40: ...", printed every other epoch
            lambda line: line.startswith("medl epoch ") and int(line.split()[2].split("/")[0]) >= 7,
        )
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == -signal.SIGKILL and path.exists()
    assert 0 < len(torch.load(path, weights_only=True)["rows"]) < 40  # it did stop midway
    data = medl.datasets.simulate(n_cells=400, n_genes=60, n_batches=3, seed=1)
    X, batch = data.X, data.obs["batch"]
    settings = {"hidden": (64, 16), "latent_dim": 2, "device": "cpu", "seed": 0}
    resumed = medl.MEDL(**settings).fit(X, batch, checkpoint=path, resume=True, **RESUME_FIT)
    whole = medl.MEDL(**settings).fit(X, batch, **RESUME_FIT)
    pd.testing.assert_frame_equal(resumed.history, whole.history)
    np.testing.assert_array_equal(resumed.fixed_effects(X), whole.fixed_effects(X))
    np.testing.assert_array_equal(
        resumed.counterfactual(X, batch, "batch0"), whole.counterfactual(X, batch, "batch0")
    )


def test_damaged_or_foreign_checkpoints_are_refused(tmp_path, small_data):
    X, batch = small_data.X, small_data.obs["batch"]
    path = tmp_path / "fit.ckpt"
    fit = {"max_epochs": 2, "progress": False}
    medl.MEDL(**SMALL).fit(X, batch, checkpoint=path, **fit)
    with pytest.raises(ValueError, match="other data or settings .*shape"):
        medl.MEDL(**SMALL).fit(X[:300], batch[:300], checkpoint=path, resume=True, **fit)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])  # truncated
    model = medl.MEDL(**SMALL)
    with pytest.raises(ValueError, match="damaged or truncated"):
        model.fit(X, batch, checkpoint=path, resume=True, **fit)
    assert not model.is_fitted  # nothing half-loaded
    with pytest.raises(ValueError, match="No checkpoint"):
        model.fit(X, batch, checkpoint=tmp_path / "none.ckpt", resume=True, **fit)
    with pytest.raises(ValueError, match="resume=True needs checkpoint"):
        model.fit(X, batch, resume=True, **fit)


def test_checkpoint_minutes_writes_by_time(tmp_path, small_data, monkeypatch):
    from medl.train import checkpoint

    clock = iter(range(0, 10_000, 61))  # every call: a minute later
    monkeypatch.setattr(checkpoint.time, "monotonic", lambda: float(next(clock)))
    saver = checkpoint.Checkpoint(tmp_path / "c.ckpt", every_epochs=100, every_minutes=1.0)
    assert saver.due(0)  # by time, long before epoch 100
    # in a fit: a write after every epoch (a minute passes each time), none by epoch count
    writes = []
    real_save = checkpoint.Checkpoint.save
    monkeypatch.setattr(
        checkpoint.Checkpoint,
        "save",
        lambda self, state: (writes.append(1), real_save(self, state)),
    )
    fit = {"max_epochs": 3, "patience": 100, "progress": False, "checkpoint_every": 100}
    X, batch = small_data.X, small_data.obs["batch"]
    medl.MEDL(**SMALL).fit(X, batch, checkpoint=tmp_path / "t.ckpt", checkpoint_minutes=1.0, **fit)
    assert len(writes) == 3
    assert len(torch.load(tmp_path / "t.ckpt", weights_only=True)["rows"]) == 3
    writes.clear()
    medl.MEDL(**SMALL).fit(X, batch, checkpoint=tmp_path / "e.ckpt", **fit)
    assert len(writes) == 0
    with pytest.raises(ValueError, match="checkpoint_minutes"):
        medl.MEDL(**SMALL).fit(small_data.X, small_data.obs["batch"],
                               checkpoint=tmp_path / "x.ckpt", checkpoint_minutes=-1)  # fmt: skip
