import os
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
sys.path.insert(0, str(EXAMPLES))


@pytest.fixture(autouse=True)
def _installed_package_when_asked():
    # CI runs these tests against the wheel installed in a fresh venv: make sure that is
    # the package imported, not the source tree.
    if os.environ.get("GRADFUZZ_TEST_INSTALLED"):
        import gradfuzz

        assert "site-packages" in gradfuzz.__file__, gradfuzz.__file__
    yield


# test_pytest_plugin.py runs pytest on test files it writes.
pytest_plugins = ["pytester"]
