"""Every config in configs/ (found by glob, so new ones are covered): it loads plain and as
runlocal and refuses a misspelled or unknown arg, naming the accepted ones. Then the parser
itself (configs.common.parse_arg) and the launcher's one-line errors for bad flags."""
import glob
import importlib.util
import os
import subprocess
import sys

import pytest

from configs import common

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# Modules of configs/ that configs import, not configs themselves.
HELPERS = ("__init__", "common", "mapping_configs")
MODULES = sorted(os.path.basename(path)[:-3]
                 for path in glob.glob(os.path.join(REPO, "configs", "*.py")))
CONFIGS = [name for name in MODULES if name not in HELPERS]


def load(name):
  spec = importlib.util.spec_from_file_location(
      f"{name}_config", os.path.join(REPO, "configs", f"{name}.py"))
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


def test_configs_are_found_and_every_other_module_is_a_helper():
  assert len(CONFIGS) >= 8 and "table2" in CONFIGS and "deep_semisup" in CONFIGS
  assert set(HELPERS) <= set(MODULES)
  for name in HELPERS[1:]:
    assert not hasattr(load(name), "get_config"), f"configs/{name}.py: move it out of HELPERS"


@pytest.mark.parametrize("name", CONFIGS)
def test_config_loads_plain_and_runlocal(name):
  module = load(name)
  full = module.get_config()
  assert module.get_config(None).to_dict() == module.get_config("").to_dict() == full.to_dict()
  local = module.get_config("runlocal")
  assert local.job == full.job and local.to_dict() != full.to_dict()
  assert module.get_config("runlocal=false").to_dict() == full.to_dict()


@pytest.mark.parametrize("name", CONFIGS)
def test_misspelled_or_unknown_arg_names_the_accepted_ones(name):
  module = load(name)
  with pytest.raises(common.ArgError) as info:
    module.get_config("runlcal")
  message = str(info.value)
  assert message.startswith(f"configs/{name}.py: unknown argument 'runlcal' (did you mean "
                            f"'runlocal'?); accepted: ")
  accepted = info.value.accepted
  assert accepted["runlocal"] == "runlocal (flag)"
  assert message.endswith("accepted: " + ", ".join(accepted[key] for key in sorted(accepted)))
  for bad in ("foo=1", "runlocal,foo=1"):
    with pytest.raises(ValueError, match=rf"^configs/{name}\.py: unknown argument 'foo'; "
                                         rf"accepted: .*runlocal \(flag\)"):
      module.get_config(bad)
  if "dataset" in accepted:
    assert accepted["dataset"].startswith("dataset (one of ")
    with pytest.raises(common.ArgError) as info:
      module.get_config("dataset=modlenet10,runlocal")
    assert str(info.value).startswith(f"configs/{name}.py: argument 'dataset': expected one of ")
    assert "got 'modlenet10'" in str(info.value) and accepted["dataset"] in str(info.value)


def test_table2_and_components_choices():
  with pytest.raises(ValueError, match=r"^configs/table2.py: argument 'dataset': expected one "
                                       r"of procedural_faces, procedural_objects, modelnet10, "
                                       r"ict_faces, all, got 'modlenet10' \(did you mean "
                                       r"'modelnet10'\?\); accepted: dataset \(one of "
                                       r"procedural_faces, procedural_objects, modelnet10, "
                                       r"ict_faces, all\), runlocal \(flag\)$"):
    load("table2").get_config("dataset=modlenet10")
  components = load("deep_components")
  with pytest.raises(ValueError, match=r"argument 'encoders': expected one of linear, ff, "
                                       r"conv, got 'lin'"):
    components.get_config("encoders=conv+lin")
  with pytest.raises(ValueError, match=r"argument 'decoders' on points: expected one of "
                                       r"\['linear', 'ff'\], got 'conv'"):
    components.get_config("decoders=conv")


# The parser.

def test_values_take_the_type_of_their_default():
  arg = common.parse_arg("steps=3,rate=1,name=x,sizes=4+5,fractions=0.5+1", steps=1, rate=0.5,
                         name="a", sizes=(1, 2), fractions=tuple[float], limit=int)
  assert arg.to_dict() == {"steps": 3, "rate": 1.0, "name": "x", "sizes": (4, 5),
                           "fractions": (0.5, 1.0), "limit": None}
  assert type(arg.rate) is float and type(arg.sizes[0]) is int
  defaults = common.parse_arg(None, steps=1, sizes=(1, 2), names=tuple[str], limit=int)
  assert defaults.to_dict() == {"steps": 1, "sizes": (1, 2), "names": None, "limit": None}
  assert common.parse_arg("names=a", names=()).names == ("a",)  # empty default: str elements


