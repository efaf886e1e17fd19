"""Models: from a name to a network, its weights and its preprocessing.

``get_model(key)`` returns a ``ModelSpec``: a frozen, printable description (no weights are
read). ``spec.view('paper' | 'library')`` is its preprocessing; ``spec.load(...)`` builds
the network and returns a ``LoadedModel`` whose ``forward`` gives ImageNet-1k logits,
whatever the model's kind: a supervised classifier's own head, or a CLIP model's zero-shot
head. ``list_models()`` lists the registered keys; ``KEY_PATTERNS`` the generic ones.

One job per module:

- ``spec``        ``ModelSpec``: a model described without loading it, its views and variants
- ``registry``    the key grammar, ``register_model`` / ``MODELS``, ``get_model``, the
                  generic ``timm:`` / ``open_clip:`` / ``file:`` / ``@R`` specs
- ``catalog``     the registered models (the paper's four, EfficientNet-Lite, tiny stand-ins)
- ``preprocess``  the paper's recipes and timm's / open_clip's own, native resolutions
- ``weights``     where weights come from: local caches, then a download; pip packages,
                  seeded random init; what ``beyond-inet models get`` fetches and prints
- ``hub``         the Hugging Face hub: offline / reachable (seconds, never longer), download
- ``hub_layout``  random weights of the real architectures in the hub's layout (rehearsals, tests)
- ``zeroshot``    the CLIP zero-shot head: prompts, text encoding, its on-disk cache
- ``taps``        layer taps for CKA and how to pool them
- ``loaded``      ``LoadedModel`` and changing a ViT's input resolution
- ``hf``          ``hf:<repo>[@<revision>]``: transformers classifiers, backbones, CLIP / SigLIP
- ``python``      your own ``nn.Module``: ``register(key, build=, view=, labels=)``, ``py:<module>:<function>``
"""

from ..errors import WeightsNotFound
from . import catalog  # noqa: F401  (registers the models)
from .hub import hf_cache_dir
from .hub_layout import write_random_weights
from .loaded import Built, LoadedModel, resize_vit_input
from .preprocess import CLIP_PAPER, SUPERVISED_PAPER, Preprocess
from .python import PyModel, register
from .registry import KEY_PATTERNS, MODELS, get_model, list_models, register_model, validate_model_key
from .spec import ARCHS, LABEL_KINDS, PAPER_KEYS, SOURCES, TRAININGS, ModelSpec
from .taps import TAP_KINDS, LayerTaps, pool_tap_output
from .weights import RANDOM_SEED, Fetched, copy_instructions, fetch_weights, file_weights_id
from .zeroshot import PAPER_LOGIT_SCALE

__all__ = [
    "ARCHS", "Built", "CLIP_PAPER", "Fetched", "KEY_PATTERNS", "LABEL_KINDS", "LayerTaps", "LoadedModel",
    "MODELS", "ModelSpec", "PAPER_KEYS", "PAPER_LOGIT_SCALE", "Preprocess", "PyModel", "RANDOM_SEED", "SOURCES",
    "SUPERVISED_PAPER", "TAP_KINDS", "TRAININGS", "WeightsNotFound", "copy_instructions",
    "fetch_weights", "file_weights_id", "get_model", "hf_cache_dir", "list_models",
    "pool_tap_output", "register", "register_model", "resize_vit_input", "validate_model_key",
    "write_random_weights",
]
