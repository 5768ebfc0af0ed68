"""Automatic capture through real ML frameworks (``auto_connect_frameworks``): each test runs a real script with
the real package on a tiny model or data made in the test, then reads what was captured through the public API.

The packages are the ``frameworks`` extra (``pip install -e '.[test,frameworks]'``); fastai, whose package
requires torchvision (which does not import beside the CPU torch), is installed apart:
``pip install --no-deps fastai==2.8.12 fastcore fastdownload fasttransform plum-dispatch beartype
fastprogress==1.0.3``. A test whose package is missing is skipped."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import fstrack
from fstrack import Task
from fstrack.sdk import current

pytestmark = pytest.mark.frameworks


@pytest.fixture
def store(tmp_path, monkeypatch, isolated_tasks):
    """A local store this test process reads and the scripts it runs write."""
    url = str(tmp_path / "store")
    fstrack.set_store(url)
    yield url
    current.main = None


def run(code: str, store: str, tmp_path: Path, *args: str, env: dict | None = None, timeout: float = 600) -> dict:
    """Run ``code`` as a script (cwd ``tmp_path``) against ``store``; return the JSON its last line prints."""
    script = tmp_path / "script.py"
    script.write_text(textwrap.dedent(code))
    child_env = {k: v for k, v in os.environ.items() if not k.startswith("FSTRACK_")}
    child_env.update(FSTRACK_URL=store, FSTRACK_CACHE_DIR=str(tmp_path / "script-cache"), **(env or {}))
    done = subprocess.run(
        [sys.executable, str(script), *args],
        cwd=tmp_path,
        env=child_env,
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def scalars(task_id: str) -> dict[str, dict[str, dict[int, float]]]:
    """{title: {series: {iteration: value}}} of a task."""
    reported = Task.get_task(task_id=task_id).get_reported_scalars()
    return {t: {s: dict(zip(v["x"], v["y"], strict=True)) for s, v in ss.items()} for t, ss in reported.items()}


# -- TensorBoard ---------------------------------------------------------------------------------------------
TENSORBOARD = """
    import json, os, sys
    import numpy as np
    from fstrack import Task, Logger
    flavour = sys.argv[1]
    if flavour == "grouped":
        Logger.tensorboard_auto_group_scalars(True)
    option = {"tensorboard": {"report_hparams": flavour != "nohp"}}
    task = Task.init("fw", f"tb-{flavour}", auto_connect_frameworks=option)
    if flavour == "tensorboardX":
        from tensorboardX import SummaryWriter
    else:
        from torch.utils.tensorboard import SummaryWriter
    train, val = SummaryWriter("runs/train"), SummaryWriter("runs/val")
    for step in range(4):
        train.add_scalar("loss/total", 1.0 / (step + 1), step)
        val.add_scalar("loss/total", 2.0 / (step + 1), step)
        train.add_scalar("accuracy", step / 4, step)
        train.add_scalars("lr", {"head": 0.5 * step, "body": 0.25 * step}, step)
    rng = np.random.default_rng(0)
    train.add_image("samples/input", rng.random((3, 8, 8)), 2)
    train.add_histogram("weights", rng.standard_normal(1000), 3)
    train.add_text("notes", "hello from tensorboard", 1)
    if flavour != "tensorboardX":  # tensorboardX's add_audio needs soundfile
        train.add_audio("sound", rng.random((1, 800)) * 2 - 1, 0, sample_rate=8000)
    train.add_pr_curve("pr", rng.integers(0, 2, 100), rng.random(100), 4)
    train.add_hparams({"lr": 0.1, "layers": 3}, {"hparam/score": 0.75})
    train.close(); val.close()
    task.close()
    print(json.dumps({"task": task.id, "events": sorted(os.listdir("runs/train"))}))
