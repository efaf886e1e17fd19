"""Generated stand-ins: determinism, reuse, atomic builds, labels, and that each transform
does what its name says (checked against independent computations)."""

import hashlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from beyond_inet_lib.data import standins as S
from beyond_inet_lib.data.standins import build
from beyond_inet_lib.data.standins import digits as digits_mod
from beyond_inet_lib.data.standins import factors as factors_mod
from beyond_inet_lib.data.standins import imagenet_c as imagenet_c_mod
from beyond_inet_lib.data.standins import synthetic as synthetic_mod
from beyond_inet_lib.data import DatasetIndex, load_dataset

PROJECT_ROOT = Path(__file__).resolve().parent.parent
from conftest import need_data


@pytest.fixture(scope="module")
def samples():
    return load_dataset("imagenet-samples", need_data("imagenet-samples").parent)


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("standin-cache")


def file_hashes(index: DatasetIndex) -> dict:
    return {p: hashlib.sha256((index.root / p).read_bytes()).hexdigest() for p in index.table["path"]}


def pixels(path) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"), dtype=np.float64)


def base_pixels(samples, rel) -> np.ndarray:
    return np.asarray(build.load_base_image(samples.root / rel), dtype=np.float64)


def assert_labels_follow_sources(index: DatasetIndex, samples: DatasetIndex):
    truth = dict(zip(samples.table["path"], samples.table["label"]))
    expected = index.table["source_path"].map(truth)
    assert expected.notna().all()
    assert (index.table["label"].to_numpy() == expected.to_numpy()).all()


# ------------------------------------------------------------------------ base images
def test_spread_subset_takes_every_kth_class(samples):
    sub = S.spread_subset(samples, 10, seed=3)
    labels = np.sort(sub.labels)
    assert len(sub) == 10
    assert (np.diff(labels) == 100).all()  # 1,000 classes, one image each: every 100th
    assert sub.table.equals(S.spread_subset(samples, 10, seed=3).table)
    assert not sub.table.equals(S.spread_subset(samples, 10, seed=4).table)


def resize_256_crop_224(img: Image.Image) -> Image.Image:
    """Hand-written reference: shorter side to 256 (longer = int(256 * long / short), PIL
    bilinear), then the centre 224 x 224 (offsets rounded as torchvision's center_crop)."""
    w, h = img.size
    size = (256, int(256 * h / w)) if w <= h else (int(256 * w / h), 256)
    img = img.resize(size, Image.BILINEAR)
    top, left = int(round((size[1] - 224) / 2.0)), int(round((size[0] - 224) / 2.0))
    return img.crop((left, top, left + 224, top + 224))


def test_base_image_is_resize_256_centre_crop_224(samples, tmp_path):
    rng = np.random.default_rng(0)
    odd = tmp_path / "odd.png"   # portrait, odd margins, and a grayscale sample: all become RGB
    Image.fromarray(rng.integers(0, 256, (410, 301, 3), dtype=np.uint8)).save(odd)
    gray = next(p for p in samples.paths if Image.open(p).mode == "L")
    for path in (odd, gray, samples.paths[0]):
        ours = build.load_base_image(path)
        with Image.open(path) as im:
            ref = resize_256_crop_224(im.convert("RGB"))
        assert ours.mode == "RGB" and ours.size == (224, 224)
        assert np.array_equal(np.asarray(ours), np.asarray(ref)), path


# ---------------------------------------------------------------------- ImageNet-C
def test_glass_blur_fast_equals_the_package_loop():
    ic = imagenet_c_mod.imagecorruptions_module()
    img = np.random.default_rng(1).integers(0, 256, (40, 44, 3), dtype=np.uint8)
    for severity in range(1, 6):
        np.random.seed(severity)
        reference = ic.glass_blur(Image.fromarray(img), severity)  # the original per-pixel loop
        np.random.seed(severity)
        fast = imagenet_c_mod.glass_blur_fast(Image.fromarray(img), severity)
        assert np.array_equal(reference, fast), f"severity {severity}"