def test_flags_are_given_bare_or_as_true_false():
  assert common.parse_arg(None, runlocal=False).runlocal is False
  assert common.parse_arg(" runlocal ,", runlocal=False).runlocal is True
  assert common.parse_arg("a=TRUE,b=0,c=no", a=False, b=True, c=True).to_dict() == {
      "a": True, "b": False, "c": False}
  with pytest.raises(ValueError, match=r"argument 'runlocal': expected a flag \(given bare, or "
                                       r"=true / =false\), got 'maybe'"):
    common.parse_arg("runlocal=maybe", runlocal=False)


def test_choices_check_values_and_tuple_elements():
  choices = {"dataset": ("faces", "objects"), "parts": ("a", "b")}
  arg = common.parse_arg("dataset=objects,parts=b+a", dataset=str, parts=tuple[str],
                         choices=choices)
  assert (arg.dataset, arg.parts) == ("objects", ("b", "a"))
  assert common.parse_arg("", dataset=str, choices={"dataset": ("faces",)}).dataset is None
  with pytest.raises(ValueError, match=r"argument 'dataset': expected one of faces, objects, "
                                       r"got 'face' \(did you mean 'faces'\?\)"):
    common.parse_arg("dataset=face", dataset="faces", choices={"dataset": choices["dataset"]})
  with pytest.raises(ValueError, match=r"argument 'parts': expected one of a, b, got 'c'"):
    common.parse_arg("parts=a+c", parts=("a",), choices={"parts": ("a", "b")})


def test_bad_items_name_this_file_the_item_and_the_accepted_arguments():
  spec = {"dataset": "faces", "steps": 10, "fractions": tuple[float], "runlocal": False,
          "choices": {"dataset": ("faces", "objects")}}
  accepted = ("accepted: dataset (one of faces, objects), fractions (joined by '+', each a "
              "float), runlocal (flag), steps (int, default 10)")
  for arg, problem in [
      ("runlcal", "unknown argument 'runlcal' (did you mean 'runlocal'?)"),
      ("colour=red", "unknown argument 'colour'"),
      ("=3", "unknown argument ''"),
      ("steps=1.5", "argument 'steps': expected an int, got '1.5'"),
      ("steps=", "argument 'steps': expected an int, got ''"),
      ("steps", "argument 'steps': expected steps=VALUE, got it bare"),
      ("steps=1,steps=2", "argument 'steps' given twice in 'steps=1,steps=2'"),
      ("fractions=0.1+x", "argument 'fractions': expected a float, got 'x'"),
      ("fractions=0.1++1", "argument 'fractions': expected floats joined by '+', none empty, "
                           "got '0.1++1'")]:
    with pytest.raises(common.ArgError) as info:
      common.parse_arg(arg, **spec)
    assert str(info.value) == f"tests/test_configs.py: {problem}; {accepted}", arg


def test_bad_specs_are_type_errors():
  with pytest.raises(TypeError, match=r"parse_arg sizes: expected a default of type bool, int"):
    common.parse_arg(None, sizes=[1, 2])
  with pytest.raises(TypeError, match=r"parse_arg choices: expected names of non-flag "
                                      r"arguments \['dataset'\], got 'runlocal'"):
    common.parse_arg(None, dataset="a", runlocal=False, choices={"runlocal": (True,)})


# The launcher: bad config args and overrides end in one line, no traceback.

@pytest.mark.parametrize("config, override, expected", [
    ("configs/render_demo.py:runlocal", "--config.nonexistent=1",
     "flag --config.nonexistent: expected one of the config's fields, got 'nonexistent'; "
     "fields: face_fill, face_modes"),
    ("configs/render_demo.py:runlocal", "--config.face_fil=1",
     "got 'face_fil'; close matches: face_fill"),
    ("configs/render_demo.py:runlocal", "--config.seed=abc",
     "flag --config.seed=abc: invalid literal for int() with base 10: 'abc'"),
    ("configs/render_demo.py:runlcal", "--config.seed=1",
     "configs/render_demo.py: unknown argument 'runlcal' (did you mean 'runlocal'?); "
     "accepted: runlocal (flag)"),
], ids=["unknown_field", "close_match", "bad_type", "bad_arg"])
def test_launcher_reports_bad_flags_in_one_line(config, override, expected, tmp_path):
  result = subprocess.run(
      [sys.executable, "-m", "launch.main", "--config", config, "--workdir", str(tmp_path),
       override], cwd=REPO, capture_output=True, text=True,
      env={**os.environ, "JAX_PLATFORMS": "cpu"})
  assert result.returncode != 0
  lines = result.stderr.strip().splitlines()
  assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
  assert lines[0].startswith("FATAL Flags parsing error: ") and expected in lines[0]
  assert os.listdir(tmp_path) == []
