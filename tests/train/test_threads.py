"""The CPU thread pool follows the cores other processes leave free (medl.train.threads)."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest
import torch

from medl.train import threads
from medl.train.threads import ThreadGovernor

CPU = torch.device("cpu")


def _settle(governor: ThreadGovernor) -> int:
    time.sleep(governor.min_interval + 0.3)
    return governor.update()


@pytest.mark.skipif(not os.path.exists("/proc/stat"), reason="reads Linux's /proc/stat")
def test_pool_shrinks_beside_busy_processes_and_grows_back(monkeypatch):
    monkeypatch.setenv("MEDL_ADAPTIVE_THREADS", "1")
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        governor = ThreadGovernor(CPU, min_interval=0.5)
        assert governor.enabled and governor.ceiling == 2
        spin = [
            subprocess.Popen([sys.executable, "-c", "while True: pass"])
            for _ in range(os.cpu_count() or 2)
        ]
        try:
            time.sleep(0.3)  # the spinners start before the window opens
            _settle(governor)  # the window that saw them start
            assert _settle(governor) == 1
            assert torch.get_num_threads() == 1
        finally:
            for p in spin:
                p.kill()
                p.wait()
        _settle(governor)
        assert _settle(governor) == 2
        governor.threads = 1
        torch.set_num_threads(1)
        governor.restore()
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


def test_decision_counts_only_other_processes(monkeypatch):
    """This process's own CPU time is not counted as another's: alone it keeps the pool."""
    monkeypatch.setenv("MEDL_ADAPTIVE_THREADS", "1")
    clock = {"busy": 0.0, "own": 0.0, "wall": 0.0}
    monkeypatch.setattr(threads, "_busy_jiffies", lambda: (clock["busy"], 0.0))
    monkeypatch.setattr(threads.time, "process_time", lambda: clock["own"])
    monkeypatch.setattr(threads.time, "monotonic", lambda: clock["wall"])
    monkeypatch.setattr(threads.os, "cpu_count", lambda: 4)
    before = torch.get_num_threads()
    torch.set_num_threads(4)
    try:
        governor = ThreadGovernor(CPU)
        # 10 s: this process used 4 cores' worth, nothing else ran
        clock.update(busy=40.0, own=40.0, wall=10.0)
        assert governor.update() == 4
        # next 10 s: others kept 2.6 cores busy -> 1 core free (rounded), never 0
        clock.update(busy=40.0 + 36.0, own=40.0 + 10.0, wall=20.0)
        assert governor.update() == 1
        # others used 1.2 cores -> 3 free
        clock.update(busy=76.0 + 32.0, own=50.0 + 20.0, wall=30.0)
        assert governor.update() == 3
        # a call before min_interval has passed changes nothing
        clock.update(busy=108.0 + 4.0, own=70.0, wall=30.5)
        assert governor.update() == 3
    finally:
        torch.set_num_threads(before)


def test_opt_out_and_gpu_leave_the_pool_alone(monkeypatch):
    monkeypatch.setenv("MEDL_ADAPTIVE_THREADS", "0")
    assert not ThreadGovernor(CPU).enabled
    monkeypatch.delenv("MEDL_ADAPTIVE_THREADS")
    assert not ThreadGovernor(torch.device("cuda")).enabled


@pytest.mark.skipif(not os.path.exists("/proc/stat"), reason="reads Linux's /proc/stat")
def test_a_fit_beside_busy_processes_trains_on_fewer_threads_and_gives_them_back(monkeypatch):
    import medl

    monkeypatch.setenv("MEDL_ADAPTIVE_THREADS", "1")
    data = medl.datasets.simulate(n_cells=600, n_genes=300, seed=0)
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    spin = [subprocess.Popen([sys.executable, "-c", "while True: pass"])
            for _ in range(os.cpu_count() or 2)]  # fmt: skip
    try:
        time.sleep(0.5)
        m = medl.MEDL(device="cpu", hidden=(64, 16), seed=0).fit(
            data.X, data.obs["batch"], max_epochs=60, validation=0, progress=False
        )
        assert 1 in m.fit_info["threads"]
        assert torch.get_num_threads() == 2
    finally:
        for p in spin:
            p.kill()
            p.wait()
        torch.set_num_threads(before)


@pytest.mark.skipif(not os.path.exists("/proc/stat"), reason="reads Linux's /proc/stat")
def test_niced_processes_do_not_take_the_pool(monkeypatch):
    """A niced busy process yields its cores to the fit whenever it asks: the pool stays."""
    monkeypatch.setenv("MEDL_ADAPTIVE_THREADS", "1")
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    nice = "import os; os.nice(19)\nwhile True: pass"
    spin = [subprocess.Popen([sys.executable, "-c", nice]) for _ in range(os.cpu_count() or 2)]
    try:
        governor = ThreadGovernor(CPU, min_interval=0.5)
        time.sleep(0.3)
        _settle(governor)
        assert _settle(governor) == 2
    finally:
        for p in spin:
            p.kill()
            p.wait()
        torch.set_num_threads(before)