def test_glass_shuffle_hand_case():
    # 5 x 6 image, max_delta 2: the loop visits (3, 4) then (3, 3); draws are (dx, dy) in [-2, 1]
    x = np.arange(30).reshape(5, 6, 1)
    out = imagenet_c_mod.glass_shuffle(x, 2, np.array([[-1, 0], [0, -1]]))
    assert out[3, 4, 0] == 21 and out[3, 3, 0] == 15  # copies of unvisited neighbours
    assert (np.delete(out.ravel(), [22, 21]) == np.delete(x.ravel(), [22, 21])).all()
    # chain: (3,4) <- (3,5)=23, then (3,3) <- (3,4), already 23. A true swap would give
    # (3,4)=21, (3,5)=22; the original code's tuple "swap" of views copies instead.
    out = imagenet_c_mod.glass_shuffle(x, 2, np.array([[1, 0], [1, 0]]))
    assert (out[3, 3, 0], out[3, 4, 0], out[3, 5, 0]) == (23, 23, 23)


@pytest.fixture(scope="module")
def imagenet_c(samples, cache):
    return S.imagenet_c_standin(samples, cache, n_images=2, corruptions=["gaussian_noise", "glass_blur", "fog"],
                                severities=(1, 3, 5), progress=False)


def test_imagenet_c_table_and_files(imagenet_c, samples):
    t = imagenet_c.table
    assert imagenet_c.standin and imagenet_c.name == "imagenet-c (stand-in)"
    assert "NOT ImageNet-C" in imagenet_c.description
    assert len(t) == 2 * 3 * 3
    assert set(t.columns) >= {"path", "label", "corruption", "severity", "source_path"}
    assert sorted(t.groupby(["corruption", "severity"]).size().unique()) == [2]
    assert_labels_follow_sources(imagenet_c, samples)
    with Image.open(imagenet_c.paths[0]) as im:
        assert im.format == "JPEG" and im.size == (224, 224)
    assert imagenet_c.root.parent.name == "standins" and imagenet_c.root.name.startswith("imagenet-c-")


def test_imagenet_c_severity_increases_noise(imagenet_c, samples):
    t = imagenet_c.table
    for rel, rows in t[t.corruption == "gaussian_noise"].groupby("source_path"):
        clean = base_pixels(samples, rel)
        rows = rows.sort_values("severity")
        diffs = [np.abs(pixels(imagenet_c.root / p) - clean).mean() for p in rows["path"]]
        assert diffs[0] < diffs[1] < diffs[2], diffs
        assert diffs[0] > 5  # sigma 0.08 * 255 noise, far above JPEG q85 error


def test_imagenet_c_deterministic_and_reused(imagenet_c, samples, tmp_path, monkeypatch):
    again = S.imagenet_c_standin(samples, tmp_path, n_images=2, corruptions=["gaussian_noise", "glass_blur", "fog"],
                                 severities=(1, 3, 5), progress=False)
    assert again.root.name == imagenet_c.root.name  # same params + input -> same folder name
    assert file_hashes(again) == file_hashes(imagenet_c)

    writes = []
    monkeypatch.setattr(imagenet_c_mod, "save_jpeg", lambda *a, **k: writes.append(a))
    reused = S.imagenet_c_standin(samples, tmp_path, n_images=2, corruptions=["gaussian_noise", "glass_blur", "fog"],
                                  severities=(1, 3, 5), progress=False)
    assert writes == [] and reused.root == again.root
    assert reused.table.equals(again.table)


