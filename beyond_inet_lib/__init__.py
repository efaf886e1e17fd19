"""beyond-inet: compare vision models beyond ImageNet accuracy.

The library computes; the notebooks in ``notebooks/`` narrate. Modules, one job each:

- ``config``   profiles (``params/*.yaml``): load, validate, resolve the data root
- ``views``    preprocessing as data (``View``), hashable and printable
- ``models``   model registry and loading (timm, open_clip, local files, pip-shipped weights)
- ``data``     datasets: layouts, labels, presence checks, downloads, generated stand-ins
- ``engine``   batched inference with an on-disk result cache
- ``metrics``  pure functions: arrays / DataFrames in, numbers / DataFrames out
- ``charts``   Altair chart builders and the offline renderer
- ``report``   jupytext -> papermill -> nbconvert -> index page
- ``cli``      the ``beyond-inet`` command
"""

__version__ = "0.1.0"