"""


@pytest.mark.parametrize("flavour", ["torch", "tensorboardX"])
def test_tensorboard_summary_writer(flavour, store, tmp_path):
    pytest.importorskip("torch" if flavour == "torch" else "tensorboardX")
    out = run(TENSORBOARD, store, tmp_path, flavour)
    assert any(name.startswith("events.out.tfevents") for name in out["events"])  # event files still written
    got = scalars(out["task"])
    assert got["loss"]["total"] == pytest.approx({0: 1.0, 1: 0.5, 2: 1 / 3, 3: 0.25})
    assert got["loss"]["val: total"] == pytest.approx({0: 2.0, 1: 1.0, 2: 2 / 3, 3: 0.5})  # the second writer
    assert got["accuracy"]["accuracy"] == pytest.approx({0: 0.0, 1: 0.25, 2: 0.5, 3: 0.75})
    assert got["lr"]["head"] == pytest.approx({0: 0, 1: 0.5, 2: 1.0, 3: 1.5})
    assert got["lr"]["body"] == pytest.approx({0: 0, 1: 0.25, 2: 0.5, 3: 0.75})
    assert got["hparam"]["score"] == pytest.approx({0: 0.75})
    task = Task.get_task(task_id=out["task"])
    plots = {(p["metric"], p["variant"], p["iter"]) for p in task.get_reported_plots()}
    assert {("Histograms", "weights", 3), ("pr", "pr", 4)} <= plots
    assert [s["iter"] for s in task.get_debug_samples("samples", "input")] == [2]
    if flavour == "torch":
        assert [s["iter"] for s in task.get_debug_samples("Audio", "sound")] == [0]
    text = task.get_debug_samples("notes", "text_summary")
    assert len(text) == 1
    params = task.get_parameters()
    assert params["TB_hparams/lr"] == "0.1" and params["TB_hparams/layers"] == "3"


def test_tensorboard_grouping_switches_and_off(store, tmp_path):
    pytest.importorskip("torch")
    grouped = scalars(run(TENSORBOARD, store, tmp_path, "grouped")["task"])
    assert "Scalars" in grouped and "accuracy" in grouped["Scalars"]
    no_hparams = run(TENSORBOARD, store, tmp_path, "nohp")["task"]
    assert not any(k.startswith("TB_hparams/") for k in Task.get_task(task_id=no_hparams).get_parameters())
    off = run(
        TENSORBOARD.replace('{"tensorboard": {"report_hparams": flavour != "nohp"}}', '{"tensorboard": False}'),
        store,
        tmp_path,
        "torch",
    )
    assert scalars(off["task"]) == {} and any(n.startswith("events.out") for n in off["events"])


# -- fstrack run: libraries that call ClearML themselves -------------------------------------------------------
def fstrack_run(code: str, store: str, tmp_path: Path, timeout: float = 600) -> dict:
    """``fstrack run -- python script.py`` with ``code``; the JSON its last line prints."""
    (tmp_path / "script.py").write_text(textwrap.dedent(code))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FSTRACK_", "CLEARML_"))}
    env.update(FSTRACK_CACHE_DIR=str(tmp_path / "script-cache"), HF_HUB_OFFLINE="1")
    command = [sys.executable, "-m", "fstrack", "run", "--url", store, "--", sys.executable, "script.py"]
    done = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, done.stderr[-4000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


HF_TRAINER = """
    import json, subprocess, sys
    import torch
    from transformers import BertConfig, BertForSequenceClassification, Trainer, TrainingArguments

    torch.manual_seed(0)
    config = BertConfig(vocab_size=40, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=32, max_position_embeddings=16, num_labels=2)
    data = [{"input_ids": torch.randint(0, 40, (8,)), "attention_mask": torch.ones(8, dtype=torch.long),
             "labels": torch.tensor(i % 2)} for i in range(16)]
    args = TrainingArguments(output_dir="out", report_to="clearml", max_steps=4, logging_steps=1,
                             per_device_train_batch_size=4, save_strategy="steps", save_steps=4, use_cpu=True)
    Trainer(model=BertForSequenceClassification(config), args=args, train_dataset=data).train()
    import clearml
    child = subprocess.run([sys.executable, "-c", "import clearml; print(clearml.__file__)"],
                           capture_output=True, text=True, check=True).stdout.strip()
    print(json.dumps({"clearml": clearml.__file__, "child": child}))
