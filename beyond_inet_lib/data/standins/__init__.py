"""Generated stand-ins for benchmarks a demo run cannot have.

The demo runs offline on two CPU cores; ImageNet-C, ImageNet-X's val images, PUG-ImageNet
and VTAB are absent there. Each generator builds a SMALL dataset from the 1,000 real
ImageNet sample images (or, for transfer, from scikit-learn's digits), writes it to disk as
ordinary image files (so the engine reads it like any dataset) and returns a
``DatasetIndex`` with ``standin=True`` and a ``description`` that says what the data is and
what it is not. Pages that show numbers on these say so.

- ``build``       the build protocol (deterministic, atomic, re-used) and the base images
- ``imagenet_c``  ImageNet-C corruptions
- ``factors``     simulated ImageNet-X factors
- ``synthetic``   PUG-ImageNet-like variations
- ``digits``      the transfer task
- ``ood``         images of no ImageNet class (ImageNet-O)
"""

from .build import GENERATOR_VERSION, build_once, is_complete, spread_subset, stable_seed, standin_folder
from .digits import digits_task
from .factors import IMAGENET_X_FACTORS, factor_standin
from .imagenet_c import corrupt_image, imagenet_c_standin
from .ood import OOD_STANDIN_KINDS, imagenet_o_standin
from .synthetic import SYNTHETIC_LEVELS, synthetic_standin

__all__ = ["GENERATOR_VERSION", "IMAGENET_X_FACTORS", "OOD_STANDIN_KINDS", "imagenet_o_standin", "SYNTHETIC_LEVELS", "build_once", "corrupt_image",
           "digits_task", "factor_standin", "imagenet_c_standin", "is_complete", "spread_subset",
           "stable_seed", "standin_folder", "synthetic_standin"]
