"""The Ray engine on a local Ray cluster on CPU (2 workers, the tiny profile): the cache it
writes equals the local engine's bit for bit; a worker killed mid-unit and a unit that
always fails still leave every other result equal; two drivers on one cache at once (one
local, one Ray) leave the same cache.

Equal bits need equal float summation orders: every run here uses one torch thread per
worker (``--threads 1``); with different thread counts some chunks differ in the last bits.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from beyond_inet_lib import execution, pages, workload
from beyond_inet_lib.config import load_profile
from beyond_inet_lib.data import DatasetIndex
from beyond_inet_lib.engine.device import slow_bf16
from beyond_inet_lib.execution.scheduler import MAX_SAME_FAILURES

from cachecmp import assert_same_cache, tiny_profile
from conftest import PROJECT, TEST_DATA, need_data
from fakes import FakeSpec, killing_view, raise_boom

ray = pytest.importorskip("ray", reason="the Ray engine's tests need Ray: pip install -e '.[cluster]'")


@pytest.fixture(scope="module")
def cluster():
    """A local Ray cluster with 2 CPUs whose workers import this checkout and tests/."""
    need_data("imagenet-samples")
    need_data("cue-conflict")
    old = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = os.pathsep.join([str(PROJECT), str(PROJECT / "tests")] + ([old] if old else []))
    try:
        ray.init(num_cpus=2, include_dashboard=False, logging_level=logging.WARNING)
        yield ray.get_runtime_context().gcs_address
    finally:
        ray.shutdown()
        if old is None:
            os.environ.pop("PYTHONPATH", None)
        else:
            os.environ["PYTHONPATH"] = old


#: a CPU that emulates bf16 leaves calibration's bf16 variant out (engine.device.slow_bf16)
BF16 = 0 if slow_bf16("cpu") else 1
#: chunk files of the tiny profile: 19 per model (20 with bf16; test_execution counts them)
#: and the CLIP model's learned-logit-scale variant
CHUNKS = 2 * (19 + BF16) + 1


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The tiny profile computed by the local engine (one thread): its cache folder."""
    need_data("imagenet-samples")
    folder = tmp_path_factory.mktemp("reference")
    prof = load_profile(tiny_profile(folder, "ref", folder / "cache"))
    _, report = execution.run(prof, engine="local", threads=1, progress=False)
    assert report.ok and report.done
    return folder / "cache"


def test_ray_writes_the_local_engines_cache_bit_for_bit(cluster, reference, tmp_path):
    prof = load_profile(tiny_profile(tmp_path, "ray", tmp_path / "cache"))
    work, report = execution.run(prof, engine="ray", workers=2, threads=1, progress=False)
    # 12 datasets, digits in 2 units, and calibration's other-resize-path, learned-logit-scale
    # (and, where the CPU runs it natively, bf16) variants in their own passes
    # (test_execution counts the folders)
    assert report.ok and len(report.done) == len(work.units) == 15 + BF16
    assert len({s["pid"] for s in report.done.values()}) == 2  # both workers computed units
    assert assert_same_cache(reference, tmp_path / "cache") == CHUNKS
    assert execution.plan_work(prof, progress=False).units == []


def _images(folder: Path, n: int) -> DatasetIndex:
    folder.mkdir(parents=True)
    rng = np.random.default_rng(3)
    for i in range(n):
        Image.fromarray(rng.integers(0, 256, (40, 44, 3), dtype=np.uint8)).save(folder / f"{i:03d}.png")
    return DatasetIndex(folder.name, folder, pd.DataFrame({"path": [f"{i:03d}.png" for i in range(n)], "label": 0}))


def test_a_worker_killed_mid_unit_and_a_unit_that_always_fails(cluster, reference, tmp_path):
    """The calibration unit's first attempt dies (SIGKILL of the actor's process at its
    20th image of 64, after one batch of 16 went through the model, before any chunk of the
    unit was written): it is retried on another worker and the run completes. A unit of a
    model that always raises is given up after three identical failures. Every result
    equals the undisturbed local run's."""
    prof = load_profile(tiny_profile(tmp_path, "kill", tmp_path / "cache", copy_from=reference))
    marker = tmp_path / "killed-once"
    doomed = _images(tmp_path / "doomed", 10)

    def make(settings, list_layers):
        reqs = workload.requests_for_profile(prof, settings=settings, list_layers=list_layers, progress=False)
        for r in reqs:
            if r.property == "calibration" and r.name == "eval":
                pre = prof.preprocessing
                r.views = lambda spec: {"default": killing_view(spec.view(pre), marker, 20)
                                        if spec.key == "tiny_vit_untrained" else spec.view(pre)}
        return reqs + [pages.Request("fails", doomed, [FakeSpec(key="fails", before_forward=raise_boom)], property="test")]

    work, report = execution.run_study(make, prof.run_settings(), engine="ray", workers=2, threads=1,
                                       progress=False)
    calibration = [wu.id for wu in work.units if work.plans[wu.plan].dataset.name == "imagenet-samples"
                   and len(work.plans[wu.plan].dataset) == 64
                   and work.plans[wu.plan].settings == work.plans[0].settings]  # not a protocol variant
    fails = [wu.id for wu in work.units if wu.models == ("fails",)]
    assert marker.exists() and len(calibration) == 1 and len(fails) == 1
    assert [(unit, "actor died" in why) for _, unit, why in report.lost_workers] == [(calibration[0], True)], \
        report.lost_workers
    assert report.retried == {calibration[0]: 1}
    assert [f.unit for f in report.failed] == fails
    assert [e for _, e in report.failed[0].attempts] == ["RuntimeError: boom: this model always fails"] * MAX_SAME_FAILURES
    assert len(report.done) == len(work.units) - 1
    assert assert_same_cache(reference, tmp_path / "cache", skip_datasets=("doomed-",)) == CHUNKS
    assert not list((tmp_path / "cache").glob("results/doomed-*/*/*/chunk-*"))


def test_two_drivers_on_one_cache(cluster, reference, tmp_path):
    """`beyond-inet run` twice at once on one cache, one local, one on Ray: both finish and
    the cache is the undisturbed one, with no temporary file left."""
    path = tiny_profile(tmp_path, "two", tmp_path / "cache", copy_from=reference)
    env = dict(os.environ, BEYOND_INET_PROGRESS="0", DATA_ROOT=str(TEST_DATA),
               PYTHONPATH=os.pathsep.join([str(PROJECT), os.environ.get("PYTHONPATH", "")]))
    base = [sys.executable, "-m", "beyond_inet_lib.cli", "run", "--profile", str(path), "--threads", "1"]
    drivers = [subprocess.Popen(base, cwd=PROJECT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                text=True),
               subprocess.Popen(base + ["--engine", "ray", "--address", cluster, "--workers", "2"], cwd=PROJECT,
                                env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)]
    outs = [d.communicate(timeout=300)[0] for d in drivers]
    assert [d.returncode for d in drivers] == [0, 0], outs
    assert all("0 failed" in o for o in outs), outs
    assert assert_same_cache(reference, tmp_path / "cache") == CHUNKS
    assert not [f for f in (tmp_path / "cache").rglob("*") if f.name.endswith(".tmp") or ".tmp-" in f.name]