"""


@pytest.mark.slow
def test_fstrack_run_hf_transformers_clearml_callback(store, tmp_path):
    pytest.importorskip("transformers")
    out = fstrack_run(HF_TRAINER, store, tmp_path)
    assert "clearml_shim" in out["clearml"] and "clearml_shim" in out["child"]  # the process and its children
    (task,) = Task.get_tasks(project_name="HuggingFace Transformers", task_name="Trainer")
    got = scalars(task.id)
    assert set(got["train"]) >= {"loss", "learning_rate", "grad_norm"} and sorted(got["train"]["loss"]) == [1, 2, 3, 4]
    params = task.get_parameters()
    assert params["Transformers/max_steps"] == "4" and params["Transformers/per_device_train_batch_size"] == "4"
    config = task.get_configuration_object_as_dict("Model Configuration")
    assert config["hidden_size"] == 16 and config["id2label"] == {"0": "LABEL_0", "1": "LABEL_1"}
    (model,) = task.models["output"]
    assert model.name == "checkpoint-4"


ACCELERATE = """
    import json
    from accelerate import Accelerator
    accelerator = Accelerator(log_with="clearml", cpu=True)
    accelerator.init_trackers("accelerate-run", config={"lr": 0.1, "layers": 2})
    for step in range(3):
        accelerator.log({"train_loss": 1.0 / (step + 1), "eval_accuracy": step / 3}, step=step)
    task_id = accelerator.get_tracker("clearml").tracker.id
    accelerator.end_training()
    print(json.dumps({"task": task_id}))
"""


def test_fstrack_run_accelerate_clearml_tracker(store, tmp_path):
    pytest.importorskip("accelerate")
    out = fstrack_run(ACCELERATE, store, tmp_path)
    got = scalars(out["task"])
    assert got["loss"]["train"] == pytest.approx({0: 1.0, 1: 0.5, 2: 1 / 3})
    assert got["accuracy"]["eval"] == pytest.approx({0: 0.0, 1: 1 / 3, 2: 2 / 3})
    assert Task.get_task(task_id=out["task"]).get_configuration_object_as_dict("General") == {"lr": 0.1, "layers": 2}


def test_real_clearml_is_not_shadowed_outside_fstrack_run(tmp_path):
    pytest.importorskip("clearml")
    env = {k: v for k, v in os.environ.items() if not k.startswith("FSTRACK_")}
    found = subprocess.run(
        [sys.executable, "-c", "import clearml; print(clearml.__file__)"], env=env, capture_output=True, text=True
    )
    assert found.returncode == 0 and "clearml_shim" not in found.stdout and "site-packages" in found.stdout


def test_fstrack_run_errors_are_one_line(tmp_path):
    for args, message in (([], "no command given"), (["--bogus", "python"], "unknown option '--bogus'")):
        done = subprocess.run([sys.executable, "-m", "fstrack", "run", *args], capture_output=True, text=True)
        assert done.returncode == 2 and message in done.stderr and len(done.stderr.splitlines()) == 1
    missing = subprocess.run(
        [sys.executable, "-m", "fstrack", "run", "--", "no-such-program-xyz"], capture_output=True, text=True
    )
    assert missing.returncode == 127 and "no-such-program-xyz" in missing.stderr


# -- parameters from Hydra, jsonargparse, fire, absl: recorded, then overridden by an agent's run -------------
HYDRA_CONFIG = "training:\n  lr: 0.1\n  epochs: 2\nname: base\n"
HYDRA = """
    import json
    import hydra
    from fstrack import Task

    @hydra.main(version_base=None, config_path="conf", config_name="config")
    def main(cfg):
        task = Task.init("fw", "hydra")
        print(json.dumps({"task": task.id, "lr": cfg.training.lr, "epochs": cfg.training.epochs}))

    main()
"""
JSONARGPARSE = """
    import json
    from jsonargparse import CLI
    from fstrack import Task

    def train(lr: float = 0.1, depth: int = 2, name: str = "base"):
        task = Task.init("fw", "jsonargparse")
        print(json.dumps({"task": task.id, "lr": lr, "depth": depth, "name": name}))

    CLI(train)
"""
FIRE = """
    import json
    import fire
    from fstrack import Task

    def train(lr=0.1, depth=2, name="base"):
        task = Task.init("fw", "fire")
        print(json.dumps({"task": task.id, "lr": lr, "depth": depth, "name": name}))

    fire.Fire(train)
