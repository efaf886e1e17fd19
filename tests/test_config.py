"""Profiles: every bad parameter file fails before any compute, naming the key, the bad
value and what is accepted; the shipped profiles validate; the CLI turns a bad profile
into one message and exit status 2 without running a notebook."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from beyond_inet_lib import cli
from beyond_inet_lib.config import PARAMS_DIR, PROJECT_ROOT, Profile, ProfileError, load_profile, validate_profile
from beyond_inet_lib.pages import PROPERTIES

MODEL = "tiny_vit_untrained"


def profile(**kw) -> dict:
    """A minimal valid profile mapping with ``kw`` on top."""
    return {"name": "t", "models": [MODEL], **kw}


def error_of(data: dict, **kw) -> str:
    with pytest.raises(ProfileError) as e:
        validate_profile(data, **kw)
    return str(e.value)


# ------------------------------------------------------------------------- unknown keys
def test_unknown_top_level_key_suggests_the_close_one():
    msg = error_of(profile(batchsize=8))
    assert "unknown key 'batchsize'" in msg and "did you mean 'batch_size'?" in msg
    assert "accepted keys:" in msg and "num_workers" in msg and "properties" in msg


def test_unknown_key_inside_a_property():
    msg = error_of(profile(properties={"calibration": {"nbins": 10}}))
    assert msg.startswith("properties.calibration: unknown key 'nbins'")
    assert "did you mean 'n_bins'?" in msg and "accepted keys: max_images, n_bins" in msg


def test_unknown_property_lists_them_all():
    msg = error_of(profile(properties={"calibraton": {}}))
    assert "unknown property 'calibraton'" in msg and "did you mean 'calibration'?" in msg
    assert all(p in msg for p in PROPERTIES)


# ------------------------------------------------------------------------- wrong types
@pytest.mark.parametrize("data, expected", [
    (profile(batch_size="32"), "profile.batch_size: '32' is a str; expected int"),
    (profile(batch_size=True), "profile.batch_size: True is a bool; expected int"),   # bool is not an int
    (profile(num_workers=1.5), "profile.num_workers: 1.5 is a float; expected int"),
    (profile(compile=1), "profile.compile: 1 is a int; expected bool"),               # nor an int a bool
    (profile(device=0), "profile.device: 0 is a int; expected str"),
    (profile(data_root=5), "profile.data_root: 5 is a int; expected str | None"),
    (profile(models=[MODEL, 3]), "profile.models[1]: 3 is a int; expected str"),
    (profile(properties={"invariance": {"scales": [1.0, "b"]}}),
     "properties.invariance.scales[1]: 'b' is a str; expected float"),
    (profile(properties={"invariance": {"max_images": 2.5}}),
     "properties.invariance.max_images: 2.5 is a float; expected int | None"),
    (profile(properties={"calibration": [15]}), "properties.calibration: expected a mapping, got list"),
])
def test_wrong_type_names_key_value_and_expected_type(data, expected):
    assert error_of(data, check_models=False) == expected


def test_a_string_where_a_list_belongs_says_how_to_write_the_list():
    msg = error_of({"name": "t", "models": "vit"})
    assert msg.startswith("profile.models: 'vit' is a str; expected list[str]")
    assert "`models: [vit]`" in msg
    msg = error_of(profile(properties={"robustness": {"variants": "imagenet-a"}}))
    assert "properties.robustness.variants: 'imagenet-a' is a str" in msg and "[imagenet-a]" in msg


def test_ints_accepted_where_floats_are_expected():
    prof = validate_profile(profile(properties={"invariance": {"scales": [1, 2.5]}}), check_models=False)
    assert prof.settings("invariance").scales == [1, 2.5]


# ------------------------------------------------------------------------------ values
@pytest.mark.parametrize("data, fragment", [
    (profile(device="gpu"), "profile.device: 'gpu'; accepted: auto, cpu, cuda, cuda:N"),
    (profile(device="cuda:"), "profile.device: 'cuda:'"),
    (profile(precision="fp8"), "profile.precision: 'fp8'; accepted: auto, fp32, bf16, fp16"),
    (profile(decode="nvjpeg"), "profile.decode: 'nvjpeg'; accepted: auto, pil, tensor, hybrid"),
    (profile(preprocessing="timm"), "profile.preprocessing: 'timm'; accepted: paper, library"),
    (profile(clip_prompts="openai80"), "profile.clip_prompts: 'openai80'; accepted: paper, openai7"),
    (profile(batch_size=0), "profile.batch_size: 0; must be >= 1"),
    (profile(models=[]), "profile.models: empty"),
    ({"name": "t"}, "missing required key 'models'"),
    (profile(properties={"calibration": {"n_bins": 0}}), "properties.calibration.n_bins: 0; must be >= 1"),
    (profile(properties={"shape_bias": {"max_images": 0}}),
     "properties.shape_bias.max_images: 0; must be >= 1 (or null for all)"),
    (profile(properties={"invariance": {"scales": [1.0, -2.0]}}),
     "properties.invariance.scales: [1.0, -2.0]; every entry must be > 0"),
    (profile(properties={"invariance": {"shifts": [0, -5]}}), "properties.invariance.shifts: [0, -5]"),
    (profile(properties={"robustness": {"variants": ["imagenet-a", "imagenet-z"]}}),
     "properties.robustness.variants: unknown dataset 'imagenet-z'"),
    (profile(properties={"robustness": {"corruptions": ["fogg"]}}),
     "unknown corruption 'fogg' (did you mean 'fog'?); accepted: gaussian_noise"),
    (profile(properties={"transfer": {"tasks": ["digits", "dtdd"]}}),
     "properties.transfer.tasks: unknown task 'dtdd' (did you mean 'dtd'?); accepted: digits, caltech101"),
])
def test_bad_value_names_key_and_accepted_values(data, fragment):
    assert fragment in error_of(data, check_models=False)


def test_unknown_dataset_variant_lists_the_known_ones():
    msg = error_of(profile(properties={"robustness": {"variants": ["imagenet-z"]}}), check_models=False)
    assert "known: " in msg
    for known in ("imagenet-a", "imagenet-c", "imagenet-r", "imagenet-v2", "imagenet-sketch"):
        assert known in msg


def test_unknown_model_lists_registered_keys_without_quote_noise():
    t0 = time.perf_counter()
    msg = error_of({"name": "t", "models": [MODEL, "vit_supp"]})
    assert time.perf_counter() - t0 < 30  # no weights loaded, nothing downloaded
    assert msg.startswith("profile.models: unknown model 'vit_supp' (did you mean 'vit_sup'?)")
    for key in ("convnext_sup", "vit_sup", "convnext_clip", "vit_clip", "efficientnet_lite0", MODEL):
        assert key in msg
    assert "timm:<name>" in msg  # the generic forms are named too
    assert not msg.startswith('profile.models: "')  # str(KeyError) would wrap it in quotes


def test_bad_data_root_says_what_to_do(tmp_path):
    missing = tmp_path / "nope"
    msg = error_of(profile(data_root=str(missing)), check_models=False)
    assert f"profile.data_root: '{missing}' is not a folder" in msg
    assert "beyond-inet data check" in msg
    ok = validate_profile(profile(data_root=str(tmp_path)), check_models=False)
    assert ok.resolved_data_root() == tmp_path.resolve()


def test_top_level_must_be_a_mapping():
    assert error_of(["models", MODEL]).startswith("profile: expected a mapping")


# --------------------------------------------------------------------------- YAML files
def write(tmp_path: Path, text: str, name: str = "p.yaml") -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


def test_invalid_yaml_names_file_and_line(tmp_path):
    p = write(tmp_path, "models: [tiny_vit_untrained\nbatch_size: 3\n")
    with pytest.raises(ProfileError) as e:
        load_profile(p)
    msg = str(e.value)
    assert msg.startswith(f"{p}: not valid YAML") and "line 2" in msg


def test_yaml_list_at_top_level(tmp_path):
    with pytest.raises(ProfileError, match="expected a mapping of `key: value` lines"):
        load_profile(write(tmp_path, "- efficientnet_lite0\n- vit_sup\n"))


def test_missing_profile_lists_the_known_profiles(tmp_path):
    with pytest.raises(ProfileError) as e:
        load_profile("no_such_profile")
    msg = str(e.value)
    assert "'no_such_profile' not found at" in msg and str(PARAMS_DIR / "no_such_profile.yaml") in msg
    assert "known profiles: " in msg and all(n in msg for n in ("demo", "paper", "tiny"))
    with pytest.raises(ProfileError, match="not found"):
        load_profile(tmp_path / "absent.yaml")


def test_name_defaults_to_the_file_stem_and_overrides_apply(tmp_path):
    p = write(tmp_path, f"models: [{MODEL}]\nbatch_size: 4\n", "mine.yaml")
    prof = load_profile(p, overrides={"batch_size": 2, "data_root": None}, check_models=False)
    assert (prof.name, prof.batch_size, prof.data_root) == ("mine", 2, None)
    with pytest.raises(ProfileError, match="profile.batch_size: 'x' is a str"):
        load_profile(p, overrides={"batch_size": "x"}, check_models=False)


@pytest.mark.parametrize("name", ["demo", "paper", "tiny"])
def test_shipped_profiles_validate(name):
    prof = load_profile(name)
    assert isinstance(prof, Profile) and prof.name == name and prof.models
    assert set(prof.properties) <= set(PROPERTIES)
    for prop in PROPERTIES:  # every property has settings, given or default
        assert isinstance(prof.settings(prop), PROPERTIES[prop].settings)


# --------------------------------------------------------------------------------- CLI
def test_cli_report_with_bad_profile_exits_2_without_traceback_or_notebook(tmp_path, capsys):
    name = f"reliability-bad-{tmp_path.name}"
    p = write(tmp_path, "models: [tiny_vit_untrained]\nbatchsize: 8\n", f"{name}.yaml")
    t0 = time.perf_counter()
    code = cli.main(["report", "--profile", str(p)])
    elapsed = time.perf_counter() - t0
    err = capsys.readouterr().err
    assert code == 2
    assert elapsed < 20  # no notebook ran (one notebook alone takes longer than this)
    assert err.startswith("beyond-inet: profile: unknown key 'batchsize' (did you mean 'batch_size'?)")
    assert "Traceback" not in err
    assert not (PROJECT_ROOT / "reports" / name).exists()


def test_cli_report_with_invalid_yaml_and_unknown_profile(tmp_path, capsys):
    name = f"reliability-broken-{tmp_path.name}"
    p = write(tmp_path, "models: [a\n  b: c\n", f"{name}.yaml")
    assert cli.main(["report", "--profile", str(p)]) == 2
    err = capsys.readouterr().err
    assert "not valid YAML" in err and "Traceback" not in err
    assert cli.main(["report", "--profile", "no_such_profile"]) == 2
    assert "known profiles: " in capsys.readouterr().err
    assert not (PROJECT_ROOT / "reports" / name).exists()
