"""Datasets: layouts, labels, presence checks, downloads, generated stand-ins.

Every dataset is a loader registered by name that, given a data root, returns a
``DatasetIndex`` (one row per image: relative path, integer label in the ImageNet-1k index
space, and whatever extra columns the experiment needs) or raises ``DatasetMissing`` with a
message that says where it looked, the layout it expects and how to get it. Nothing here
decodes an image for a model: the engine does. Importing this package never imports torch.

Modules, one job each:

- ``index``      ``DatasetIndex``, ``spread_indices``, walking image folders
- ``registry``   ``register_dataset``, ``DATASETS``, ``DATASET_GROUPS``, ``load_dataset``
- ``presence``   how much of a dataset is below a root (``Presence``)
- ``check``      the ``data check`` table, the datasets a profile reads
- ``imagenet_labels``  class order, names, A/R lists, ReaL sets, ImageNet-X annotations
- ``imagenet``   val, ReaL, ImageNet-X, V2, A, R, Sketch, C, Hard, O
- ``demo``       cue-conflict stimuli, ImageNet sample images, the decision logs
- ``pug``        PUG-ImageNet
- ``vtab``       the 19 VTAB-1k tasks
- ``model_vs_human``  the 17 datasets of model-vs-human's benchmark and their observers' trials
- ``downloads``  ``data get``: fetch, verify, install (``transfer``, ``archives``, ``sources``,
                 ``verify``, ``imagenet_hard_parquet``, ``vtab_parquet`` do the parts; ``hub``
                 and ``hub_get`` the Hugging Face hub's copies)
- ``webdataset`` webdataset shards read in place (a member is ``<shard>.tar#<member>``)
- ``mock``       a miniature data root in every real layout
- ``standins``   small generated stand-ins for benchmarks a demo run cannot have
"""

from ..errors import DatasetMissing
# the catalogue modules register their datasets on import; this order is the order of
# the `data check` table
from . import demo, imagenet, pug, vtab, model_vs_human  # noqa: F401
from .check import CHECK_COLUMNS, check_datasets, datasets_for_profile, format_check_table
from .demo import CUE_CONFLICT_CATEGORIES, parse_cue_conflict_name
from .downloads import FetchReport, fetch_missing, get_dataset
from .imagenet import (
    IMAGENET_C_CORRUPTIONS,
    IMAGENET_C_SEVERITIES,
    ROBUSTNESS_VARIANTS,
    read_hard_labels,
    read_val_labels,
)
from .imagenet_labels import (
    N_VAL,
    imagenet_a_indices,
    imagenet_class_names,
    imagenet_o_indices,
    imagenet_r_indices,
    imagenet_real_labels,
    imagenet_wnids,
    imagenet_x_annotations,
    timm_info_file,
    val_file_name,
    val_number,
    wnid_to_index,
)
from .index import IMAGE_EXTENSIONS, DatasetIndex, count_images, list_images, spread_indices
from .presence import Presence, dataset_presence
from .pug import PUG_FACTORS, pug_class_to_indices
from .registry import DATASET_GROUPS, DATASETS, DatasetInfo, load_dataset, register_dataset
from .vtab import VTAB_NUM_CLASSES, VTAB_TASKS, VTAB_TEST_SIZES, load_vtab, vtab_dataset_name

__all__ = [
    "CHECK_COLUMNS", "CUE_CONFLICT_CATEGORIES", "DATASETS", "DATASET_GROUPS", "DatasetIndex", "FetchReport",
    "DatasetInfo", "DatasetMissing", "IMAGENET_C_CORRUPTIONS", "IMAGENET_C_SEVERITIES",
    "IMAGE_EXTENSIONS", "N_VAL", "PUG_FACTORS", "Presence", "ROBUSTNESS_VARIANTS", "VTAB_NUM_CLASSES", "VTAB_TASKS",
    "VTAB_TEST_SIZES", "check_datasets", "count_images", "dataset_presence", "datasets_for_profile", "fetch_missing",
    "format_check_table", "get_dataset", "imagenet_a_indices", "imagenet_class_names", "imagenet_o_indices", "imagenet_r_indices",
    "imagenet_real_labels", "imagenet_wnids", "imagenet_x_annotations", "list_images", "load_dataset",
    "load_vtab", "parse_cue_conflict_name", "pug_class_to_indices", "read_hard_labels",
    "read_val_labels", "register_dataset", "spread_indices", "timm_info_file", "val_file_name",
    "val_number", "vtab_dataset_name", "wnid_to_index",
]
