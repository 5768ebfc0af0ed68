"""Parameters, configuration objects and labels (fstrack.sdk.parameters), through fstrack.Task and in isolation.

Parts:
* pure helpers: value encoding/casting, flatten/unflatten, key checks, the write-through dict;
* the mixin on a minimal host that follows the Task contract to the letter (``_edit`` runs ``fn`` twice on
  separate copies, so an impure ``fn`` would show);
* fstrack.Task on a real store (local and memory): connect (dict, class, instance, Namespace,
  TaskParameters, argparse, click), get/set/update/delete parameters, configuration objects, labels,
  remote overrides in-process (``FSTRACK_TASK_ID``);
* real processes: ``python script.py --lr 0.1 --epochs 3`` and the same script under the agent variable.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import pickle
import subprocess
import sys
import textwrap
from enum import Enum
from pathlib import Path

import pytest

import fstrack
from fstrack import Task
from fstrack.sdk import current
from fstrack.sdk import parameters as P
from fstrack.sdk.parameters import (
    ConnectedDict,
    ParametersMixin,
    UnsupportedTypeError,
    decode_value,
    encode_value,
    flatten_dict,
    type_name,
    unflatten_dict,
)
from fstrack.task_parameters import TaskParameters, param, percent_param


class Color(Enum):
    RED = 1
    GREEN = 2


# ================================================================================================
# pure helpers
# ================================================================================================


@pytest.mark.parametrize(
    "value, expected_type, expected_text",
    [
        (3, "int", "3"),
        (0.1, "float", "0.1"),
        (1e-05, "float", "1e-05"),
        (True, "bool", "True"),
        (False, "bool", "False"),
        ("text", "str", "text"),
        ("", "str", ""),
        (None, "NoneType", ""),
        ([1, 2, 3], "list/int", "[1, 2, 3]"),
        ([1, "a"], "list", '[1, "a"]'),
        ([], "list", "[]"),
        ((1.5, 2.5), "tuple/float", "[1.5, 2.5]"),
        ({"a": 1, "b": 2}, "dict/int", '{"a": 1, "b": 2}'),
        ({"a": 1, "b": "x"}, "dict", '{"a": 1, "b": "x"}'),
        ([[1, 2], [3]], "list/list", "[[1, 2], [3]]"),
    ],
)
def test_encode_and_cast_round_trip(value, expected_type, expected_text):
    assert type_name(value) == expected_type
    assert encode_value(value) == expected_text
    back = decode_value(expected_text, expected_type)
    assert back == value and type(back) is type(value)


def test_enum_is_stored_by_member_name():
    assert (type_name(Color.RED), encode_value(Color.RED)) == ("Color", "RED")
    assert decode_value("RED", "Color") == "RED"  # cast=True cannot know the class: the name, as ClearML


@pytest.mark.parametrize(
    "text, type_str, expected",
    [
        ("", "", None),  # untyped (old ClearML) empty string is None
        ("x", "", "x"),
        ("abc", "int", "abc"),  # not castable: the text itself
        ("3.0", "int", 3),
        ("0.5", "int", "0.5"),
        ("TRUE ", "bool", True),
        ("", "bool", False),
        ("maybe", "bool", "maybe"),
        ("(1, 2)", "tuple", (1, 2)),  # python repr accepted for containers
        ("[1, 'a']", "list", [1, "a"]),
        ("", "list/int", []),
        ("not a list", "list", "not a list"),
        ("v", "legacy", "v"),
        ("/tmp/x", "PosixPath", "/tmp/x"),
    ],
)
def test_decode_edge_cases(text, type_str, expected):
    value = decode_value(text, type_str)
    assert value == expected and type(value) is type(expected)


def test_flatten_and_unflatten():
    nested = {"a": 1, "model": {"depth": 3, "act": {"name": "relu"}}, "empty": {}, "lst": [{"x": 1}]}
    flat = flatten_dict(nested)
    assert flat == {"a": 1, "model/depth": 3, "model/act/name": "relu", "empty": {}, "lst": [{"x": 1}]}
    assert unflatten_dict(flat) == nested
    # a name that is both a value and a prefix: the nested names win (ClearML's naive nesting)
    assert unflatten_dict({"a": 1, "a/b": 2}) == {"a": {"b": 2}}
    assert unflatten_dict({"a/b": 2, "a": 1}) == {"a": {"b": 2}}


def test_check_keys_names_the_bad_key():
    P.check_keys({"a": {"b": 1}})
    with pytest.raises(UnsupportedTypeError, match=r"key 3 \(of type int\) at a/b") as info:
        P.check_keys({"a": {"b": {3: "x"}}})
    assert isinstance(info.value, TypeError) and isinstance(info.value, ValueError)


def test_connected_dict_notifies_on_every_change():
    calls = []
    d = ConnectedDict({"a": 1, "n": {"x": 1}}, lambda: calls.append(1))
    d["a"] = 2
    d["n"]["x"] = 5  # nested change reaches the root
    d.update(b=3)
    d.setdefault("b", 99)  # no change: no write
    d.setdefault("c", {"deep": 1})
    d["c"]["deep"] = 2  # a dict assigned later is watched too
    d.pop("missing", None)  # no change: no write
    del d["b"]
    d |= {"z": 0}
    assert len(calls) == 7
    assert d == {"a": 2, "n": {"x": 5}, "c": {"deep": 2}, "z": 0}
    assert d.to_dict() == d and type(d.to_dict()["n"]) is dict
    plain = pickle.loads(pickle.dumps(d))
    assert plain == d and type(plain) is dict
    deep = copy.deepcopy(d)
    assert deep == d and type(deep) is dict and type(deep["n"]) is dict
    assert json.loads(json.dumps(d)) == d


def _action(parser, dest):
    return next(a for a in parser._actions if a.dest == dest)


def test_cast_for_argparse_actions():
    p = argparse.ArgumentParser()
    p.add_argument("--lr", type=float, default=0.1)
    p.add_argument("--flag", action="store_true")
    p.add_argument("--sizes", type=int, nargs="+", default=[1])
    p.add_argument("--untyped", default=3)
    p.add_argument("--out", type=Path)
    p.add_argument("-v", action="count", default=0)
    assert P._cast_for_action(_action(p, "lr"), "0.5", "str") == 0.5
    assert P._cast_for_action(_action(p, "flag"), "true", "str") is True
    assert P._cast_for_action(_action(p, "flag"), "False", "bool") is False
    assert P._cast_for_action(_action(p, "sizes"), "[4, 5]", "str") == [4, 5]
    assert P._cast_for_action(_action(p, "sizes"), '["4", "5"]', "list/str") == [4, 5]
    assert P._cast_for_action(_action(p, "untyped"), "7", "str") == 7
    assert P._cast_for_action(_action(p, "out"), "/tmp/x", "PosixPath") == Path("/tmp/x")
    assert P._cast_for_action(_action(p, "v"), "2", "int") == 2


# ================================================================================================
# TaskParameters
# ================================================================================================


class Params(TaskParameters):
    iterations = param(type=int, desc="Number of iterations", range=(0, 100000), default=10)
    target_accuracy = percent_param(desc="The target accuracy", default=0.9)
    name = param(default="run")


def test_task_parameters_semantics():
    p = Params()
    assert p.to_dict() == {"iterations": 10, "target_accuracy": 0.9, "name": "run"}
    assert Params(5, 0.5, "x") == Params(iterations=5, target_accuracy=0.5, name="x")
    assert repr(Params()) == "Params(iterations=10, target_accuracy=0.9, name='run')"
    with pytest.raises(ValueError, match=r"iterations must be in range \[0, 100000\]"):
        Params(iterations=-1)
    with pytest.raises(TypeError, match="'target_accuracy' must be <class 'float'>"):
        Params(target_accuracy=1)  # attrs' instance_of: an int is not a float
    with pytest.raises(ValueError, match="must be in range"):
        Params(target_accuracy=1.5)
    with pytest.raises(TypeError):
        Params(iterations=None)  # range= compares None (ClearML's range validator does too)

    class Optional_(TaskParameters):
        a = param(type=int, default=None)

    assert Optional_().a is None  # type= alone accepts None (attrs' optional(instance_of))
    p.iterations = -5  # validators run in __init__ only (attr.s)
    with pytest.raises(ValueError, match="Unknown key bogus in Params object"):
        p.update_from_dict({"bogus": 1})
    p.update_from_dict({"iterations": 3})
    assert p.iterations == 3
    assert not hasattr(Params, "iterations")  # the class attribute is replaced, as attrs does

    class Sub(Params):
        extra = param(default=(1, 2))
        nested = param(factory=dict)

    s = Sub(nested={"a": Params()})
    assert list(s.to_dict()) == ["iterations", "target_accuracy", "name", "extra", "nested"]
    assert s.to_dict()["extra"] == [1, 2]  # asdict turns tuples into lists
    assert s.to_dict()["nested"] == {"a": Params().to_dict()}
    assert Sub().nested is not Sub().nested

    with pytest.raises(ValueError, match="No mandatory attributes allowed after an attribute with a default"):

        class Bad(TaskParameters):
            a = param(default=1)
            b = param()

    class Required(TaskParameters):
        a = param(type=str)

    with pytest.raises(TypeError, match="missing required argument 'a'"):
        Required()


# ================================================================================================
# the mixin on a host that follows the contract exactly
# ================================================================================================


class ContractHost(ParametersMixin):
    """Only what the Task contract promises: _data, _edit(fn, fields=) (fn runs twice on fresh copies, must be
    pure; an exception aborts), _remote_overrides(), _connect_model()."""

    def __init__(self, remote: bool = False):
        self._manifest = {"status": "created"}
        self.remote = remote
        self.edits = 0
        self.models = []

    @property
    def _data(self):
        return self._manifest

    def _edit(self, fn, *, fields=None):
        first, second = copy.deepcopy(self._manifest), copy.deepcopy(self._manifest)
        fn(first)
        fn(second)
        assert first == second, "edit functions must be pure"
        self._manifest = first
        self.edits += 1

    def _remote_overrides(self):
        return self.remote

    def _connect_model(self, model, name):
        self.models.append((model, name))
        return model


def test_contract_host_parameters():
    host = ContractHost()
    d = host.connect({"lr": 0.1, "opt": {"m": 0.9}}, name="Train")
    d["opt"]["m"] = 0.5
    host.set_parameter("General/x", [1, 2])
    host.update_parameters({"General/y": None})
    assert host.get_parameters(cast=True) == {
        "Train/lr": 0.1,
        "Train/opt/m": 0.5,
        "General/x": [1, 2],
        "General/y": None,
    }
    edits = host.edits
    host.update_parameters({"General/y": None})
    d["lr"] = 0.1
    assert host.edits == edits, "an edit that changes nothing writes no manifest"
    assert host.delete_parameter("General/x") is True
    assert host.delete_parameter("General/x") is False
    with pytest.raises(UnsupportedTypeError):
        host.connect({1: "a"})
    assert host.get_parameters(cast=True) == {"Train/lr": 0.1, "Train/opt/m": 0.5, "General/y": None}

    class Model:
        _fstrack_model = True

    m = Model()
    assert host.connect(m, name="best") is m and host.models == [(m, "best")]


def test_contract_host_remote_dict_and_in_place_update():
    host = ContractHost(remote=True)
    host._manifest["hyperparams"] = {
        "General": {
            "lr": {"value": "0.5", "type": "float", "description": ""},
            "steps": {"value": "7", "type": "str", "description": ""},
        }
    }
    code = {"lr": 0.1, "steps": 3, "new": "x", "nested": {"k": 1}}
    got = host.connect(code)
    assert got == {"lr": 0.5, "steps": 7, "new": "x", "nested": {"k": 1}}
    assert type(got["steps"]) is int  # a text edit of an int parameter comes back as the code's int
    assert code == got, "the caller's own dict receives the stored values too"
    assert host.get_parameter("General/new") == "x", "names the store lacked are stored"
    got["lr"] = 123.0  # under an agent stored values win (ClearML)
    assert got["lr"] == 0.5


# ================================================================================================
# fstrack.Task on a real store
# ================================================================================================


@pytest.fixture(autouse=True)
def clean_binding():
    """Each test starts with no parse recorded and no task bound to argparse/click."""
    P._binding.parsed.clear()
    P._binding.click_params.clear()
    P._binding.task = None
    P._binding.exclude = {}
    yield
    P._binding.parsed.clear()
    P._binding.click_params.clear()
    P._binding.task = None
    P._binding.exclude = {}


@pytest.fixture(params=["local", "memory"])
def task_store(request, location_factory, tmp_path, monkeypatch):
    loc = location_factory(request.param)
    monkeypatch.setenv("FSTRACK_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("FSTRACK_TASK_ID", raising=False)
    fstrack.set_store(loc.url, **loc.storage_options)
    current.main = None
    yield loc
    if current.main is not None:
        current.main.close()
    current.main = None


@pytest.fixture
def task(task_store):
    return Task.init("params", "exp", auto_connect_arg_parser=False)


def fresh(t):
    """The same task as another process sees it (the newest manifest from the store)."""
    return Task.get_task(task_id=t.id)


def test_connect_dict_flattens_and_writes_through(task):
    config = {
        "lr": 0.1,
        "epochs": 3,
        "use_gpu": True,
        "name": None,
        "sizes": [1, 2],
        "model": {"depth": 50, "act": {"kind": "relu"}},
        "color": Color.RED,
    }
    got = task.connect(config, name="Train")
    assert isinstance(got, dict) and got == config
    assert fresh(task).get_parameters(cast=True) == {
        "Train/lr": 0.1,
        "Train/epochs": 3,
        "Train/use_gpu": True,
        "Train/name": None,
        "Train/sizes": [1, 2],
        "Train/model/depth": 50,
        "Train/model/act/kind": "relu",
        "Train/color": "RED",
    }
    assert fresh(task).get_parameters()["Train/use_gpu"] == "True"
    assert task._data["hyperparams"]["Train"]["sizes"] == {"value": "[1, 2]", "type": "list/int", "description": ""}

    got["lr"] = 0.01
    got["model"]["depth"] = 101
    got.update(new_key="v")
    got.setdefault("other", {"inner": 1})
    got["other"]["inner"] = 2
    params = fresh(task).get_parameters(cast=True)
    assert (params["Train/lr"], params["Train/model/depth"], params["Train/new_key"], params["Train/other/inner"]) == (
        0.01,
        101,
        "v",
        2,
    )
    assert task.get_parameters_as_dict(cast=True)["Train"]["model"] == {"depth": 101, "act": {"kind": "relu"}}


def test_connect_default_section_and_unsupported(task):
    task.connect({"a": 1})
    assert task.get_parameters() == {"General/a": "1"}
    before = task._data
    with pytest.raises(TypeError, match=r"key 2 \(of type int\)"):
        task.connect({"ok": 1, "nested": {2: "x"}})
    with pytest.raises(TypeError, match=r"does not support list objects .*connect_configuration"):
        task.connect([1, 2])
    for bad in ("text", 5, None, {1, 2}):
        with pytest.raises(TypeError, match=type(bad).__name__):
            task.connect(bad)
    assert fresh(task)._data["hyperparams"] == before["hyperparams"], "failed calls change nothing"


def test_connect_values_of_unsupported_types_are_skipped(task, caplog):
    task.connect({"path": object(), "ok": 1})
    assert task.get_parameters() == {"General/ok": "1"}
    assert "General/path[object]" in caplog.text


def test_connect_class_instance_and_namespace(task):
    class Base:
        shared = 1
        overridden = "base"

    class Config(Base):
        overridden = "derived"
        lr = 0.1
        _private = 5
        layers = [64, 32]

        def method(self):
            return 1

        @property
        def prop(self):
            return 2

    assert task.connect(Config, name="Cls") is Config
    assert task.get_parameters(cast=True) == {
        "Cls/shared": 1,
        "Cls/overridden": "derived",
        "Cls/lr": 0.1,
        "Cls/layers": [64, 32],
    }
    obj = Config()
    obj.epochs = 4
    obj._hidden = 1
    assert task.connect(obj, name="Obj") is obj
    assert {k: v for k, v in task.get_parameters(cast=True).items() if k.startswith("Obj/")} == {"Obj/epochs": 4}
    ns = argparse.Namespace(batch=16, tag="x")
    assert task.connect(ns) is ns
    assert task.get_parameter("General/batch", cast=True) == 16  # a Namespace is an instance: section General


def test_get_set_update_delete(task):
    task.set_parameters({"Args/lr": 0.1, "epochs": 3}, [("Args/name", "n")], flag=True)
    assert task.get_parameters(cast=True) == {
        "Args/lr": 0.1,
        "General/epochs": 3,
        "Args/name": "n",
        "General/flag": True,
    }
    task.update_parameters({"Args/lr": 0.2}, other=[1])
    assert task.get_parameters(cast=True) == {
        "Args/lr": 0.2,
        "General/epochs": 3,
        "Args/name": "n",
        "General/flag": True,
        "General/other": [1],
    }
    task.set_parameters({"Only/x": 1})
    assert task.get_parameters() == {"Only/x": "1"}, "set_parameters replaces every section"

    assert task.get_parameter("Only/x") == "1" and task.get_parameter("Only/x", cast=True) == 1
    assert task.get_parameter("x", default="d") == "d" and task.get_parameter("Nope/x") is None

    task.set_parameter("Only/x", "5")  # text over an int parameter keeps its type
    assert task.get_parameter("Only/x", cast=True) == 5
    task.set_parameter("Only/x", 0.5)  # a typed value records its own type
    assert task.get_parameter("Only/x", cast=True) == 0.5
    task.set_parameter("Only/b", "yes", description="a flag", value_type=bool)
    assert task._data["hyperparams"]["Only"]["b"] == {"value": "yes", "type": "bool", "description": "a flag"}
    task.set_parameter("Only/b", "true")
    assert task.get_parameter("Only/b", cast=True) is True
    assert task._data["hyperparams"]["Only"]["b"]["description"] == "a flag"

    with pytest.raises(TypeError, match="positional argument 5"):
        task.set_parameters(5)
    with pytest.raises(ValueError, match="empty section or name"):
        task.set_parameter("Only/", 1)

    # ClearML's server deletes parameters of Draft tasks, or running ones with force=True
    assert task.get_status() == "in_progress"
    assert task.delete_parameter("Only/x") is False
    assert task.delete_parameter("Only/x", force=True) is True
    assert "Only/x" not in fresh(task).get_parameters()
    assert task.delete_parameter("Only/missing", force=True) is False
    with pytest.raises(ValueError, match="Section/name"):
        task.delete_parameter("noslash")


def test_delete_parameter_on_draft(task_store):
    draft = Task.create(project_name="params", task_name="draft")
    draft.set_parameter("Args/x", 1)
    assert draft.delete_parameter("Args/x") is True
    assert draft.get_parameters() == {}


def test_parameters_as_dict(task):
    task.set_parameters_as_dict({"Args": {"lr": 0.1, "sub": {"a": 1}}, "top": "v"})
    assert task.get_parameters(cast=True) == {"Args/lr": 0.1, "Args/sub/a": 1, "General/top": "v"}
    assert task.get_parameters_as_dict() == {"Args": {"lr": "0.1", "sub": {"a": "1"}}, "General": {"top": "v"}}
    assert task.get_parameters_as_dict(cast=True) == {"Args": {"lr": 0.1, "sub": {"a": 1}}, "General": {"top": "v"}}
    with pytest.raises(TypeError, match="key 1"):
        task.set_parameters_as_dict({1: 2})


def test_backwards_compatibility_legacy_parameters(task):
    task.set_parameter("Args/new", 1)
    task._edit(lambda m: m["hyperparams"]["Args"].update(old={"value": "7", "type": "legacy", "description": ""}))
    assert task.get_parameters() == {"Args/new": "1", "old": "7"}
    assert task.get_parameters(backwards_compatibility=False) == {"Args/new": "1", "Args/old": "7"}
    assert task.get_parameter("old") == "7"


def test_task_parameters_connect(task):
    p = Params(iterations=20)
    assert task.connect(p, name="TP") is p
    assert task.get_parameters(cast=True) == {"TP/iterations": 20, "TP/target_accuracy": 0.9, "TP/name": "run"}
    assert task._data["hyperparams"]["TP"]["iterations"]["description"] == "Number of iterations"
    assert p.connect(task) is p  # TaskParameters.connect(task)


def test_configuration_objects(task, tmp_path):
    conf = {"model": {"layers": [64, 32], "dropout": 0.1}, "name": "x"}
    got = task.connect_configuration(conf, description="model config")
    assert got == conf and isinstance(got, dict)
    entry = task._data["configuration"]["General"]
    assert (entry["type"], entry["description"]) == ("dictionary", "model config")
    assert json.loads(entry["value"]) == conf
    got["model"]["dropout"] = 0.5  # the connected dict writes the configuration back
    assert fresh(task).get_configuration_object_as_dict("General")["model"]["dropout"] == 0.5

    assert task.connect_configuration([1, 2, {"a": 1}], name="lst") == [1, 2, {"a": 1}]
    assert task.get_configuration_object_as_dict("lst") == [1, 2, {"a": 1}]

    yaml_file = tmp_path / "conf.yaml"
    yaml_file.write_text("lr: 0.1\nlayers: 3\n")
    assert task.connect_configuration(yaml_file, name="file") == yaml_file
    assert task.connect_configuration(str(yaml_file), name="file2") == str(yaml_file)
    assert task._data["configuration"]["file"] == {"value": "lr: 0.1\nlayers: 3\n", "type": "yaml", "description": ""}

    hocon = 'model { layers = [1, 2], "dotted.key" = yes }\nname = "x"  # comment\n'
    task.set_configuration_object("hocon", config_text=hocon, config_type="hocon")
    assert task.get_configuration_object_as_dict("hocon") == {
        "model": {"layers": [1, 2], "dotted.key": "yes"},
        "name": "x",
    }
    task.set_configuration_object("d", config_dict={"k": [1]}, description="desc")
    assert task._data["configuration"]["d"]["type"] == "dictionary"
    assert set(task.get_configuration_objects()) == {"General", "lst", "file", "file2", "hocon", "d"}
    assert task.get_configuration_object("file") == "lr: 0.1\nlayers: 3\n"
    assert task.get_configuration_object("missing") is None
    assert task.get_configuration_object_as_dict("missing") is None

    task.set_configuration_object("broken", config_text="{{{ not [ parseable")
    with pytest.raises(ValueError, match="Could not parse configuration text"):
        task.get_configuration_object_as_dict("broken")
    with pytest.raises(ValueError, match="not both"):
        task.set_configuration_object("x", config_text="a", config_dict={"a": 1})
    with pytest.raises(ValueError, match="needs config_text"):
        task.set_configuration_object("x")
    with pytest.raises(TypeError, match="does not support int"):
        task.connect_configuration(5)
    with pytest.raises(ValueError, match="could not be read"):
        task.connect_configuration(tmp_path / "missing.yaml")
    with pytest.raises(TypeError, match=r"key 1 \(of type int\)"):
        task.connect_configuration({1: "x"})
    assert "x" not in task.get_configuration_objects()


def test_labels(task):
    labels = {"background": 0, "cat": 1, "dog": 2}
    assert task.connect_label_enumeration(labels) is labels
    assert fresh(task).get_labels_enumeration() == labels
    assert task.get_num_of_classes() == 3
    assert task.get_label_num_description() == {0: "background", 1: "cat", 2: "dog"}
    task.set_model_label_enumeration({"a": 1, "b": 1})
    with pytest.raises(ValueError, match="Multiple labels mapped to same model index"):
        task.get_label_num_description()
    with pytest.raises(TypeError, match="'a': 'x'"):
        task.set_model_label_enumeration({"a": "x"})
    with pytest.raises(TypeError, match="supports only dict"):
        task.connect_label_enumeration([("a", 1)])
    task.set_model_label_enumeration()
    assert task.get_labels_enumeration() == {}
    with pytest.raises(ValueError, match="no label enumeration"):
        task.get_num_of_classes()


def test_published_task_refuses_parameter_changes(task_store):
    t = Task.init("params", "pub", auto_connect_arg_parser=False)
    t.set_parameter("Args/a", 1)
    t.close()  # (mark_completed would end this process, as ClearML's does)
    t.publish()
    with pytest.raises(Exception, match="published"):
        t.set_parameter("Args/a", 2)
    assert fresh(t).get_parameter("Args/a") == "1"


# -- argparse and click in-process ----------------------------------------------------------------


def make_parser():
    p = argparse.ArgumentParser()
    p.add_argument("--lr", type=float, default=0.01, help="learning rate")
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--secret", default="s")
    p.add_argument("--flag", action="store_true")
    return p


def test_argparse_auto_connect(task_store):
    t = Task.init("params", "argparse")
    args = make_parser().parse_args(["--lr", "0.1", "--epochs", "3"])
    assert (args.lr, args.epochs) == (0.1, 3)
    assert fresh(t).get_parameters(cast=True) == {
        "Args/lr": 0.1,
        "Args/epochs": 3,
        "Args/secret": "s",
        "Args/flag": False,
    }
    assert t._data["hyperparams"]["Args"]["lr"]["description"] == "learning rate"
    sub = make_parser()
    sub.add_argument("cmd", nargs="?")
    sub.parse_known_args(["--flag", "go", "--unknown"])
    assert t.get_parameter("Args/flag", cast=True) is True and t.get_parameter("Args/cmd") == "go"


def test_argparse_parsed_before_init_and_dict_form(task_store):
    make_parser().parse_args(["--epochs", "9", "--secret", "hidden"])
    t = Task.init("params", "before", auto_connect_arg_parser={"secret": False})
    assert t.get_parameters(cast=True) == {"Args/lr": 0.01, "Args/epochs": 9, "Args/flag": False}
    t.close()
    current.main = None
    t2 = Task.init("params", "only", auto_connect_arg_parser={"epochs": True, "*": False})
    make_parser().parse_args(["--epochs", "4"])
    assert t2.get_parameters(cast=True) == {"Args/epochs": 4}
    t2.close()
    current.main = None
    t3 = Task.init("params", "none", auto_connect_arg_parser={})  # an empty dict is False
    make_parser().parse_args([])
    assert t3.get_parameters() == {}


def test_argparse_explicit_connect(task):
    parser = make_parser()
    assert task.connect(parser) is parser  # not parsed yet: what it makes of sys.argv, else its defaults
    assert task.get_parameter("Args/lr", cast=True) == 0.01
    parser.parse_args(["--lr", "0.3"])  # once connected, its parses are recorded
    assert task.get_parameter("Args/lr", cast=True) == 0.3


def test_click_auto_connect(task_store):
    click = pytest.importorskip("click")
    seen = {}

    @click.command()
    @click.option("--lr", type=float, default=0.01, help="learning rate")
    @click.option("--epochs", type=int, default=1)
    @click.option("--tag", multiple=True)
    def train(lr, epochs, tag):
        seen["task"] = Task.init("params", "click")  # the usual place: inside the command
        seen["values"] = (lr, epochs, tag)

    train.main(["--lr", "0.1", "--epochs", "3", "--tag", "a", "--tag", "b"], standalone_mode=False)
    t = seen["task"]
    assert seen["values"] == (0.1, 3, ("a", "b"))
    assert t.get_parameters(cast=True) == {"Args/lr": 0.1, "Args/epochs": 3, "Args/tag": ("a", "b")}
    assert t._data["hyperparams"]["Args"]["lr"]["description"] == "learning rate"


def test_click_group(task_store):
    click = pytest.importorskip("click")
    t = Task.init("params", "click-group")

    @click.group()
    @click.option("--verbose", is_flag=True)
    def cli(verbose):
        pass

    @cli.command()
    @click.option("--n", type=int, default=1)
    def fit(n):
        pass

    @cli.command()
    def evaluate():
        pass

    cli.main(["--verbose", "fit", "--n", "5"], standalone_mode=False)
    params = t.get_parameters(cast=True)
    assert params["Args/cli/verbose"] is True and params["Args/fit/n"] == 5
    assert (params["Args/fit"], params["Args/evaluate"]) == ("True", "False")  # type "click.Command"
    assert t._data["hyperparams"]["Args"]["fit"]["type"] == "click.Command"


# -- remote overrides in-process ---------------------------------------------------------------------


@pytest.fixture
def remote_task(task_store, monkeypatch):
    """A finished task whose stored values an agent would apply: returns a function that attaches."""
    source = Task.init("params", "remote-source")
    source.connect({"lr": 0.1, "epochs": 3, "opt": {"momentum": 0.9}, "tags": ["a"]})
    source.connect(Params(iterations=20), name="TP")
    source.connect_configuration({"layers": [64]}, name="model")
    source.connect_label_enumeration({"bg": 0, "cat": 1})
    source.close()
    current.main = None
    # what a user does in the UI, done through the API: text edits as a UI sends them
    source.set_parameters(
        {
            "General/lr": "0.5",
            "General/epochs": "7",
            "General/opt/momentum": "0.8",
            "General/tags": '["x", "y"]',
            "TP/iterations": "99",
            "TP/target_accuracy": "0.5",
            "Args/lr": "0.25",
            "Args/flag": "true",
        }
    )
    source.set_configuration_object("model", config_dict={"layers": [128, 64]})
    source.set_model_label_enumeration({"bg": 0, "dog": 1})

    def attach(**init_kwargs):
        monkeypatch.setenv("FSTRACK_TASK_ID", source.id)
        t = Task.init("ignored", "ignored", **init_kwargs)
        assert t.id == source.id and not t.running_locally()
        return t

    return attach


def test_remote_overrides_connect(remote_task):
    t = remote_task()
    code = {"lr": 0.1, "epochs": 3, "opt": {"momentum": 0.9}, "tags": ["a"], "added": True}
    got = t.connect(code)
    assert got == {"lr": 0.5, "epochs": 7, "opt": {"momentum": 0.8}, "tags": ["x", "y"], "added": True}
    assert type(got["epochs"]) is int and code == got
    assert t.get_parameter("General/added", cast=True) is True
    p = t.connect(Params(), name="TP")
    assert (p.iterations, p.target_accuracy, p.name) == (99, 0.5, "run")
    config = {"layers": [64]}
    assert t.connect_configuration(config, name="model") == {"layers": [128, 64]} == config
    labels = {"bg": 0, "cat": 1}
    assert t.connect_label_enumeration(labels) == {"bg": 0, "dog": 1} == labels
    args = make_parser().parse_args(["--lr", "0.1"])
    assert (args.lr, args.flag, args.epochs) == (0.25, True, 1)
    assert t.get_parameter("Args/epochs", cast=True) == 1, "arguments the store lacked are recorded"


def test_remote_overrides_ignored(remote_task):
    t = remote_task(auto_connect_arg_parser=True)
    t._ignore_remote_overrides = True  # what Task.init(ignore_remote_overrides=True) sets
    assert t.connect({"lr": 0.1})["lr"] == 0.1


def test_per_call_ignore_marker_carries_to_the_agent(task_store, monkeypatch, tmp_path):
    t = Task.init("params", "marker", auto_connect_arg_parser=False)
    t.connect({"lr": 0.1}, name="S", ignore_remote_overrides=True)
    assert t.get_parameter("S/_ignore_remote_overrides_", cast=True) is True
    t.set_parameter("S/lr", 0.9)
    t.close()
    current.main = None
    monkeypatch.setenv("FSTRACK_TASK_ID", t.id)
    remote = Task.init("x", "y")
    assert remote.connect({"lr": 0.1}, name="S")["lr"] == 0.1, "the marker keeps the code's values remotely"
    assert remote.connect({"lr": 0.1}, name="Other")["lr"] == 0.1


def test_remote_configuration_file(remote_task, tmp_path):
    t = remote_task()
    local = tmp_path / "model.json"
    local.write_text('{"layers": [1]}')
    got = t.connect_configuration(local, name="model")
    assert isinstance(got, Path) and got != local
    assert json.loads(got.read_text()) == {"layers": [128, 64]}
    got_str = t.connect_configuration(str(local), name="absent")  # nothing stored: the local file, stored
    assert got_str == str(local) and t.get_configuration_object("absent") == '{"layers": [1]}'


# ================================================================================================
# real processes
# ================================================================================================

SCRIPT = """
import argparse, json
from fstrack import Task