"""
ABSL = """
    import json
    from absl import app, flags
    from fstrack import Task

    flags.DEFINE_float("lr", 0.1, "learning rate")
    flags.DEFINE_integer("depth", 2, "layers")

    def main(argv):
        task = Task.init("fw", "absl")
        print(json.dumps({"task": task.id, "lr": flags.FLAGS.lr, "depth": flags.FLAGS.depth}))

    app.run(main)
"""

PARSER_CASES = {
    # library: (script, command line, parameters recorded, edits made in the clone, what the agent's run sees)
    "hydra": (
        HYDRA,
        ["training.lr=0.5"],
        {"Hydra/training.lr": "0.5"},
        {"Hydra/training.lr": "0.9", "Hydra/training.epochs": "7"},
        {"lr": 0.9, "epochs": 7},
    ),
    "jsonargparse": (
        JSONARGPARSE,
        ["--lr", "0.5"],
        {"Args/lr": "0.5", "Args/depth": "2", "Args/name": "base"},
        {"Args/lr": "0.9", "Args/name": "edited"},
        {"lr": 0.9, "depth": 2, "name": "edited"},
    ),
    "fire": (
        FIRE,
        ["--lr", "0.5"],
        {"Args/lr": "0.5", "Args/depth": "2", "Args/name": "base"},
        {"Args/depth": "5", "Args/name": "edited"},
        {"lr": 0.5, "depth": 5, "name": "edited"},
    ),
    "absl": (
        ABSL,
        ["--lr", "0.5"],
        {"TF_DEFINE/lr": "0.5", "TF_DEFINE/depth": "2"},
        {"TF_DEFINE/depth": "4"},
        {"lr": 0.5, "depth": 4},
    ),
}


@pytest.mark.parametrize("library", list(PARSER_CASES))
def test_parser_library_parameters_and_agent_override(library, store, tmp_path):
    pytest.importorskip({"absl": "absl.flags"}.get(library, library))
    script, argv, recorded, edits, overridden = PARSER_CASES[library]
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "config.yaml").write_text(HYDRA_CONFIG)
    local = run(script, store, tmp_path, *argv)
    task = Task.get_task(task_id=local["task"])
    assert recorded.items() <= task.get_parameters().items()
    if library == "hydra":
        assert "lr: 0.5" in task.get_configuration_object("OmegaConf")
    clone = Task.clone(task, name=f"{library} edited")
    for name, value in edits.items():
        clone.set_parameter(name, value)
    # what `fstrack agent` does for the clone: the same script and command line, with FSTRACK_TASK_ID set
    remote = run(script, store, tmp_path, *argv, env={"FSTRACK_TASK_ID": clone.id})
    assert remote["task"] == clone.id
    assert {k: remote[k] for k in overridden} == overridden


# -- gradient boosting: per-iteration metrics as scalars, model files as models ------------------------------
BOOSTING = """
    import json, sys
    import numpy as np
    from fstrack import Task
    task = Task.init("fw", sys.argv[1], auto_connect_frameworks={sys.argv[1]: ["*.model", "*.json", "*.cbm"]})
    rng = np.random.default_rng(0)
    x = rng.random((60, 3)); y = (x[:, 0] > 0.5).astype(int)
    library = sys.argv[1]
    if library == "xgboost":
        import xgboost as xgb
        train, valid = xgb.DMatrix(x[:40], y[:40]), xgb.DMatrix(x[40:], y[40:])
        booster = xgb.train({"objective": "binary:logistic", "eval_metric": "logloss"}, train, num_boost_round=5,
                            evals=[(train, "train"), (valid, "valid")])
        booster.save_model("booster.json")
        booster.save_model("ignored.ubj")  # not matched by the wildcards
        xgb.Booster().load_model("booster.json")
    elif library == "lightgbm":
        import lightgbm as lgb
        train = lgb.Dataset(x[:40], y[:40]); valid = lgb.Dataset(x[40:], y[40:], reference=train)
        params = {"objective": "binary", "metric": "binary_logloss", "verbose": -1, "min_data_in_leaf": 2}
        booster = lgb.train(params, train, num_boost_round=5, valid_sets=[train, valid], valid_names=["train", "valid"])
        booster.save_model("booster.model")
        lgb.Booster(model_file="booster.model")
    else:
        from catboost import CatBoostClassifier
        model = CatBoostClassifier(iterations=5, verbose=False, allow_writing_files=False)
        model.fit(x[:40], y[:40], eval_set=(x[40:], y[40:]))
        model.save_model("booster.cbm")
        CatBoostClassifier().load_model("booster.cbm")
    task.close()
    print(json.dumps({"task": task.id}))
