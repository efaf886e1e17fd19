"""The benchmark runs on CPU in seconds and reports the agreed keys, consistently."""

from __future__ import annotations

import json

import pytest

from beyond_inet_lib import bench

KEYS = {"device", "models", "n_images", "a_forward_ceiling_all_models_img_s",
        "b_end_to_end_all_models_img_s", "c_naive_all_models_img_s", "ratio_b_over_a",
        "ratio_b_over_c", "projected_study_minutes", "versions", "forward_ceiling_img_s", "naive_img_s"}


def test_through_all_models_is_the_harmonic_combination():
    # 100 img/s and 300 img/s in turn: 1 / (1/100 + 1/300) = 75 img/s
    assert bench.through_all({"a": 100.0, "b": 300.0}) == pytest.approx(75.0)


def test_synthetic_jpegs_look_like_imagenet_val(tmp_path):
    from PIL import Image

    folder = bench.make_jpegs(tmp_path / "j", 6, workers=1)
    files = sorted(folder.glob("img*.jpg"))
    assert len(files) == 6
    sizes = {Image.open(f).size for f in files}
    assert sizes <= {(500, 375), (375, 500)}
    kb = [f.stat().st_size / 1024 for f in files]
    assert 40 < sum(kb) / len(kb) < 250  # roughly ImageNet-val-like JPEG sizes


def test_cpu_bench_reports_consistent_rates(tmp_path):
    out = bench.run_bench(models=["tiny_vit_untrained"], n=12, device="cpu", batch_size=4, workers=0,
                          workdir=tmp_path)
    assert KEYS <= set(out)
    a, b, c = (out["a_forward_ceiling_all_models_img_s"], out["b_end_to_end_all_models_img_s"],
               out["c_naive_all_models_img_s"])
    assert a > 0 and b > 0 and c > 0
    # the rates are printed to 0.1 img/s and the ratios from the unrounded rates: a ratio of
    # the printed rates is off by at most the two roundings (0.05 / rate each), plus its own
    def rounding(*rates):
        return sum(0.05 / r for r in rates) + 1e-3

    assert out["ratio_b_over_a"] == pytest.approx(b / a, rel=rounding(a, b))
    assert out["ratio_b_over_c"] == pytest.approx(b / c, rel=rounding(b, c))
    assert out["projected_study_minutes"] == pytest.approx(bench.STUDY_IMAGES_PER_MODEL / b / 60,
                                                           rel=rounding(b) + 0.01)
    json.dumps(out)  # one JSON object


def test_limited_by_names_the_stage_the_host_waited_on_most():
    gpu_bound = {"loader_wait_s": 0.4, "collect_wait_s": 9.0, "queue_forward_s": 0.3, "writer_wait_s": 0.1}
    decode_bound = {"loader_wait_s": 7.0, "collect_wait_s": 2.0, "queue_forward_s": 0.3}
    assert bench.limited_by(gpu_bound) == "the models (waiting for the GPU)"
    assert bench.limited_by(decode_bound) == "decoding (DataLoader workers)"
    assert bench.limited_by({"writer_wait_s": 3.0, "wall_s": 10.0}) == "the disk"  # wall is no stage