parser = argparse.ArgumentParser()
parser.add_argument("--lr", type=float, default=0.01, help="learning rate")
parser.add_argument("--epochs", type=int, default=1)
parser.add_argument("--resume", default=None)
parser.add_argument("--amp", action="store_true")
parser.add_argument("--sizes", type=int, nargs="+", default=[1, 2])
args = parser.parse_args()

task = Task.init("proc", "train")
config = task.connect({"batch": 32, "optimizer": {"name": "sgd", "momentum": 0.9}})
config_path = task.connect_configuration("model.yaml", name="model")
print(json.dumps({"id": task.id, "args": vars(args), "config": config,
                  "model": open(config_path).read()}))
"""


def run(tmp_path, *argv, env=None):
    (tmp_path / "script.py").write_text(textwrap.dedent(SCRIPT))
    (tmp_path / "model.yaml").write_text("layers: 3\nact: relu\n")
    full_env = {**os.environ, "FSTRACK_URL": str(tmp_path / "store"), "FSTRACK_CACHE_DIR": str(tmp_path / "cache")}
    full_env.pop("FSTRACK_TASK_ID", None)
    full_env.update(env or {})
    proc = subprocess.run(
        [sys.executable, "script.py", *argv], cwd=tmp_path, env=full_env, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_script_records_parameters(tmp_path, monkeypatch):
    out = run(tmp_path, "--lr", "0.1", "--epochs", "3")
    assert out["args"] == {"lr": 0.1, "epochs": 3, "resume": None, "amp": False, "sizes": [1, 2]}
    monkeypatch.setenv("FSTRACK_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("FSTRACK_TASK_ID", raising=False)
    fstrack.set_store(str(tmp_path / "store"))
    t = Task.get_task(task_id=out["id"])
    assert t.get_status() == "completed"
    assert t.get_parameters(cast=True) == {
        "Args/lr": 0.1,
        "Args/epochs": 3,
        "Args/resume": None,
        "Args/amp": False,
        "Args/sizes": [1, 2],
        "General/batch": 32,
        "General/optimizer/name": "sgd",
        "General/optimizer/momentum": 0.9,
    }
    assert t.get_parameters()["Args/lr"] == "0.1"
    assert t._data["hyperparams"]["Args"]["lr"] == {"value": "0.1", "type": "float", "description": "learning rate"}
    assert t.get_configuration_object("model") == "layers: 3\nact: relu\n"
    assert t.get_configuration_object_as_dict("model") == {"layers": 3, "act": "relu"}  # HOCON reads this YAML


def test_script_under_agent_gets_stored_values(tmp_path, monkeypatch):
    first = run(tmp_path, "--lr", "0.1", "--epochs", "3")
    monkeypatch.setenv("FSTRACK_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("FSTRACK_TASK_ID", raising=False)
    fstrack.set_store(str(tmp_path / "store"))
    t = Task.get_task(task_id=first["id"])
    t.set_parameters(
        {
            "Args/lr": "0.5",
            "Args/epochs": "7",
            "Args/amp": "True",
            "Args/resume": "ckpt.pt",
            "Args/sizes": "[4, 5, 6]",
            "General/batch": "64",
            "General/optimizer/momentum": "0.8",
        }
    )
    t.set_configuration_object("model", config_text="layers: 5\n")

    out = run(tmp_path, "--lr", "0.1", "--epochs", "3", env={"FSTRACK_TASK_ID": first["id"]})
    assert out["id"] == first["id"]
    assert out["args"] == {"lr": 0.5, "epochs": 7, "resume": "ckpt.pt", "amp": True, "sizes": [4, 5, 6]}
    assert out["config"] == {"batch": 64, "optimizer": {"name": "sgd", "momentum": 0.8}}
    assert out["model"] == "layers: 5\n"
    after = Task.get_task(task_id=first["id"]).get_parameters(cast=True)
    assert after["General/optimizer/name"] == "sgd", "names the store lacked are recorded by the agent's run"
    assert after["Args/lr"] == 0.5, "the agent's run does not overwrite stored values with the code's"


# -- parses that happen before Task.init under an agent ------------------------------------------------
# They need the agent's task before Task.init exists: fstrack.sdk.task is expected to register a loader with
# ``set_remote_task_loader``. This fixture registers an equivalent one, so these tests exercise the
# parameters module whether or not the Task module does.


@pytest.fixture
def agent_loader(remote_task, monkeypatch):
    previous = P._binding.remote_task_loader

    def loader():
        task_id = os.environ.get("FSTRACK_TASK_ID")
        if not task_id:
            return None
        t = Task.get_task(task_id=task_id)
        t._remote = True  # what Task.init does for the agent's task
        return t

    P.set_remote_task_loader(loader)
    yield remote_task
    P.set_remote_task_loader(previous)


def test_argparse_before_init_under_agent(agent_loader, monkeypatch):
    parser = make_parser()
    parser.add_argument("--required", required=True)
    # the stored task has no "required" value, so the agent still has to give it; the stored lr applies
    monkeypatch.setenv("FSTRACK_TASK_ID", Task.get_task(project_name="params", task_name="remote-source").id)
    args = parser.parse_args(["--required", "r"])
    assert (args.lr, args.flag, args.required) == (0.25, True, "r")
    t = agent_loader()  # Task.init: the parse above is connected now
    assert t.get_parameter("Args/required") == "r", "arguments the store lacked are recorded"
    assert t.get_parameter("Args/lr") == "0.25", "stored values are not overwritten"


def test_click_under_agent(agent_loader, monkeypatch):
    click = pytest.importorskip("click")
    monkeypatch.setenv("FSTRACK_TASK_ID", Task.get_task(project_name="params", task_name="remote-source").id)
    seen = {}

    @click.command()
    @click.option("--lr", type=float, default=0.01)
    @click.option("--flag", is_flag=True)
    @click.option("--epochs", type=int, default=1)
    def train(lr, flag, epochs):
        seen["values"] = (lr, flag, epochs)
        seen["task"] = Task.init("x", "y")

    train.main(["--lr", "0.1"], standalone_mode=False)
    assert seen["values"] == (0.25, True, 1)
    assert seen["task"].get_parameter("Args/epochs", cast=True) == 1


def make_sub_parser():
    p = argparse.ArgumentParser()
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("data")
    sub = p.add_subparsers(dest="cmd")
    fit = sub.add_parser("fit")
    fit.add_argument("--steps", type=int, default=10)
    sub.add_parser("eval").add_argument("--split", default="val")
    return p


def test_argparse_subparsers_local_and_agent_without_argv(task_store, monkeypatch):
    t = Task.init("params", "subparsers")
    make_sub_parser().parse_args(["/data", "fit", "--steps", "5"])
    assert t.get_parameters(cast=True) == {"Args/seed": 1, "Args/data": "/data", "Args/cmd": "fit", "Args/steps": 5}
    t.update_parameters({"Args/steps": "50", "Args/data": "/other"})
    t.close()
    current.main = None
    monkeypatch.setenv("FSTRACK_TASK_ID", t.id)
    Task.init("x", "y")
    args = make_sub_parser().parse_args(["fit"])  # an agent that gives no other argument
    assert vars(args) == {"seed": 1, "data": "/other", "cmd": "fit", "steps": 50}
