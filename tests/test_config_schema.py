"""A run's files are checked before anything is built from them (issue 17, items 5-6): config.json against the
schema its model's constructor and TrainConfig declare, weights and checkpoints from their safetensors headers.
Each damage is one AekitError naming the file and the fix; nothing is allocated for a size the file only claims."""
from __future__ import annotations

import contextlib
import io as stdio
import json
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
import torch
from errcase import error_line, snapshot, tiny_run
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from safetensors.torch import load_file, save_file

import aekit
from aekit import io
from aekit.cli import main
from aekit.errors import AekitError
from aekit.train.checkpoint import KEY, check_checkpoint, load_checkpoint, save_checkpoint


def cli(argv) -> tuple[int, str]:
    err = stdio.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(stdio.StringIO()):
        rc = main([str(a) for a in argv])
    return rc, err.getvalue()


def edit_config(run: Path, change) -> None:
    config = json.loads((run / io.CONFIG).read_text())
    change(config)
    (run / io.CONFIG).write_text(json.dumps(config))


# ---- config.json: types, known keys, ranges ---------------------------------------------------------------------
@pytest.mark.parametrize("hidden", [["1000"], [250.5], "16", [True]])
def test_build_refuses_widths_that_are_not_whole_numbers(hidden):
    """Accepted silently before: int("1000"), int(250.5) and the digits of "16" became widths."""
    with pytest.raises(AekitError, match=r"setting 'hidden' must be a list of .*whole numbers, got"):
        aekit.build("ae", input_shape=64, latent_dim=4, hidden=hidden)


def test_set_refuses_widths_as_strings_before_a_run_is_created(tmp_path):
    rc, err = cli(["train", "ae", "--data", "digits", "--limit", "50", "--epochs", "1", "--quiet",
                   "--set", 'hidden=["16"]', "--out", tmp_path / "R"])
    assert "hidden" in error_line(rc, err)
    assert not (tmp_path / "R").exists()


def test_part_options_are_checked_against_their_declared_defaults():
    with pytest.raises(AekitError, match=r"part 'conv' setting 'channels' must be a list of .*whole numbers"):
        aekit.build("ae", input_shape=[1, 8, 8], latent_dim=4, backbone="conv", backbone_options={"channels": "ab"})


def test_training_settings_have_declared_ranges():
    from aekit.train import TrainConfig

    for bad in ({"betas": (3.0, 0.9)}, {"weight_decay": -1.0}, {"eval_batch_size": 0}, {"seed": -1},
                {"lr": float("inf")}, {"min_lr_ratio": 2.0}, {"steps_per_epoch": 0}):
        with pytest.raises(AekitError, match="bad training setting"):
            TrainConfig(**bad)


DAMAGED_CONFIGS = {  # what was edited -> a word the message must name
    "hparams-a-number": (lambda c: c.update(hparams=3.5), "hparams"),  # TypeError before
    "data-a-number": (lambda c: c.update(data=3), "data"),  # AttributeError before
    "kind-a-list": (lambda c: c.update(kind=[]), "not aekit"),  # TypeError (unhashable) before
    "hidden-strings": (lambda c: c["hparams"].update(hidden=["16"]), "hidden"),  # built silently before
    "hidden-fraction": (lambda c: c["hparams"].update(hidden=[16.5]), "hidden"),  # built silently before
    "epochs-a-word": (lambda c: c["train"].update(epochs="many"), "epochs"),  # read by --resume only, then KeyError
    "betas-out-of-range": (lambda c: c["train"].update(betas=[3.0, 0.9]), "betas"),  # torch's ValueError on resume
    "unknown-key": (lambda c: c.update(hidden=[16]), "hidden"),  # ignored before
    "unknown-model": (lambda c: c.update(model="nosuch"), "nosuch"),
}


@pytest.mark.parametrize("case", DAMAGED_CONFIGS)
def test_load_refuses_a_damaged_config_naming_the_file_and_the_setting(tmp_path, case):
    change, word = DAMAGED_CONFIGS[case]
    run = tiny_run(tmp_path)
    edit_config(run, change)
    with pytest.raises(AekitError, match=rf"config\.json.*{word}"):
        aekit.load(run)


