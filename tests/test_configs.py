"""configs.common.parse_arg, the one parser of every config's arg: types, flags, choices
and the messages of bad items."""
import pytest

from configs import common


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
