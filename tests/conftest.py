import os
import sys

import pytest

# The differential tests import their harness as ``difftest``; keep that working whatever the
# import mode or the presence of a tests/__init__.py.
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

# The suite tests the code users run for long: the opt_level build, compiled at once (one
# C compile per module, as before the quick first tier; tests/test_tiered.py tests the tiers).
os.environ.setdefault("JUSTJIT_TIERED", "0")

#: Backends every differential test runs against. (A backend's deliberate refusals of a kind of
#: function, if it has any, are xfails: see difftest.EXPECTED_REFUSALS and the hook below.)
BACKENDS = ["cython", "llvm"]


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


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """A test that fails only because its backend refuses, on purpose, the kind of function it
    compiles (difftest.EXPECTED_REFUSALS: a CompileError with the listed message) is reported as
    xfail with that reason. Every other failure is left alone."""
    outcome = yield
    report = outcome.get_result()
    if call.when != "call" or call.excinfo is None or report.outcome != "failed":
        return
    backend = getattr(item, "funcargs", {}).get("backend")
    if not isinstance(backend, str):
        return
    import difftest

    reason = difftest.refusal_reason(call.excinfo.value, backend)
    if reason is not None:
        report.outcome = "skipped"
        report.wasxfail = reason
