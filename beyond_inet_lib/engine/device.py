"""The device a pass runs on: which one, and what to do when its memory runs out.

Shared by the decode paths (a batch of large images resized on the GPU) and the forward
passes (a batch too large for a model): both catch ``is_oom``, ``empty_cache`` and retry
in smaller parts, joined again with ``cat``.
"""

from __future__ import annotations

from ..errors import EngineError


def resolve_device(device: str = "auto", check: bool = True) -> str:
    """'cuda' when a GPU is visible, else 'cpu', for 'auto'; any other device as given,
    after checking a CUDA device exists (unless ``check`` is False: a plan made here for
    GPU workers elsewhere, e.g. a cluster's driver on a machine without one)."""
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if check and device.startswith("cuda") and not torch.cuda.is_available():
        raise EngineError(f"device={device!r} but no CUDA GPU is visible here; use device: cpu "
                          f"(or auto) in the profile")
    return device


def is_oom(e: BaseException) -> bool:
    """Whether ``e`` is the device running out of memory."""
    import torch

    return isinstance(e, torch.cuda.OutOfMemoryError) or (
        isinstance(e, RuntimeError) and "out of memory" in str(e).lower())


def empty_cache(device: str):
    """Give the caching allocator's free blocks back before retrying smaller (CUDA only)."""
    import torch

    if str(device).startswith("cuda"):
        torch.cuda.empty_cache()


def cat(tensors: list):
    """``torch.cat``, without the copy when there is only one tensor."""
    import torch

    return tensors[0] if len(tensors) == 1 else torch.cat(tensors)


def slow_bf16(device: str) -> bool:
    """True when bf16 autocast on ``device`` is emulated: a CPU without native bf16 (oneDNN
    reports none) runs it about ten times slower than fp32, so a page leaves it out."""
    import torch

    if resolve_device(device, check=False) != "cpu":
        return False
    try:
        return not torch.ops.mkldnn._is_mkldnn_bf16_supported()
    except (AttributeError, RuntimeError):
        return True