"""
BOOSTING_METRICS = {  # library: (titles, series, iterations reported (CatBoost counts from 1), model file)
    "xgboost": ({"train", "valid"}, "logloss", [0, 1, 2, 3, 4], "booster.json"),
    "lightgbm": ({"train", "valid"}, "binary_logloss", [0, 1, 2, 3, 4], "booster.model"),
    "catboost": ({"learn", "validation"}, "Logloss", [1, 2, 3, 4, 5], "booster.cbm"),
}


@pytest.mark.parametrize("library", list(BOOSTING_METRICS))
def test_boosting_metrics_and_models(library, store, tmp_path):
    pytest.importorskip(library)
    titles, metric, iterations, model_file = BOOSTING_METRICS[library]
    task_id = run(BOOSTING, store, tmp_path, library)["task"]
    got = scalars(task_id)
    assert titles <= set(got)
    for title in titles:
        assert sorted(got[title][metric]) == iterations
    task = Task.get_task(task_id=task_id)
    (output,) = task.models["output"]  # the file the wildcards leave out is not registered
    assert output.name == f"{library} - booster"
    assert output.framework == {"xgboost": "XGBoost", "lightgbm": "LightGBM", "catboost": "CatBoost"}[library]
    (loaded,) = task.models["input"]
    assert loaded.url.endswith(model_file)


# -- PyTorch Lightning: its TensorBoard logger and checkpoints -----------------------------------------------
LIGHTNING = """
    import json
    import torch
    import lightning as L
    from lightning.pytorch.callbacks import ModelCheckpoint
    from lightning.pytorch.loggers import TensorBoardLogger
    from fstrack import Task

    task = Task.init("fw", "lightning")

    class Tiny(L.LightningModule):
        def __init__(self):
            super().__init__()
            self.layer = torch.nn.Linear(3, 1)

        def training_step(self, batch, _):
            x, y = batch
            loss = torch.nn.functional.mse_loss(self.layer(x), y)
            self.log("train_loss", loss, on_step=True, on_epoch=False)
            return loss

        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), lr=0.1)

    torch.manual_seed(0)
    x = torch.rand(16, 3)
    data = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, x.sum(1, keepdim=True)), batch_size=4)
    trainer = L.Trainer(max_epochs=2, accelerator="cpu", logger=TensorBoardLogger("tb"), log_every_n_steps=1,
                        callbacks=[ModelCheckpoint(dirpath="ckpt", filename="tiny", save_last=False)],
                        enable_progress_bar=False, enable_model_summary=False)
    trainer.fit(Tiny(), data)
    task.close()
    print(json.dumps({"task": task.id}))
"""


@pytest.mark.slow
def test_lightning_tensorboard_logger_and_checkpoints(store, tmp_path):
    pytest.importorskip("lightning")
    task_id = run(LIGHTNING, store, tmp_path)["task"]
    got = scalars(task_id)
    assert sorted(got["train_loss"]["train_loss"]) == list(range(8))  # 2 epochs x 4 steps
    assert sorted(got["epoch"]["epoch"]) == list(range(8))
    (model,) = Task.get_task(task_id=task_id).models["output"]
    assert model.name == "lightning - tiny" and model.framework == "PyTorch"


# -- fastai ----------------------------------------------------------------------------------------------------
FASTAI = """
    import json
    import torch
    from fastai.data.core import DataLoaders
    from fastai.learner import Learner
    from fastai.metrics import mae
    from fstrack import Task

    task = Task.init("fw", "fastai")
    torch.manual_seed(0)
    x = torch.rand(32, 3)
    data = list(zip(x, x.sum(1, keepdim=True)))
    loaders = DataLoaders.from_dsets(data[:24], data[24:], bs=8, device="cpu")
    learn = Learner(loaders, torch.nn.Linear(3, 1), loss_func=torch.nn.functional.mse_loss, metrics=[mae])
    with learn.no_logging():
        learn.fit(2, lr=0.1)
    learn.save("tiny")
    task.close()
    print(json.dumps({"task": task.id}))
