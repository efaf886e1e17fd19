"""The miniature data root: every registered dataset loads from it, in its real layout,
with labels that agree across datasets and with the shipped annotations."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from beyond_inet_lib import cli
from beyond_inet_lib import data as D
from beyond_inet_lib.data import mock
from beyond_inet_lib.data.imagenet_labels import real_label_sets, shipped_val_labels
from beyond_inet_lib.errors import UserError

from conftest import need_data


@pytest.fixture(scope="module")
def source() -> Path:
    return need_data("imagenet-samples").parent


@pytest.fixture(scope="module")
def root(source, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("mock") / "data"
    summary = mock.write_mock_root(out, source)
    assert 300 <= summary["files"] <= 1500
    return out


@pytest.fixture(scope="module")
def classes(root) -> set[int]:
    return set(D.load_dataset("imagenet-samples", root).labels.tolist())


def test_every_dataset_of_the_paper_is_present(root):
    check = D.check_datasets(root)
    assert set(check["name"]) == set(D.DATASETS)
    assert (check["status"] != "absent").all(), check[check["status"] == "absent"]


def test_every_registered_dataset_loads(root):
    for name in D.DATASETS:
        assert len(D.load_dataset(name, root)) > 0, name


def test_val_labels_match_imagenet_x_and_real(root, classes):
    val = D.load_dataset("imagenet-val", root)
    assert val.meta["layout"] == "flat" and set(val.labels.tolist()) == classes
    assert len(val) == 2 * len(classes)
    ann = D.imagenet_x_annotations().set_index("file_name")["class"]
    shipped = shipped_val_labels()
    for f, lab in zip(val.table["file_name"], val.labels):
        assert ann[f] == lab == shipped[D.val_number(f)]
    real = D.load_dataset("imagenet-real", root).table
    assert all(lab in s for lab, s in zip(real["label"], real["label_set"]) if s)
    assert [list(real_label_sets()[D.val_number(f) - 1]) for f in real["file_name"]] == real["label_set"].tolist()
    x = D.load_dataset("imagenet-x", root)
    assert sorted(x.table["file_name"]) == sorted(val.table["file_name"])


def test_robustness_variants_hold_the_same_classes(root, classes):
    wnids = D.imagenet_wnids()
    for name in ("imagenet-v2", "imagenet-a", "imagenet-r", "imagenet-sketch", "imagenet-c"):
        ds = D.load_dataset(name, root)
        if name == "imagenet-c":   # the first two classes in every cell (mock.IMAGENET_C_CLASSES)
            assert set(ds.labels.tolist()) == set(sorted(classes)[:2]), name
        else:
            assert set(ds.labels.tolist()) == classes, name
        if ds.class_mask is not None:
            assert classes <= set(ds.class_mask.tolist()), name
    v2 = D.load_dataset("imagenet-v2", root).table
    assert all(Path(p).parent.name == str(lab) for p, lab in zip(v2["path"], v2["label"]))
    for name in ("imagenet-a", "imagenet-r", "imagenet-sketch"):
        t = D.load_dataset(name, root).table
        assert all(wnids[lab] == Path(p).parent.name for p, lab in zip(t["path"], t["label"]))
    c = D.load_dataset("imagenet-c", root)
    assert c.meta["absent"] == [] and len(c) == 15 * 5 * 2
    val_files = set(D.load_dataset("imagenet-val", root).table["file_name"])
    assert set(c.table["file_name"]) <= val_files
    hard = D.load_dataset("imagenet-hard", root)
    assert hard.meta["empty_label_sets"] == 1 and hard.meta["missing_files"] == 0
    assert {s[0] for s in hard.table["label_set"] if s} == classes


def test_pug_all_factors_and_labels_by_name(root, classes):
    pug = D.load_dataset("pug-imagenet", root)
    assert pug.meta["absent_factors"] == [] and pug.meta["unknown_classes"] == []
    assert set(pug.table["factor"]) == set(D.PUG_FACTORS)
    mapping = D.pug_class_to_indices()
    for name, labels in zip(pug.table["class_name"], pug.table["label_set"]):
        assert labels == mapping[name] and classes & set(labels)


def test_vtab_tasks_as_the_zip_unpacks(root):
    from beyond_inet_lib.data.vtab import VTAB_NUM_CLASSES

    for task in D.VTAB_TASKS:
        ds = D.load_dataset(D.vtab_dataset_name(task), root)
        t = ds.table
        assert t.groupby("split").size().to_dict() == {"train": 4, "val": 2, "test": 2}, task
        assert set(t.loc[t["split"] == "train", "label"]) == {0, VTAB_NUM_CLASSES[task] - 1}
        assert all(p.startswith("vtab-1k/") for p in t["path"])
        folder = root / Path(t["path"][0]).parts[0] / Path(t["path"][0]).parts[1]
        listed = (folder / "train800val200.txt").read_text().split()[1::2]
        assert listed == [str(x) for x in t.loc[t["split"] != "test", "label"]]


def test_demo_layouts(root, source):
    cue = D.load_dataset("cue-conflict", root)
    assert set(cue.table["category"]) == set(D.CUE_CONFLICT_CATEGORIES) and len(cue) == 32
    assert (cue.table["shape"] == cue.table["category"]).all()
    if (source / "cue-conflict").is_dir():   # real stimuli are copied byte for byte
        p = cue.table["path"][0]
        assert (root / p).read_bytes() == (source / p).read_bytes()
    for name, n in (("cue-conflict-humans", 10), ("cue-conflict-decisions", 6)):
        assert len(D.load_dataset(name, root).meta["files"]) == n


def test_synthesised_reference_logs_without_a_source(root, tmp_path):
    lone = tmp_path / "src"
    (lone / "imagenet-samples").mkdir(parents=True)
    for p in sorted((root / "imagenet-samples").iterdir()):
        (lone / "imagenet-samples" / p.name).write_bytes(p.read_bytes())
    out = tmp_path / "mock"
    mock.write_mock_root(out, lone)
    logs = D.load_dataset("cue-conflict-humans", out)
    stimuli = set(Path(p).name for p in D.load_dataset("cue-conflict", out).table["path"])
    assert set(logs.table["stimulus"]) == stimuli and len(logs) == 10 * len(stimuli)


def test_cli_data_mock(source, tmp_path, capsys):
    out = tmp_path / "m"
    assert cli.main(["data", "mock", str(out), "--from", str(source)]) == 0
    assert "mock data root" in capsys.readouterr().out
    assert json.loads((out / "imagenet-hard/labels.json").read_text())
    with pytest.raises(UserError, match="not empty"):
        mock.write_mock_root(out, source)
    assert cli.main(["data", "mock", str(out), "--from", str(source)]) == 2


def test_imagenet_o_in_its_real_layout(root, classes):
    """ImageNet-O's folders are classes the mock's other datasets do not hold, filled with
    images of other classes, as the real ones are; scored over its 200-class mask."""
    ds = D.load_dataset("imagenet-o", root)
    folders = set(ds.table["confused_with"])
    assert len(folders) == mock.IMAGENET_O_FOLDERS and not folders & classes
    assert folders <= set(D.imagenet_o_indices().tolist()) and (ds.labels == -1).all()
    assert all(Path(p).parts[:2] == ("imagenet-o", w) for p, w in zip(ds.table["path"], ds.table["wnid"]))
    # the in-distribution side of the comparison: val images of ImageNet-O's classes exist
    val = D.load_dataset("imagenet-val", root)
    assert np.isin(val.labels, ds.class_mask).any()


def test_rehearsal_calibration_page_reads_imagenet_o_in_its_real_layout(root):
    """The rehearsal's calibration page asks for ImageNet-O from the miniature root, not a
    stand-in: its out-of-distribution request holds every image of the layout, and the
    shifted datasets of the robustness settings are there too."""
    from beyond_inet_lib import pages
    from beyond_inet_lib.config import load_profile
    from beyond_inet_lib.models import get_model

    prof = load_profile("rehearsal", {"data_root": str(root)}, check_models=False)
    st = pages.Study(prof, root, None, "calibration", [get_model(k) for k in prof.models], show=False)
    reqs = {r.name: r for r in pages.calibration.requests(st)}
    ood = reqs["ood"].dataset
    assert ood.name == "imagenet-o" and not ood.standin
    assert len(ood) == sum(1 for p in (root / "imagenet-o").rglob("*.jpg"))
    assert not st.standins_used
    assert {n for n in reqs if n.startswith("shift:")} >= {"shift:imagenet-v2", "shift:imagenet-c"}


def test_imagenet_c_outputs_top_is_asked_by_both_pages_for_one_cache_unit(root):
    """robustness.imagenet_c_outputs: top: the robustness page and calibration's shift
    section ask for ImageNet-C's top-1 only, and for the same cache units (computed once);
    the other variants keep their logits; an unknown value is a profile error."""
    from beyond_inet_lib import pages
    from beyond_inet_lib.config import load_profile
    from beyond_inet_lib.errors import ProfileError
    from beyond_inet_lib.models import get_model
    from beyond_inet_lib.run_settings import RunSettings

    over = {"data_root": str(root), "properties": {"robustness": {"imagenet_c_outputs": "top"}}}
    prof = load_profile("rehearsal", over, check_models=False)
    models = [get_model(k) for k in prof.models]
    reqs = {}
    for prop in ("robustness", "calibration"):
        st = pages.Study(prof, root, None, prop, models, show=False)
        reqs[prop] = {r.name: r for r in getattr(pages, prop).requests(st)}
    rob, cal = reqs["robustness"]["imagenet-c"], reqs["calibration"]["shift:imagenet-c"]
    assert rob.outputs == cal.outputs == ("top",)
    assert reqs["calibration"]["shift:imagenet-v2"].outputs == ("logits",)
    settings = RunSettings(cache_dir=root / "cache")
    assert [u.dir for u in rob.plan(settings).units] == [u.dir for u in cal.plan(settings).units]
    with pytest.raises(ProfileError, match="imagenet_c_outputs.*logits, top"):
        load_profile("rehearsal", {"properties": {"robustness": {"imagenet_c_outputs": "probs"}}},
                     check_models=False)
