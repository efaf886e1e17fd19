"""The CLIP zero-shot head: how a CLIP model becomes a 1000-way ImageNet classifier.

For each class c of open_clip's ``IMAGENET_CLASSNAMES``, every prompt t of
``OPENAI_IMAGENET_TEMPLATES`` is encoded, e_{c,t} = text(t(c)) / ||text(t(c))||;
w_c = mean_t e_{c,t} / ||mean_t e_{c,t}||; logits = s * (v / ||v||) @ [w_1 .. w_1000], v the
image embedding, s = 100 (the paper's fixed scale, ``clip_logit_scale='paper'``) or
exp(model.logit_scale) (``'model'``).

The head is built once per model (80,000 prompts through the text tower: seconds on a GPU,
many minutes on a CPU for a full-size model) and cached under ``<cache_dir>/zeroshot/``,
keyed by the model, its weights and a hash of the prompts.

Prompt sets (``CLIP_PROMPTS``, a profile's ``clip_prompts``): 'paper' (the 80 templates) or
'openai7', the 7 templates OpenAI's prompt-engineering notebook selected from the 80 (open_clip's
``SIMPLE_IMAGENET_TEMPLATES``), for a CPU where 80,000 prompts take a quarter of an hour per
model. A spec with another set has ``+openai7`` in its ``weights_id`` (``prompt_variant``) and
its head another file name (the prompt hash): its results never mix with the paper set's.

TEST ONLY: ``BEYOND_INET_PROMPT_TEMPLATES=N`` keeps the first N templates of the set (the
1,000 classes always stay), so that CI can build the heads of full-size CLIP models on a
2-core CPU. Such a head is not the paper's: its cache file has another name (the prompt
hash) and the model's ``weights_id`` gains ``+templatesN`` (``prompt_variant``), so
neither the head nor results computed with it are ever served to a normal run.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ..files import atomic_write_bytes, slug
from ..paths import progress_enabled
from ..run_settings import CLIP_LOGIT_SCALES, CLIP_PROMPTS

PAPER_LOGIT_SCALE = 100.0
PROMPT_TEMPLATES_ENV = "BEYOND_INET_PROMPT_TEMPLATES"


def prompt_template_limit() -> int | None:
    """TEST ONLY: N from ``BEYOND_INET_PROMPT_TEMPLATES`` (keep the first N templates), or
    None (unset: all 80)."""
    raw = os.environ.get(PROMPT_TEMPLATES_ENV, "").strip()
    if not raw:
        return None
    if not raw.isdigit() or int(raw) < 1:
        raise ValueError(f"{PROMPT_TEMPLATES_ENV}={raw!r}: expected a whole number >= 1 (a test-only "
                         f"knob: the first N prompt templates); unset it for the paper's 80")
    return int(raw)


def _template_set(prompts: str) -> list:
    from open_clip.zero_shot_metadata import OPENAI_IMAGENET_TEMPLATES, SIMPLE_IMAGENET_TEMPLATES

    if prompts not in CLIP_PROMPTS:
        raise ValueError(f"clip prompts {prompts!r}; expected one of {CLIP_PROMPTS}")
    return list(OPENAI_IMAGENET_TEMPLATES if prompts == "paper" else SIMPLE_IMAGENET_TEMPLATES)


def imagenet_prompts(prompts: str = "paper"):
    """(classnames, templates): open_clip's 1,000 IMAGENET_CLASSNAMES and the templates of
    the set ``prompts`` (``CLIP_PROMPTS``: the 80 OPENAI_IMAGENET_TEMPLATES or the 7
    SIMPLE_IMAGENET_TEMPLATES); the first N of them under the test-only
    ``BEYOND_INET_PROMPT_TEMPLATES=N``."""
    from open_clip.zero_shot_metadata import IMAGENET_CLASSNAMES

    return list(IMAGENET_CLASSNAMES), _template_set(prompts)[:prompt_template_limit()]


def prompt_variant(prompts: str = "paper") -> str:
    """What a CLIP model's weights_id gains so the result cache keeps prompt sets apart:
    '' for the paper's set, '+openai7' for the short one, then '+templatesN' when the
    test-only knob shortens the set."""
    out = "" if prompts == "paper" else f"+{prompts}"
    limit, n = prompt_template_limit(), len(_template_set(prompts))
    return out if limit is None or limit >= n else f"{out}+templates{limit}"


def _template_text(t) -> str:
    return t if isinstance(t, str) else t("{}")


def prompts_hash(classnames, templates) -> str:
    blob = json.dumps([list(classnames), [_template_text(t) for t in templates]]).encode()
    return hashlib.sha1(blob).hexdigest()[:12]


class CausalPrefixTextEncoder:
    """``encode_text`` of an open_clip ``CLIP`` run on the shortest token prefix that holds
    every prompt's end-of-text token. Exact, not an approximation: the text tower is causal
    (position i attends to positions <= i) and pools the EOT token, so padding after the
    EOT never reaches the pooled output. ~4x faster for ImageNet prompts (<= 20 of 77
    tokens), which is what makes the 80,000-prompt head tolerable on a CPU."""

    def __init__(self, clip_model):
        self.clip = clip_model

    @staticmethod
    def applies(clip_model) -> bool:
        mask = getattr(clip_model, "attn_mask", None)
        if (type(clip_model).__name__ != "CLIP" or mask is None or mask.ndim != 2
                or getattr(clip_model, "text_pool_type", None) != "argmax"):
            return False
        upper = torch.ones_like(mask, dtype=torch.bool).triu(1)
        return bool(torch.isneginf(mask[upper]).all()) and not bool(mask[~upper].any())

    def encode_text(self, text: torch.Tensor, normalize: bool = False) -> torch.Tensor:
        from open_clip.transformer import text_global_pool

        m = self.clip
        n = int(text.argmax(dim=-1).max()) + 1
        text = text[:, :n]
        cast_dtype = m.transformer.get_cast_dtype()
        x = m.token_embedding(text).to(cast_dtype) + m.positional_embedding[:n].to(cast_dtype)
        x = m.ln_final(m.transformer(x, attn_mask=m.attn_mask[:n, :n]))
        x = text_global_pool(x, text, "argmax")
        if m.text_projection is not None:
            x = m.text_projection(x) if isinstance(m.text_projection, nn.Linear) else x @ m.text_projection
        return F.normalize(x, dim=-1) if normalize else x


def build_zeroshot_head(clip_model, tokenizer, classnames=None, templates=None,
                        classes_per_batch: int = 50, device="cpu") -> torch.Tensor:
    """(D, C) head: w_c = normalize(mean_t normalize(text(t(c)))). open_clip's
    ``build_zero_shot_classifier`` does exactly this (encode_text(normalize=True), mean over
    templates, re-normalise, transpose); ``classes_per_batch`` x len(templates) prompts are
    encoded per forward, through ``CausalPrefixTextEncoder`` where it applies."""
    from open_clip import build_zero_shot_classifier

    from ..progress import bar

    default_names, default_templates = imagenet_prompts()
    classnames = default_names if classnames is None else list(classnames)
    templates = default_templates if templates is None else list(templates)
    templates = [t if callable(t) or isinstance(t, str) else str(t) for t in templates]
    # all str or all callables: open_clip decides by the first one
    templates = [(lambda s, t=t: t.format(s)) if isinstance(t, str) else t for t in templates]
    clip_model.eval()
    encoder = CausalPrefixTextEncoder(clip_model) if CausalPrefixTextEncoder.applies(clip_model) else clip_model
    # open_clip's own bar is tqdm's (carriage returns in a log): the batches of classes are
    # handed to it one call each, under the package's bar (on a CPU a full-size text tower
    # takes many minutes). Each batch is encoded and normalised on its own either way.
    batches = [classnames[i:i + classes_per_batch] for i in range(0, len(classnames), classes_per_batch)]
    parts = []
    with torch.no_grad():
        for batch in bar(batches, desc="zero-shot head", unit="batch", enabled=progress_enabled(), leave=False):
            parts.append(build_zero_shot_classifier(encoder, tokenizer, batch, templates,
                                                    num_classes_per_batch=classes_per_batch, device=device))
    return torch.cat(parts, dim=1).float().cpu()


def zeroshot_head(clip_model, tokenizer, classnames=None, templates=None, cache_path=None,
                  device="cpu") -> torch.Tensor:
    """``build_zeroshot_head``, read from / written to ``cache_path`` when given (atomic)."""
    if cache_path is not None and Path(cache_path).is_file():
        return torch.load(cache_path, map_location="cpu", weights_only=True)
    head = build_zeroshot_head(clip_model, tokenizer, classnames, templates, device=device)
    if cache_path is not None:
        atomic_write_bytes(cache_path, lambda f: torch.save(head, f))
    return head


def zeroshot_cache_path(spec, cache_dir) -> Path | None:
    """Where the head of ``spec`` (a ModelSpec) is cached: one file per base key, weights
    and prompt set; None without a cache dir."""
    if cache_dir is None:
        return None
    names, templates = imagenet_prompts(spec.prompts)
    stem = f"{slug(spec.base_key)}-{slug(spec.weights_id)}-{prompts_hash(names, templates)}"
    return Path(cache_dir) / "zeroshot" / f"{stem}.pt"


def clip_classifier(spec, built, *, device="cpu", cache_dir=None,
                    clip_logit_scale: str = "paper") -> tuple[torch.Tensor, float]:
    """(head, scale) for a CLIP model built from ``spec``: the cached head when present,
    else encoded on ``device`` (where the model will run) and cached; the scale is 100
    ('paper') or the model's learned exp(logit_scale) ('model')."""
    if clip_logit_scale not in CLIP_LOGIT_SCALES:
        raise ValueError(f"clip_logit_scale={clip_logit_scale!r}; expected one of {CLIP_LOGIT_SCALES}")
    path = zeroshot_cache_path(spec, cache_dir)
    if path is None or not path.is_file():
        built.clip.to(device)  # encode the prompts (80,000 for the paper's set) where the model will run
    names, templates = imagenet_prompts(spec.prompts)
    head = zeroshot_head(built.clip, built.tokenizer, names, templates, cache_path=path, device=device)
    scale = (PAPER_LOGIT_SCALE if clip_logit_scale == "paper"
             else float(built.clip.logit_scale.detach().exp()))
    return head, scale