@pytest.mark.parametrize("case", ["hparams-a-number", "data-a-number", "epochs-a-word", "betas-out-of-range"])
def test_resume_refuses_a_damaged_config_in_one_line_and_touches_nothing(tmp_path, case):
    change, word = DAMAGED_CONFIGS[case]
    run = tiny_run(tmp_path)
    edit_config(run, change)
    before = snapshot(tmp_path)
    rc, err = cli(["train", "--resume", "--out", run, "--epochs", "3", "--quiet"])
    line = error_line(rc, err)
    assert "config.json" in line and word in line
    assert snapshot(tmp_path) == before


def test_latent_dim_the_weights_do_not_have_is_refused_before_allocating(tmp_path):
    """A config claiming latent_dim 4,000,000 (512 MB of weights for this small run) is compared with the weights
    file's header on the meta device: the process's peak memory does not grow by the model's size."""
    run = tiny_run(tmp_path)
    edit_config(run, lambda c: c["hparams"].update(latent_dim=4_000_000))
    probe = (
        "import resource, sys, aekit\n"
        "before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "try:\n    aekit.load(sys.argv[1])\nexcept aekit.AekitError as e:\n    print(e)\n"
        "print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) // 1024)\n")
    out = subprocess.run([sys.executable, "-c", probe, str(run)], capture_output=True, text=True, check=True,
                         env={"OMP_NUM_THREADS": "1", "PYTHONPATH": str(Path(aekit.__file__).parents[1])})
    message, grown_mb = out.stdout.strip().rsplit("\n", 1)
    assert "model.safetensors" in message and "config.json was edited" in message
    assert int(grown_mb) < 100, f"peak memory grew by {grown_mb} MB"


def test_build_refuses_a_model_larger_than_memory():
    with pytest.raises(AekitError, match=r"model .ae. with these settings needs \d+.* GiB, more than this machine.s"):
        aekit.build("ae", input_shape=64, latent_dim=2**40, hidden=[16])


# ---- weights: shapes and kinds of numbers, from the header ----------------------------------------------------------
def test_int64_weights_are_refused_not_truncated(tmp_path):
    run = tiny_run(tmp_path)
    state = load_file(str(run / io.WEIGHTS))
    name = next(k for k in state if k.endswith("weight"))
    state[name] = (state[name] * 100).to(torch.int64)
    save_file(state, str(run / io.WEIGHTS))
    with pytest.raises(AekitError, match=rf"model\.safetensors .*{name} is torch\.int64, the model's torch\.float32"):
        aekit.load(run)


# ---- checkpoints -----------------------------------------------------------------------------------------------
def _rewrite(path: Path, change) -> None:
    state = load_checkpoint(path)
    change(state)
    save_checkpoint(path, state)


def _bytes(path: Path, change) -> None:
    path.write_bytes(change(path.read_bytes()))


def _metadata(path: Path, text: str) -> None:
    save_file(load_file(str(path)), str(path), metadata={KEY: text})


def _first_param_state(state):
    return state["optimizers"][0]["state"][0]