"""


def test_fastai_losses_metrics_and_saved_model(store, tmp_path):
    pytest.importorskip("torch")  # fastai is installed without its dependencies (see .ci/run)
    pytest.importorskip("fastai")
    task_id = run(FASTAI, store, tmp_path)["task"]
    got = scalars(task_id)
    assert sorted(got["metrics_0"]["train_loss"]) == [1, 2, 3, 4, 5, 6]  # 2 epochs x 3 batches
    assert sorted(got["metrics_0"]["valid_loss"]) == [3, 6] and sorted(got["metrics_0"]["valid_mae"]) == [3, 6]
    assert sorted(got["lr_0"]["lr"]) == [1, 2, 3, 4, 5, 6]
    (model,) = Task.get_task(task_id=task_id).models["output"]
    assert model.name == "fastai - tiny" and model.framework == "PyTorch"


# -- environment variables, megengine --------------------------------------------------------------------------
ENVIRONMENT = """
    import json, os, warnings
    from fstrack import Task
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        task = Task.init("fw", "environment", auto_connect_frameworks={"megengine": True})
    print(json.dumps({"task": task.id, "MY_A": os.environ["MY_A"], "warnings": [str(w.message) for w in caught]}))
"""


def test_environment_variables_named_in_the_setting_and_megengine_warning(store, tmp_path):
    env = {
        "FSTRACK_LOG_ENVIRONMENT": "MY_*, EXACT_API_KEY",
        "MY_A": "1",
        "MY_SECRET_KEY": "never stored",  # a credential-like name matched only by a wildcard
        "EXACT_API_KEY": "named exactly",
    }
    out = run(ENVIRONMENT, store, tmp_path, env=env)
    assert any("megengine" in w and "not supported" in w for w in out["warnings"])
    task = Task.get_task(task_id=out["task"])
    recorded = {k: v for k, v in task.get_parameters().items() if k.startswith("Environment/")}
    assert recorded == {"Environment/MY_A": "1", "Environment/EXACT_API_KEY": "named exactly"}
    clone = Task.clone(task, name="environment edited")
    clone.set_parameter("Environment/MY_A", "2")
    remote = run(ENVIRONMENT, store, tmp_path, env={**env, "FSTRACK_TASK_ID": clone.id})
    assert remote["MY_A"] == "2"


# -- TensorFlow / Keras: tf.summary (and the TensorBoard callback), model saves and loads --------------------
KERAS = """
    import json
    import numpy as np
    from fstrack import Task
    task = Task.init("fw", "keras")
    import tensorflow as tf
    import keras
    with tf.summary.create_file_writer("tb/custom").as_default():
        for step in range(3):
            tf.summary.scalar("loss/custom", 1.0 / (step + 1), step=step)
        tf.summary.histogram("weights", np.random.default_rng(0).standard_normal(100), step=1)
        tf.summary.image("samples", np.random.default_rng(0).random((1, 8, 8, 3)), step=2)
        tf.summary.text("notes", "hello from tf", step=0)
    x = np.random.default_rng(0).random((32, 3)).astype("float32")
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    model.fit(x, x.sum(1, keepdims=True), epochs=2, batch_size=8, verbose=0,
              callbacks=[keras.callbacks.TensorBoard("tb/fit"), keras.callbacks.ModelCheckpoint("ckpt.keras")])
    model.save_weights("tiny.weights.h5")
    keras.models.load_model("ckpt.keras")
    task.close()
    print(json.dumps({"task": task.id}))