@pytest.mark.parametrize("corruption", imagenet_c_mod.IMAGENET_C_CORRUPTIONS)
def test_every_corruption_is_reproducible_from_its_seed(corruption):
    img = np.random.default_rng(3).integers(0, 256, (40, 40, 3), dtype=np.uint8)
    a = imagenet_c_mod.corrupt_image(img, corruption, 3, seed=11)
    assert np.array_equal(a, imagenet_c_mod.corrupt_image(img, corruption, 3, seed=11))
    if corruption in ("gaussian_noise", "shot_noise", "impulse_noise", "glass_blur"):
        assert not np.array_equal(a, imagenet_c_mod.corrupt_image(img, corruption, 3, seed=12))


def test_impulse_noise_is_salt_and_pepper_of_the_right_amount():
    """imagecorruptions' severity 5: s&p with amount 0.27 (pixels set to 0 or 255 per channel)."""
    img = np.full((100, 100, 3), 120, np.uint8)
    out = imagenet_c_mod.corrupt_image(img, "impulse_noise", 5, seed=0)
    changed = out != 120
    assert set(np.unique(out[changed])) <= {0, 254, 255}       # float 1.0 * 255 truncates to 254 or 255
    assert abs(changed.mean() - 0.27) < 0.02


def test_corrupt_image_does_not_touch_global_rng():
    img = np.full((48, 48, 3), 120, np.uint8)
    np.random.seed(7)
    expected = np.random.rand()
    np.random.seed(7)
    a = S.corrupt_image(img, "gaussian_noise", 2, seed=11)
    assert np.random.rand() == expected
    assert np.array_equal(a, S.corrupt_image(img, "gaussian_noise", 2, seed=11))
    assert not np.array_equal(a, S.corrupt_image(img, "gaussian_noise", 2, seed=12))


def test_bad_corruption_name_is_explained(samples, tmp_path):
    with pytest.raises(ValueError, match="choose from"):
        S.imagenet_c_standin(samples, tmp_path, n_images=1, corruptions=["gausian_noise"], progress=False)


# --------------------------------------------------------------------- factor stand-in
@pytest.fixture(scope="module")
def factors(samples, cache):
    return S.factor_standin(samples, cache, n_images=3, progress=False)


def by_factor(index, factor):
    t = index.table[index.table.factor == factor].sort_values("source_path")
    return {rel: pixels(index.root / p) for rel, p in zip(t["source_path"], t["path"])}


def test_factor_table(factors, samples):
    assert factors.standin and factors.name == "imagenet-x factors (stand-in)"
    assert len(factors) == 3 * len(S.IMAGENET_X_FACTORS)
    assert set(factors.table["factor"]) == set(S.IMAGENET_X_FACTORS)
    assert_labels_follow_sources(factors, samples)


def test_factor_none_is_the_base_image_and_png_is_lossless(factors, samples):
    for rel, x in by_factor(factors, "none").items():
        assert np.array_equal(x, base_pixels(samples, rel))


def test_darker_and_brighter(factors):
    none, dark, bright = (by_factor(factors, f) for f in ("none", "darker", "brighter"))
    for rel in none:
        assert dark[rel].mean() < 0.6 * none[rel].mean()
        assert bright[rel].mean() > none[rel].mean() + 20


def test_smaller_larger_partial(factors, samples):
    none, small, large, part = (by_factor(factors, f) for f in ("none", "smaller", "larger", "partial_view"))
    for rel, x in none.items():
        mean_colour = np.round(x.reshape(-1, 3).mean(0))
        assert np.array_equal(small[rel][0, 0], mean_colour)      # corner: empty canvas
        assert np.array_equal(small[rel][60, 60], mean_colour)    # object spans 67..157 only
        ref = Image.fromarray(x.astype(np.uint8)).crop((56, 56, 168, 168)).resize((224, 224), Image.BILINEAR)
        assert np.array_equal(large[rel], np.asarray(ref, dtype=np.float64))
        # partial view: one of the 4 corner crops of side round(224 * sqrt(.4)) = 142
        crops = [Image.fromarray(x.astype(np.uint8)).crop((l, t, l + 142, t + 142)).resize((224, 224), Image.BILINEAR)
                 for t in (0, 82) for l in (0, 82)]
        assert any(np.array_equal(part[rel], np.asarray(c, dtype=np.float64)) for c in crops)


