"""Throughput benchmark: ``beyond-inet bench`` / ``make bench``.

One run measures three rates on the same synthetic JPEG dataset (ImageNet-val-like sizes):

(a) forward ceiling: the selected models on ready tensors already on the device, same
    precision as the engine; rate through ALL models = 1 / sum_i(1 / rate_i);
(b) end to end: JPEG files on disk -> cached results for all selected models, through
    ``engine.predict`` (decode once, all models, fresh cache) with the same precision,
    channels_last and compile setting as (a). ``decode`` names the decode path(s): each
    one listed is measured on its own fresh cache (``b_by_decode``) and the fastest is
    (b). 'auto': hybrid (CPU workers decode, GPU resizes) and tensor (nvJPEG) on CUDA, pil
    on CPU. The models are the ones (a) loaded and warmed up, so one-off load/compile
    time is not in (b);
(c) naive baseline: one torchvision DataLoader with PIL decode per model, fp32, one pass
    per model (the shape of the original study's code); rate through all models likewise.

It prints one JSON object with the three rates, the ratios (b)/(a) and (b)/(c), the device,
versions, and the projected wall time of the full paper study (5.5 M images per model).
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

#: images per model in the full paper study (PROTOCOLS.md; ImageNet-C alone is 3.75 M)
STUDY_IMAGES_PER_MODEL = 5_500_000
# The paper's four architectures with random weights: the cost is the same as the trained
# models', and a GPU machine without network needs no weights to measure it.
GPU_MODELS = ("timm:convnext_base:random", "timm:deit3_base_patch16_224:random",
              "open_clip:convnext_base:random", "open_clip:ViT-B-16:random")
CPU_MODELS = ("tiny_vit_untrained", "tiny_convnext_untrained")


def _one_jpeg(args):
    path, seed = args
    from PIL import Image

    rng = np.random.default_rng(seed)
    w, h = (500, 375) if seed % 4 else (375, 500)
    # smooth colour field + fine noise: compresses to roughly ImageNet-like ~100 KB at q90
    small = rng.integers(0, 256, size=(h // 25 + 1, w // 25 + 1, 3), dtype=np.uint8)
    img = Image.fromarray(small).resize((w, h), Image.BICUBIC)
    arr = np.asarray(img).astype(np.int16) + rng.integers(-28, 29, size=(h, w, 3))
    Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8)).save(path, quality=90)
    return os.path.getsize(path)


def make_jpegs(folder: Path, n: int, workers: int | None = None) -> Path:
    """``n`` synthetic JPEGs (500x375 or 375x500, ~100 KB), made once and reused."""
    folder.mkdir(parents=True, exist_ok=True)
    done = folder / f".complete-{n}"
    if done.exists():
        return folder
    jobs = [(folder / f"img{i:06d}.jpg", i) for i in range(n)]
    workers = workers or min(16, os.cpu_count() or 1)
    with ProcessPoolExecutor(workers) as ex:
        list(ex.map(_one_jpeg, jobs, chunksize=64))
    done.touch()
    return folder


def _dataset(folder: Path, n: int):
    import pandas as pd

    from .data import DatasetIndex

    names = [f"img{i:06d}.jpg" for i in range(n)]
    return DatasetIndex(f"bench-{n}", folder, pd.DataFrame({"path": names, "label": 0}))


def _sync(device):
    import torch

    if device.startswith("cuda"):
        torch.cuda.synchronize()


def forward_ceiling(specs, device, precision, batch_size, seconds=5.0, compile=False) -> dict:
    """Images/s of each model on random ready tensors on the device."""
    import torch

    from .engine import Runner, load_model

    rates = {}
    for spec in specs:
        # the engine's own model cache: (b) then runs these very (compiled) models
        model = load_model(spec, device, "paper", Path(".cache/beyond-inet"), compile=compile)
        model = model.to(memory_format=torch.channels_last)  # as engine.predict does
        view = spec.view("paper")
        x = torch.randn(batch_size, 3, view.output_size, view.output_size, device=device)
        runner = Runner(model, device, precision, channels_last=True)
        runner.run(x, ("logits",), None)  # warm-up (and compile)
        _sync(device)
        # one batch in flight, as in (b): the logits still come back to the host, but the
        # GPU never waits for that copy
        n, t0, inflight = 0, time.perf_counter(), None
        while time.perf_counter() - t0 < seconds or n == 0:
            queued = runner.run_async(x, ("logits",), None)
            if inflight is not None:
                inflight.result()
            inflight = queued
            n += batch_size
        inflight.result()
        _sync(device)
        rates[spec.key] = n / (time.perf_counter() - t0)
    return rates


def naive_rate(specs, folder: Path, n: int, device: str, batch_size: int, workers: int) -> dict:
    """One PIL DataLoader pass per model, fp32 (the original study's pipeline shape)."""
    import torch
    from torch.utils.data import DataLoader, Dataset

    from .engine import load_model
    from .images import load_rgb

    paths = [folder / f"img{i:06d}.jpg" for i in range(n)]

    class Files(Dataset):
        def __init__(self, tf):
            self.tf = tf

        def __len__(self):
            return len(paths)

        def __getitem__(self, i):
            return self.tf(load_rgb(paths[i]))

    rates = {}
    for spec in specs:
        model = load_model(spec, device, "paper", Path(".cache/beyond-inet"))
        loader = DataLoader(Files(spec.view("paper").transform()), batch_size=batch_size,
                            num_workers=workers, pin_memory=device.startswith("cuda"))
        t0 = time.perf_counter()
        with torch.inference_mode():
            for x in loader:
                model(x.to(device))
        _sync(device)
        rates[spec.key] = n / (time.perf_counter() - t0)
    return rates


#: what a pass waits on most, by stage (engine.passes.Stages): the limit of its rate
LIMITS = {"loader_wait_s": "decoding (DataLoader workers)", "decode_s": "decoding (main process)",
          "preprocess_s": "resizing (main process)", "queue_forward_s": "the models (forward, host side)",
          "collect_wait_s": "the models (waiting for the GPU)", "writer_wait_s": "the disk",
          "loader_shutdown_s": "stopping the DataLoader workers"}


def limited_by(stages: dict) -> str:
    """The stage a pass spent most host time in, said in words."""
    return LIMITS[max(LIMITS, key=lambda k: stages.get(k, 0.0))]


def through_all(rates: dict) -> float:
    """Images/s through every model in turn: 1 / sum(1 / r_i)."""
    return 1.0 / sum(1.0 / r for r in rates.values())


def run_bench(models=None, n=None, device="auto", batch_size=None, workers=None, compile=False,
              workdir=None, decode="auto") -> dict:
    """Measure (a), (b), (c) (module docstring) and return them as one JSON-able dict."""
    import torch

    from . import engine
    from .models import get_model

    device = engine.resolve_device(device)
    gpu = device.startswith("cuda")
    models = list(models or (GPU_MODELS if gpu else CPU_MODELS))
    n = n or (20000 if gpu else 96)
    batch_size = batch_size or (256 if gpu else 16)
    workers = workers if workers is not None else (min(16, os.cpu_count() or 1) if gpu else 1)
    precision = "bf16" if gpu else "fp32"
    # absolute: predict would take a relative cache_dir as relative to the project root
    work = Path(workdir or ".cache/beyond-inet-bench").resolve()
    specs = [get_model(m) for m in models]

    t = time.perf_counter()
    folder = make_jpegs(work / "jpegs", n)
    make_s = time.perf_counter() - t
    mean_kb = float(np.mean([p.stat().st_size for p in list(folder.glob("img*.jpg"))[:200]]) / 1024)

    ceiling = forward_ceiling(specs, device, precision, batch_size, seconds=5.0 if gpu else 2.0,
                              compile=compile)
    ds = _dataset(folder, n)
    modes = (["hybrid", "tensor"] if gpu else ["pil"]) if decode == "auto" else decode.split(",")
    b_by_decode, stages = {}, {}
    for mode in dict.fromkeys(engine.resolve_decode(m, device) for m in modes):
        cache = work / f"cache-{mode}"
        shutil.rmtree(cache, ignore_errors=True)
        t0 = time.perf_counter()
        done = engine.execute(engine.plan(specs, ds, cache_dir=cache, device=device, batch_size=batch_size,
                                          num_workers=workers, precision=precision, decode=mode,
                                          compile=compile, channels_last=True), progress=False)
        _sync(device)
        b_by_decode[mode] = n / (time.perf_counter() - t0)
        stages[mode] = done.stages
        shutil.rmtree(cache, ignore_errors=True)
    decode = max(b_by_decode, key=b_by_decode.get)
    e2e = b_by_decode[decode]
    n_naive = min(n, 4000 if gpu else n)
    naive = naive_rate(specs, folder, n_naive, device, batch_size, workers)
    a, c = through_all(ceiling), through_all(naive)
    out = {
        "device": torch.cuda.get_device_name(0) if gpu else f"cpu ({os.cpu_count()} cores)",
        "date": time.strftime("%Y-%m-%d"),
        "models": models, "n_images": n, "mean_jpeg_kb": round(mean_kb, 1),
        "batch_size": batch_size, "workers": workers, "precision": precision, "compile": compile,
        "decode": decode,
        "a_settings": {"precision": precision, "compile": compile, "channels_last": True},
        "b_settings": {"precision": precision, "compile": compile, "channels_last": True,
                       "decode": decode},
        "c_settings": {"precision": "fp32", "compile": False, "decode": "pil"},
        "forward_ceiling_img_s": {k: round(v, 1) for k, v in ceiling.items()},
        "naive_img_s": {k: round(v, 1) for k, v in naive.items()},
        "a_forward_ceiling_all_models_img_s": round(a, 1),
        "b_end_to_end_all_models_img_s": round(e2e, 1),
        "b_by_decode_img_s": {k: round(v, 1) for k, v in b_by_decode.items()},
        # host seconds per stage of each (b) pass: where the host waited says what limits it
        "b_stages_s": stages,
        "b_limited_by": {k: limited_by(v) for k, v in stages.items()},
        "c_naive_all_models_img_s": round(c, 1),
        "ratio_b_over_a": round(e2e / a, 3),
        "ratio_b_over_c": round(e2e / c, 3),
        "projected_study_minutes": round(STUDY_IMAGES_PER_MODEL / e2e / 60, 1),
        "projected_study_minutes_naive": round(STUDY_IMAGES_PER_MODEL / c / 60, 1),
        "projection_note": ("5.5 M images per model through the selected models at rate (b); "
                            "meaningful for the paper's four models. Conservative where decoding "
                            "limits (b): 3.75 M of those images are ImageNet-C's 224x224 JPEGs, "
                            "cheaper to decode than the benchmark's 500x375"),
        "dataset_build_s": round(make_s, 1),
        "versions": {"python": platform.python_version(), "torch": torch.__version__,
                     "timm": _version("timm"), "open_clip": _version("open_clip_torch")},
    }
    return out


def _version(dist):
    from importlib import metadata

    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def main(args) -> int:
    models = args.models.split(",") if args.models else None
    out = run_bench(models, args.n, args.device, args.batch_size, args.workers, args.compile,
                    args.workdir, decode=getattr(args, "decode", "auto"))
    text = json.dumps(out, indent=1)
    print(text)
    print(f"(a) {out['a_forward_ceiling_all_models_img_s']} img/s  (b) {out['b_end_to_end_all_models_img_s']} "
          f"img/s [{out['decode']}, limited by {out['b_limited_by'][out['decode']]}]  "
          f"(c) {out['c_naive_all_models_img_s']} img/s  (b)/(a) {out['ratio_b_over_a']}  "
          f"(b)/(c) {out['ratio_b_over_c']}  study ~{out['projected_study_minutes']} min",
          file=sys.stderr)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(text + "\n")
    return 0
