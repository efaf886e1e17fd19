"""The rehearsal's data root, fetched the way a user's is: ``make rehearsal`` runs

    python tests/hub_rehearsal_root.py DIR --from SOURCE_ROOT

which writes the miniature data root DIR/data for the datasets with no copy on the
Hugging Face hub (``mock.write_mock_root(without=...)``), miniature copies of the hub
repositories of the others (``mock.write_mock_hub_repos``, DIR/hub-repos), serves those
on 127.0.0.1 (``hub_server.HubServer``, the gated ImageNet-1k with a granted token), and
runs ``beyond-inet data get --profile rehearsal --source hub --root DIR/data`` against
it: every dataset with a hub copy arrives in its hub layout through the real download,
verification and installation code, and the rehearsal's pages then read it (webdataset
shards in place, the unpacked val tar, the converted parquet shards).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

TOKEN = "hf_rehearsal_token"


def hub_datasets(profile: str) -> list[str]:
    from beyond_inet_lib import data as D
    from beyond_inet_lib.config import load_profile
    from beyond_inet_lib.data import sources

    return sorted({n for n in D.datasets_for_profile(load_profile(profile, check_models=False))
                   if sources.hub_source_for(n)})


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("dir")
    p.add_argument("--from", dest="source", required=True)
    p.add_argument("--profile", default="rehearsal")
    a = p.parse_args(argv)
    from beyond_inet_lib import cli
    from beyond_inet_lib.data import mock
    from hub_server import HubServer

    out = Path(a.dir)
    for sub in ("data", "hub-repos", "hub-models"):
        shutil.rmtree(out / sub, ignore_errors=True)
    mock.write_mock_root(out / "data", a.source, without=hub_datasets(a.profile))
    info = mock.write_mock_hub_repos(out / "hub-repos", a.source)
    (out / "hub-models").mkdir(parents=True)
    with HubServer(out / "hub-models", datasets=out / "hub-repos") as server:
        for repo, meta in info["repos"].items():
            server.revisions[repo] = [meta["revision"]]
            if meta["gated"]:
                server.gated[repo] = {TOKEN}
            server.commit_dates.update({(repo, path): date for path, date in meta["dates"].items()})
        os.environ.update(HF_ENDPOINT=server.endpoint, HF_TOKEN=TOKEN, HF_HOME=str(out / "hf-home"))
        os.environ.pop("HF_HUB_OFFLINE", None)
        return cli.main(["data", "get", "--profile", a.profile, "--source", "hub", "--root", str(out / "data")])


if __name__ == "__main__":
    sys.exit(main())
