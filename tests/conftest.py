"""Shared test fixtures.

Tests that read ../shared/data use ``shared_file``: on a user's machine a missing file skips the
test with a reason; under CI (``INVERSE3D_REQUIRE_DATA=1``, set by .ci/run) it fails.
"""
import os

import pytest

from inverse3d.data.paths import shared_data_dir

REQUIRE_DATA_ENV = "INVERSE3D_REQUIRE_DATA"


def _shared_file(name: str):
  path = shared_data_dir() / name
  if not path.exists():
    message = (f"real data file {path} is missing (it ships in ../shared/data beside the "
               f"checkout, or set INVERSE3D_DATA)")
    if os.environ.get(REQUIRE_DATA_ENV) == "1":
      pytest.fail(message)
    pytest.skip(message)
  return path


@pytest.fixture
def shared_file():
  """``shared_file("modelnet10_vox30.npz")`` -> pathlib.Path of a real data file."""
  return _shared_file