def test_color_rotates_hue():
    img = Image.new("RGB", (8, 8), (220, 30, 30))  # red
    r, g, b = np.asarray(factors_mod.make_color(img), dtype=float)[0, 0]
    assert r < 60 and g > 180 and b > 180  # cyan


def test_object_blocking_covers_the_centre(samples):
    img = Image.new("RGB", (224, 224), (10, 200, 10))
    for seed in range(5):
        out = np.asarray(factors_mod.make_object_blocking(img, np.random.default_rng(seed)))
        assert (out[112, 112] == 128).all()
        assert abs((out[..., 0] == 128).mean() - 0.3) < 0.01


def test_interrupted_build_leaves_nothing_reusable(samples, tmp_path, monkeypatch):
    real_save = factors_mod.save_png
    calls = []

    def failing_save(img, path):
        calls.append(path)
        if len(calls) == 4:
            raise KeyboardInterrupt("simulated interruption")
        real_save(img, path)

    monkeypatch.setattr(factors_mod, "save_png", failing_save)
    with pytest.raises(KeyboardInterrupt):
        S.factor_standin(samples, tmp_path, n_images=2, progress=False)
    assert list((tmp_path / "standins").iterdir()) == []  # no final folder, no temp leftover

    monkeypatch.setattr(factors_mod, "save_png", real_save)
    built = S.factor_standin(samples, tmp_path, n_images=2, progress=False)
    assert S.is_complete(built.root) and all(p.is_file() for p in built.paths)
    assert [p.name for p in (tmp_path / "standins").iterdir()] == [built.root.name]


def test_foreign_incomplete_folder_is_replaced(samples, tmp_path):
    params_folder = S.factor_standin(samples, tmp_path / "a", n_images=1, progress=False).root
    fake = tmp_path / "b" / "standins" / params_folder.name
    fake.mkdir(parents=True)
    (fake / "half.png").write_bytes(b"not an image")
    built = S.factor_standin(samples, tmp_path / "b", n_images=1, progress=False)
    assert built.root == fake and not (fake / "half.png").exists() and S.is_complete(fake)


# ----------------------------------------------------------------- synthetic stand-in
@pytest.fixture(scope="module")
def synthetic(samples, cache):
    return S.synthetic_standin(samples, cache, n_images=2, progress=False)


def synth(index, factor, level):
    t = index.table[(index.table.factor == factor) & (index.table.level == level)].sort_values("source_path")
    return {rel: pixels(index.root / p) for rel, p in zip(t["source_path"], t["path"])}


def test_synthetic_table(synthetic, samples):
    t = synthetic.table
    assert synthetic.standin and synthetic.name == "pug-imagenet (stand-in)"
    assert len(t) == 2 * sum(len(v) for v in S.SYNTHETIC_LEVELS.values())
    assert all(isinstance(v, str) for v in t["level"])
    assert all(s == [l] for s, l in zip(t["label_set"], t["label"]))
    assert_labels_follow_sources(synthetic, samples)


def test_synthetic_geometry_and_light(synthetic, samples):
    for rel, rolled in synth(synthetic, "Camera_Roll", "180").items():
        x = base_pixels(samples, rel)
        assert np.array_equal(synth(synthetic, "Camera_Roll", "0")[rel], x)
        assert np.array_equal(rolled, x[::-1, ::-1])  # a half turn
        assert np.array_equal(synth(synthetic, "Camera_Roll", "90")[rel], np.rot90(x))  # counter-clockwise
        rolled30 = synth(synthetic, "Camera_Roll", "30")[rel]
        assert (rolled30[0, 0] == 0).all() and np.abs(rolled30[112, 112] - x[112, 112]).max() < 40
        scaled = synth(synthetic, "Object_Scale", "0.25")[rel]
        assert (scaled[:80] == 128).all() and (scaled[:, :80] == 128).all()  # 56-px object in the middle
        dim = synth(synthetic, "Scene_Light", "dim")[rel]
        assert abs(dim.mean() - 0.35 * x.mean()) < 1.0
        pitched = synth(synthetic, "Camera_Pitch", "45")[rel]
        assert (pitched[0] == 0).all() and pitched[-1].any()  # top row: fore-shortened away