def zero_shot_logits(embeddings: torch.Tensor, head: torch.Tensor, scale: float) -> torch.Tensor:
    """s * (v / ||v||) @ head: a CLIP model's class scores from its image embeddings v
    (N, D) and a zero-shot head (D, C) (the module docstring's formula)."""
    return scale * F.normalize(embeddings, dim=-1) @ head.to(embeddings.dtype)


def class_names_head(spec, classnames, *, device="cpu", cache_dir=None) -> tuple[torch.Tensor, float]:
    """(head (D, C), the model's learned scale exp(logit_scale)) of the CLIP model ``spec``
    for ``classnames`` (a dataset's own classes), from the templates of its prompt set, the
    same as its ImageNet head's. Built once (the text tower is loaded for it) and cached
    under ``<cache_dir>/zeroshot/`` by model, weights, class names and templates."""
    names = [str(c) for c in classnames]
    templates = _template_set(spec.prompts)[:prompt_template_limit()]
    path = None
    if cache_dir is not None:
        stem = f"{slug(spec.base_key)}-{slug(spec.weights_id)}-classes-{prompts_hash(names, templates)}"
        path = Path(cache_dir) / "zeroshot" / f"{stem}.pt"
        if path.is_file():
            saved = torch.load(path, map_location="cpu", weights_only=True)
            return saved["head"], float(saved["learned_scale"])
    built = spec.builder()
    built.clip.to(device)
    head = build_zeroshot_head(built.clip, built.tokenizer, names, templates, device=device)
    learned = float(built.clip.logit_scale.detach().exp())
    if path is not None:
        atomic_write_bytes(path, lambda f: torch.save({"head": head, "learned_scale": torch.tensor(learned)}, f))
    return head, learned
