import os
import sys

import pytest

# The differential tests import their harness as ``difftest``; keep that working whatever the
# import mode or the presence of a tests/__init__.py.
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

#: Backends every differential test runs against.  Add "llvm" here when that backend lands.
BACKENDS = ["cython"]


@pytest.fixture(params=BACKENDS)
def backend(request):
    return request.param


@pytest.fixture(scope="session", autouse=True)
def isolated_cache_dir(tmp_path_factory):
    """Point the on-disk cache at a per-session temp dir so runs never see each other's artifacts.

    justjit must read JUSTJIT_CACHE_DIR when it compiles (not when it is imported): test modules
    import justjit at collection time, before this fixture runs.
    """
    old = os.environ.get("JUSTJIT_CACHE_DIR")
    os.environ["JUSTJIT_CACHE_DIR"] = str(tmp_path_factory.mktemp("justjit-cache"))
    yield
    if old is None:
        os.environ.pop("JUSTJIT_CACHE_DIR", None)
    else:
        os.environ["JUSTJIT_CACHE_DIR"] = old
