"""Planning and running a study in units of work (local engine): the plan before and after
a partial run, units done in part never recomputed, the queue's retry rules, a unit
failing the same way three times reported while the rest completes, the CLI."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from beyond_inet_lib import cli, engine, execution
from beyond_inet_lib.config import load_profile
from beyond_inet_lib.data import DatasetIndex
from beyond_inet_lib.engine.device import slow_bf16
from beyond_inet_lib.execution.scheduler import MAX_ATTEMPTS, MAX_SAME_FAILURES, RunReport, Scheduler
from beyond_inet_lib.execution.units import WorkUnit
from beyond_inet_lib.run_settings import RunSettings
from beyond_inet_lib.pages import PROPERTIES, Request

from cachecmp import chunk_files, tiny_profile
from conftest import need_data
from fakes import FakeSpec, raise_boom

TWO_MODELS = ["tiny_vit_untrained", "tiny_convnext_untrained"]  # no CLIP: no zero-shot head to build


def test_plan_before_and_after_a_partial_run(tmp_path, capsys):
    need_data("imagenet-samples")
    need_data("cue-conflict")
    prof = load_profile(tiny_profile(tmp_path, "two", tmp_path / "cache", models=TWO_MODELS))
    cache = prof.resolved_cache_dir()
    work = execution.plan_work(prof, progress=False)
    every = {(str(u.dir), c) for p in work.plans for u in p.units for c in range(p.n_chunks)}
    # Counted by hand from params/tiny.yaml, per model: mistakes stand-in, shape bias,
    # calibration and its protocol variants (interpolation, crop fraction, the other resize
    # path, and bf16 where the CPU runs it natively: a CPU that emulates it leaves it out;
    # the CLIP logit scale variant is for CLIP models only), ImageNet-O stand-in, ImageNet-C
    # stand-in, synthetic stand-in, similarity, the humans page's edges, silhouettes and its
    # own spread of cue-conflict: 1 chunk each; digits (450 images): 2 chunks; invariance:
    # the plain view (= scale 1 = shift 0 = 224 px), scale 2, shift 30 and the model @112:
    # 4 folders, 1 chunk each. 18 folders (+1 with bf16), one chunk more than folders.
    bf16 = 0 if slow_bf16("cpu") else 1
    assert len({d for d, _ in every}) == 2 * (18 + bf16) and len(every) == 2 * (19 + bf16)
    assert work.todo_pairs() == every and not chunk_files(cache)
    # one unit per dataset chunk (both models fit one unit: 12 datasets, digits twice), and
    # one per other run settings: the other-resize-path (and bf16) variants of calibration
    # cannot share a pass
    assert len(work.units) == 13 + 1 + bf16

    # one work unit completely; of another, only its first model (a unit done in part)
    first, second = work.units[0], work.units[1]
    execution.execute_unit(work.plans[first.plan], first)
    half = dataclasses.replace(second, units=second.units[:1])
    execution.execute_unit(work.plans[second.plan], half)
    written = chunk_files(cache)

    def pairs(wu):
        p = work.plans[wu.plan]
        return {(str(p.units[i].dir), c) for i in wu.units for c in wu.chunks}
    assert set(written) == pairs(first) | pairs(half) and len(pairs(half)) == 1

    said = []
    again = execution.plan_work(prof, progress=False, say=said.append)
    assert again.todo_pairs() == every - set(written)
    # one line per page as it is planned (a first plan takes minutes: it must not be silent)
    assert [line.split()[0] for line in said] == list(PROPERTIES)
    assert sum(int(line.split()[1]) for line in said) == len(again.requests)
    left = {wu.id: wu for wu in again.units}
    assert first.id not in left and second.id in left
    assert left[second.id].evaluations == second.evaluations // 2  # only the model it lacks
    table = again.table({})
    assert table["chunks_done"].sum() == len(written) and table["chunks"].sum() == len(every)

    assert cli.main(["plan", "--profile", str(tmp_path / "two.yaml"), "--json"]) == 0
    rows = pd.DataFrame(json.loads(capsys.readouterr().out)["rows"])
    assert rows["chunks_todo"].sum() == len(every) - len(written)

    work3, report = execution.run_study(lambda s, ll: again.requests, prof.run_settings(), progress=False)
    assert report.ok and len(report.done) == len(again.units)
    final = chunk_files(cache)
    assert set(final) == every
    assert {k: final[k] for k in written} == written  # what was done is never written again
    assert execution.plan_work(prof, progress=False).units == []


def _images(folder: Path, n: int, seed: int) -> DatasetIndex:
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True)
    for i in range(n):
        Image.fromarray(rng.integers(0, 256, (40, 44, 3), dtype=np.uint8)).save(folder / f"{i:03d}.png")
    return DatasetIndex(folder.name, folder, pd.DataFrame({"path": [f"{i:03d}.png" for i in range(n)], "label": 0}))


def test_a_unit_failing_the_same_way_three_times_is_reported_and_the_rest_completes(tmp_path):
    good_ds, bad_ds = _images(tmp_path / "good", 300, 0), _images(tmp_path / "bad", 10, 1)
    good, bad = FakeSpec(key="good"), FakeSpec(key="bad", before_forward=raise_boom)
    settings = RunSettings(cache_dir=tmp_path / "c", device="cpu", batch_size=32, num_workers=0)
    reqs = [Request("bad", bad_ds, [bad], property="test"), Request("good", good_ds, [good], property="test")]
    work, report = execution.run_study(lambda s, ll: reqs, settings, progress=False)
    bad_units = [wu.id for wu in work.units if wu.models == ("bad",)]
    assert len(work.units) == 3 and len(bad_units) == 1  # 300 images: 2 chunks of 256
    assert [f.unit for f in report.failed] == bad_units
    f = report.failed[0]
    assert len(f.attempts) == MAX_SAME_FAILURES
    assert all(e.startswith("RuntimeError: boom") for _, e in f.attempts)
    assert len(report.done) == 2 and f"FAILED {bad_units[0]}" in report.summary()
    ref = engine.predict([good], good_ds, cache_dir=tmp_path / "ref", device="cpu", batch_size=32,
                         num_workers=0, progress=False).only("good")
    got = engine.collect(work.plans[1]).only("good")
    np.testing.assert_array_equal(got.logits, ref.logits)
    assert not list((tmp_path / "c").glob(f"results/{bad_ds.name}-*/*/*/chunk-*"))


def test_run_exits_non_zero_and_lists_failed_units(tmp_path, monkeypatch, capsys):
    from beyond_inet_lib.execution.scheduler import Failure

    report = RunReport(done={"a/chunk 0": {"images": 5}},
                       failed=[Failure("b/chunk 3", [("local", "ValueError: x")] * 3, "ValueError: x")])
    monkeypatch.setattr(execution, "run", lambda *a, **k: (None, report))
    assert cli.main(["run", "--profile", "tiny"]) == 1
    out = capsys.readouterr()
    assert "FAILED b/chunk 3 after 3 attempt(s): ValueError: x" in out.out and "run again" in out.err


def _units(n, groups=1):
    return [WorkUnit(f"u{i}", 0, i % groups, (0,), (i,), ("m",), 10, 10) for i in range(n)]


def test_queue_hands_the_next_unit_to_whoever_is_free_same_models_first():
    s = Scheduler(_units(6, groups=2))
    assert s.next_for("a").id == "u0" and s.next_for("b").id == "u1"
    s.done("b", {"images": 10, "seconds": 1.0})
    assert s.next_for("b").id == "u3"  # b's models (group 1) before the older u2
    s.done("a", {"images": 10, "seconds": 2.0})
    assert s.next_for("a").id == "u2"
    snap = s.snapshot()
    assert (snap["done"], snap["running"], snap["left"]) == (2, 2, 2)
    assert snap["worker_rates"] == {"a": 5.0, "b": 10.0}


def test_retry_rules():
    s = Scheduler(_units(2))
    s.next_for("a")
    assert s.failed("a", "ValueError: x\ntraceback") is None      # back to the queue ...
    assert s.next_for("a").id == "u1"                             # ... and not to a first
    assert s.next_for("b").id == "u0"
    assert s.lost("b", "killed") is None                          # a lost worker: requeued
    assert s.report.lost_workers == [("b", "u0", "killed")]
    for err in ("ValueError: y", "ValueError: x"):  # x, lost, y, x: no error three times yet
        s.next_for("c")
        assert s.failed("c", err) is None
    s.next_for("c")
    f = s.failed("c", "ValueError: x\nother traceback")              # x a third time
    assert f is not None and f.unit == "u0" and len(f.attempts) == 5
    s2 = Scheduler(_units(1))
    for i in range(MAX_ATTEMPTS):
        s2.next_for("w")
        f = s2.failed("w", f"Error {i}")                             # all different
        assert (f is None) == (i < MAX_ATTEMPTS - 1)
    assert s2.finished and s2.next_for("w") is None
