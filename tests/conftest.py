import os
import sys
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

# Tests never touch a developer's real dataset store: one fresh store per test session. Once:
# this module imported again under another name (`tests.conftest`) made a second store while
# the app's cached store kept the first, so later tests' datasets were "not on this server".
if not os.environ.get("_PATHLENS_TEST_STORE_SET"):
    os.environ["PATHLENS_DATA_DIR"] = tempfile.mkdtemp(prefix="pathlens-test-store-")
    os.environ["_PATHLENS_TEST_STORE_SET"] = "1"
os.environ.pop("PATHLENS_PASSWORD", None)

SHARED_DATA = ROOT.parent / "shared" / "data"


@pytest.fixture
def shared_data() -> Path:
    """The real exports in ../shared/data; skips the test when the folder is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real data folder {SHARED_DATA} is absent")
    return SHARED_DATA