DAMAGED_CHECKPOINTS = {  # name -> (damage, whether the checkpoint alone shows it, without the model)
    "truncated": (lambda p: _bytes(p, lambda b: b[: len(b) // 2]), True),
    "header-bytes-flipped": (lambda p: _bytes(p, lambda b: b[:12] + b"\xff" * 8 + b[20:]), True),
    "metadata-not-json": (lambda p: _metadata(p, '{"__dict__": [["model"'), True),
    "metadata-not-a-state": (lambda p: _metadata(p, "[1, 2, 3]"), True),
    "refers-to-a-missing-tensor": (lambda p: _metadata(p, json.dumps(
        {"__dict__": [["model", {"__dict__": [["w", {"__tensor__": "nope"}]]}]]})), True),
    "missing-keys": (lambda p: _rewrite(p, lambda s: s.pop("rng")), True),
    "rng-wrong-dtype": (lambda p: _rewrite(p, lambda s: s.update(rng=s["rng"].float())), True),
    "negative-epoch": (lambda p: _rewrite(p, lambda s: s.update(epoch=-5)), True),
    "huge-epoch": (lambda p: _rewrite(p, lambda s: s.update(epoch=10**12)), True),
    "step-inconsistent": (lambda p: _rewrite(p, lambda s: s.update(step=s["step"] + 7)), True),
    "scheduler-damaged": (lambda p: _rewrite(p, lambda s: s["schedulers"][0].update(last_epoch="2")), True),
    "optimiser-state-of-unlisted-parameter": (lambda p: _rewrite(
        p, lambda s: s["optimizers"][0]["param_groups"][0]["params"].pop()), True),
    "scheduler-lambda-state": (lambda p: _rewrite(p, lambda s: s["schedulers"][0].update(lr_lambdas=[5])), True),
    "optimiser-setting-missing": (lambda p: _rewrite(p, lambda s: s["optimizers"][0]["param_groups"][0].pop("eps")),
                                  False),
    "optimiser-moment-not-a-tensor": (lambda p: _rewrite(p, lambda s: _first_param_state(s).update(exp_avg=5)), False),
    "weights-int64": (lambda p: _rewrite(p, lambda s: s["model"].update(
        {k: v.to(torch.int64) for k, v in s["model"].items()})), False),
    "optimiser-state-for-other-shapes": (lambda p: _rewrite(
        p, lambda s: _first_param_state(s).update(exp_avg=torch.zeros(3, 3))), False),
}


@pytest.mark.parametrize("case", [c for c, (_, alone) in DAMAGED_CHECKPOINTS.items() if alone])
def test_load_checkpoint_refuses_damage_naming_the_file_and_the_fix(tmp_path, case):
    run = tiny_run(tmp_path)
    DAMAGED_CHECKPOINTS[case][0](run / io.CHECKPOINT)
    with pytest.raises(AekitError, match=r"checkpoint\.safetensors .*delete it"):
        load_checkpoint(run / io.CHECKPOINT)


@pytest.mark.parametrize("case", DAMAGED_CHECKPOINTS)
def test_resume_from_a_damaged_checkpoint_is_one_line_and_touches_nothing(tmp_path, case):
    """6 of 8 such checkpoints gave tracebacks, and epoch -5 was accepted."""
    run = tiny_run(tmp_path)
    DAMAGED_CHECKPOINTS[case][0](run / io.CHECKPOINT)
    before = snapshot(tmp_path)
    rc, err = cli(["train", "--resume", "--out", run, "--epochs", "3", "--quiet"])
    line = error_line(rc, err)
    assert "checkpoint.safetensors" in line and "delete it" in line, line
    assert snapshot(tmp_path) == before


def test_a_sound_checkpoint_still_resumes(tmp_path):
    run = tiny_run(tmp_path)
    rc, err = cli(["train", "--resume", "--out", run, "--epochs", "3", "--quiet"])
    assert rc == 0, err
    assert load_checkpoint(run / io.CHECKPOINT)["epoch"] == 3


# ---- property: whatever the mutation, only AekitError escapes ------------------------------------------------------
JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats() | st.text(max_size=6)
    | st.sampled_from(["1000", "relu", "mlp", "conv", "ae", "vae", "ddp", "cuda", "", "__tensor__", "__dict__"]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=6)


def _nodes(obj, path=()):
    yield path
    children = obj.items() if isinstance(obj, dict) else enumerate(obj) if isinstance(obj, list) else ()
    for key, value in children:
        yield from _nodes(value, path + (key,))


@st.composite
def mutations(draw, base):
    """``base`` (JSON) with one to three values deleted, replaced or added anywhere in it."""
    obj = json.loads(json.dumps(base))
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(list(_nodes(obj))))
        if not path:
            obj = draw(JSON) if draw(st.integers(0, 9)) == 0 else obj
            continue
        parent = obj
        for key in path[:-1]:
            parent = parent[key]
        action = draw(st.sampled_from(["replace", "replace", "delete", "add"]))
        if action == "delete":
            del parent[path[-1]]
        elif action == "add" and isinstance(parent, dict):
            parent[draw(st.sampled_from(["hidden", "latent_dim", "epochs", "kind", "bogus", "source"]))] = draw(JSON)
        else:
            parent[path[-1]] = draw(JSON)
    return obj


@pytest.fixture(scope="module")
def base_run(tmp_path_factory) -> Path:
    return tiny_run(tmp_path_factory.mktemp("base"))


PROPERTY = settings(max_examples=120, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                           HealthCheck.function_scoped_fixture])


@contextlib.contextmanager
def _copy(base_run: Path):
    """A copy of ``base_run`` to damage, removed afterwards."""
    with tempfile.TemporaryDirectory(prefix="aekit-mut-") as d:
        shutil.copytree(base_run, Path(d) / "run")
        yield Path(d) / "run"


@PROPERTY
@given(data=st.data())
def test_only_aekit_errors_escape_load_of_a_mutated_config(base_run, data):
    config = data.draw(mutations(json.loads((base_run / io.CONFIG).read_text())))
    with _copy(base_run) as run:
        (run / io.CONFIG).write_text(json.dumps(config))
        try:
            aekit.load(run)
        except AekitError:
            pass


@settings(PROPERTY, max_examples=40)
@given(data=st.data())
def test_only_one_line_escapes_resume_of_a_mutated_config(base_run, data):
    config = data.draw(mutations(json.loads((base_run / io.CONFIG).read_text())))
    with _copy(base_run) as run:
        (run / io.CONFIG).write_text(json.dumps(config))
        # the flags keep a config that passes its checks from training long or starting processes
        rc, err = cli(["train", "--resume", "--out", run, "--epochs", "2", "--devices", "1", "--strategy", "auto",
                       "--quiet"])
    if rc != 0:
        error_line(rc, err)


@PROPERTY
@given(data=st.data())
def test_only_aekit_errors_escape_load_checkpoint_of_mutated_metadata(base_run, data):
    path = base_run / io.CHECKPOINT
    skeleton = json.loads(io.read_metadata(path)[KEY])
    model = aekit.load(base_run)
    with tempfile.TemporaryDirectory() as d:
        damaged = Path(d) / io.CHECKPOINT
        save_file(load_file(str(path)), str(damaged), metadata={KEY: json.dumps(data.draw(mutations(skeleton)))})
        for check in (lambda: load_checkpoint(damaged), lambda: check_checkpoint(damaged, model=model)):
            try:
                check()
            except AekitError:
                pass


def test_the_meta_skeleton_draws_no_random_numbers_and_matches_the_model():
    """``build`` sizes a model on the meta device first: seeded weights must be what they were without it."""
    from aekit.registry import model_names, skeleton

    for name in model_names():
        torch.manual_seed(0)
        expected = torch.rand(4)
        torch.manual_seed(0)
        described = skeleton(name)
        assert torch.equal(torch.rand(4), expected), name
        real = aekit.build(name).state_dict()
        assert {k: (v.shape, v.dtype) for k, v in described.state_dict().items()} == {
            k: (v.shape, v.dtype) for k, v in real.items()}, name


def test_config_nested_too_deeply_or_too_large_is_one_line(tmp_path):
    run = tiny_run(tmp_path)
    (run / io.CONFIG).write_text("[" * 100_000 + "]" * 100_000)  # RecursionError escaped before
    with pytest.raises(AekitError, match=r"config\.json is nested too deeply"):
        aekit.load(run)
    with open(run / io.CONFIG, "wb") as f:  # sparse: no disk used, but read whole before
        f.truncate(io.MAX_JSON_BYTES + 1)
    with pytest.raises(AekitError, match=r"config\.json holds \d+ bytes, more than"):
        aekit.load(run)


@settings(PROPERTY, max_examples=40)
@given(data=st.data())
def test_only_one_line_escapes_resume_from_mutated_checkpoint_metadata(base_run, data):
    """The loop passes its model and optimisers: their checks (optimiser entries, settings) meet the mutations too."""
    path = base_run / io.CHECKPOINT
    skeleton = json.loads(io.read_metadata(path)[KEY])
    with _copy(base_run) as run:
        save_file(load_file(str(path)), str(run / io.CHECKPOINT), metadata={KEY: json.dumps(data.draw(mutations(skeleton)))})
        rc, err = cli(["train", "--resume", "--out", run, "--epochs", "3", "--quiet"])
    if rc != 0:
        error_line(rc, err)


def test_a_pad_size_beyond_memory_is_refused_before_allocating(tmp_path):
    """``data.source.pad_to`` in config.json (or --pad-to) asked torch for 3 PB: its allocator error escaped."""
    run = tiny_run(tmp_path)
    edit_config(run, lambda c: c["data"]["source"].update(pad_to=2_000_000))
    before = snapshot(tmp_path)
    rc, err = cli(["train", "--resume", "--out", run, "--epochs", "3", "--quiet"])
    assert re.search(r"padding 8x8 images to 2000000x2000000 needs .* GiB, more than this machine's .*"
                     r"choose a pad size near the images' own \(8\)", error_line(rc, err))
    assert snapshot(tmp_path) == before
