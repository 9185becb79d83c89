"""Which wxrefund these tests exercise. scripts/test-package-python.sh sets
WXREFUND_EXPECT_INSTALLED when it runs them against an installed wheel: to 1 for a fresh venv,
whose site-packages must then hold the package, or to the folder that `pip install --target`
filled (the aarch64 wheel under qemu). Never the source tree."""

from __future__ import annotations

import os
import platform
import sys
import sysconfig
from importlib import metadata
from pathlib import Path

import pytest

import wxrefund
from wxrefund import _wxrefund


def test_the_compiled_module_is_the_packages_own() -> None:
    package = Path(wxrefund.__file__).resolve().parent
    module = Path(_wxrefund.__file__).resolve()
    assert module.parent == package
    assert module.name == "_wxrefund.abi3.so"  # one module for every CPython 3.9+
    assert wxrefund.__version__ == metadata.version("wxrefund")


@pytest.mark.skipif(
    not os.environ.get("WXREFUND_EXPECT_INSTALLED"),
    reason="only against an installed wheel (scripts/test-package-python.sh)",
)
def test_the_wheel_has_its_platforms_crypto_backend() -> None:
    # scripts/targets.sh, shipped_features: aws-lc on x86-64 hosts, ring on ARM.
    expected = "aws-lc" if platform.machine() == "x86_64" else "ring"
    assert wxrefund.CRYPTO_BACKEND == expected


@pytest.mark.skipif(
    not os.environ.get("WXREFUND_EXPECT_INSTALLED"),
    reason="only against an installed wheel (scripts/test-package-python.sh)",
)
def test_imported_from_where_the_wheel_was_installed() -> None:
    expected = os.environ["WXREFUND_EXPECT_INSTALLED"]
    if expected == "1":
        site = Path(sysconfig.get_paths()["platlib"]).resolve()
        assert Path(sys.prefix).resolve() in site.parents
    else:
        site = Path(expected).resolve()
    for module in (wxrefund, _wxrefund):
        path = Path(str(module.__file__)).resolve()
        assert site in path.parents, f"{module.__name__} imported from {path}, not from {site}"