"""


@pytest.mark.slow
def test_tensorflow_summaries_and_keras_models(store, tmp_path):
    pytest.importorskip("tensorflow")
    task_id = run(KERAS, store, tmp_path)["task"]
    got = scalars(task_id)
    assert got["loss"]["custom"] == pytest.approx({0: 1.0, 1: 0.5, 2: 1 / 3})
    assert sorted(got["epoch_loss"]["epoch_loss"]) == [0, 1]  # Keras' TensorBoard callback
    task = Task.get_task(task_id=task_id)
    assert ("Histograms", "weights", 1) in {(p["metric"], p["variant"], p["iter"]) for p in task.get_reported_plots()}
    assert len(task.get_debug_samples("Images", "samples")) == 1 and len(task.get_debug_samples("Text", "notes")) == 1
    assert sorted(m.name for m in task.models["output"]) == ["keras - ckpt", "keras - tiny.weights"]
    assert {m.framework for m in task.models["output"]} == {"Keras"}
    assert [m.name for m in task.models["input"]] == ["keras - ckpt"]


# -- a real `fstrack agent` run of an edited clone: Hydra, jsonargparse and fire values overridden --------------
AGENT_COMBO = """
    import json
    from dataclasses import dataclass
    import fire
    import hydra
    from hydra.core.config_store import ConfigStore
    from jsonargparse import CLI
    from fstrack import Task

    @dataclass
    class Config:
        lr: float = 0.1

    ConfigStore.instance().store(name="config", node=Config)  # in code: the agent runs this file alone

    def network(depth: int = 2):
        return depth

    def data(width=3):
        return width

    @hydra.main(version_base=None, config_name="config")
    def main(cfg):
        task = Task.init("fw", "agent-combo")
        depth = CLI(network, args=["--depth", "2"])
        width = fire.Fire(data, command=["--width", "3"])
        for name, value in (("lr", cfg.lr), ("depth", depth), ("width", width)):
            task.get_logger().report_single_value(name, value)
        print(json.dumps({"task": task.id}))

    main()
"""


@pytest.mark.slow
def test_agent_run_overrides_hydra_jsonargparse_and_fire(store, tmp_path):
    for package in ("hydra", "jsonargparse", "fire"):
        pytest.importorskip(package)
    local = run(AGENT_COMBO, store, tmp_path, "lr=0.5")
    original = Task.get_task(task_id=local["task"])
    assert original.get_reported_single_values() == {"lr": 0.5, "depth": 2, "width": 3}
    clone = Task.clone(original, name="edited")
    clone.set_parameters({**clone.get_parameters(), "Hydra/lr": "0.9", "Args/depth": "7", "Args/width": "11"})
    Task.enqueue(clone, queue_name="frameworks")
    env = {k: v for k, v in os.environ.items() if not k.startswith("FSTRACK_")}
    env.update(FSTRACK_URL=store, FSTRACK_CACHE_DIR=str(tmp_path / "agent-cache"))
    agent = subprocess.run(
        [sys.executable, "-m", "fstrack", "agent", "--queue", "frameworks", "--once", "--workdir", str(tmp_path / "w")],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        stdin=subprocess.DEVNULL,
    )
    assert agent.returncode == 0, agent.stdout[-3000:] + agent.stderr[-3000:]
    clone = Task.get_task(task_id=clone.id)
    assert clone.get_status() == "completed", agent.stdout[-3000:]
    assert clone.get_reported_single_values() == {"lr": 0.9, "depth": 7, "width": 11}


# -- gradio: the app's URL recorded (there is no server to route it through) ----------------------------------
GRADIO = """
    import json
    from fstrack import Task
    task = Task.init("fw", "gradio")
    import gradio as gr
    demo = gr.Interface(fn=lambda text: text.upper(), inputs="text", outputs="text")
    demo.launch(server_name="127.0.0.1", prevent_thread_lock=True, quiet=True)
    url = demo.local_url
    demo.close()
    task.close()
    print(json.dumps({"task": task.id, "url": url}))
"""


def test_gradio_app_url_is_recorded(store, tmp_path):
    pytest.importorskip("gradio")
    out = run(GRADIO, store, tmp_path, env={"GRADIO_ANALYTICS_ENABLED": "False", "HF_HUB_OFFLINE": "1"})
    assert out["url"].startswith("http://127.0.0.1:")
    properties = Task.get_task(task_id=out["task"]).get_user_properties(value_only=True)
    assert properties["gradio_url"] == out["url"]


def test_notebook_install_makes_clearml_fstrack_for_the_kernel_and_its_children():
    code = (
        "import subprocess, sys, fstrack.clearml_shim as shim; shim.install(); import clearml; "
        "child = subprocess.run([sys.executable, '-c', 'import clearml; print(clearml.__file__)'], "
        "capture_output=True, text=True, check=True).stdout.strip(); print(clearml.__file__, child)"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("FSTRACK_")}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    here, child = done.stdout.split()
    assert "clearml_shim" in here and "clearml_shim" in child