def test_worlds_keep_the_centre_and_change_the_background(synthetic, samples):
    for rel, stripes in synth(synthetic, "Worlds", "stripes").items():
        x = base_pixels(samples, rel)
        assert np.array_equal(stripes[100:124, 100:124], x[100:124, 100:124])  # object kept
        solid = synth(synthetic, "Worlds", "solid")[rel]
        assert (solid[0, 0] == solid[5, 218]).all() and not np.array_equal(solid[:20], x[:20])
        assert not np.array_equal(stripes[:40], solid[:40])


def test_perspective_coefficients_map_corners():
    dst = [(10, 20), (200, 15), (224, 224), (0, 210)]
    src = [(0, 0), (224, 0), (224, 224), (0, 224)]
    a, b, c, d, e, f, g, h = synthetic_mod.perspective_coefficients(dst, src)
    for (X, Y), (x, y) in zip(dst, src):
        den = g * X + h * Y + 1
        assert abs((a * X + b * Y + c) / den - x) < 1e-9 and abs((d * X + e * Y + f) / den - y) < 1e-9


# -------------------------------------------------------------------------- digits
@pytest.fixture(scope="module")
def digits(cache):
    return S.digits_task(cache, progress=False)


def test_digits_split_sizes_and_stratified(digits):
    t = digits.table
    assert t["split"].value_counts().to_dict() == {"train": 800, "test": 797, "val": 200}
    overall = t["label"].value_counts(normalize=True).sort_index()
    for split, n in (("train", 800), ("val", 200)):
        counts = t[t.split == split]["label"].value_counts().sort_index()
        assert (np.abs(counts - overall * n) <= 1.0).all(), split
    assert set(t["label"]) == set(range(10))
    assert digits.standin and "stand-in for VTAB-1k" in digits.description


def test_digit_images_are_the_sklearn_pixels(digits):
    from sklearn.datasets import load_digits

    raw = load_digits()
    for _, row in digits.table.sample(5, random_state=0).iterrows():
        img = pixels(digits.root / row["path"])
        i = row["sklearn_index"]
        assert img.shape == (64, 64, 3) and row["label"] == raw.target[i]
        # nearest upscale x8: every 8x8 block is one value = round(v * 255 / 16)
        assert np.array_equal(img[::8, ::8, 0], np.round(raw.images[i] * 255 / 16))
        assert np.array_equal(img[7::8, 7::8, 2], img[::8, ::8, 0])


def test_digits_split_is_seeded():
    labels = np.repeat(np.arange(10), 20)
    labels = np.concatenate([labels] * 6)[:1100]
    a, b = digits_mod.digits_split(labels, 0), digits_mod.digits_split(labels, 0)
    assert (a == b).all() and not (a == digits_mod.digits_split(labels, 1)).all()


def test_threaded_renderers_are_deterministic(synthetic, samples, tmp_path):
    again = S.synthetic_standin(samples, tmp_path, n_images=2, progress=False)
    assert again.root.name == synthetic.root.name
    assert again.table.equals(synthetic.table)
    assert file_hashes(again) == file_hashes(synthetic)
    other_seed = S.synthetic_standin(samples, tmp_path, n_images=2, seed=1, progress=False)
    assert other_seed.root != again.root and set(other_seed.table["source_path"]) != set(again.table["source_path"])
