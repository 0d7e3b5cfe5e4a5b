"""Under CI=true a skipped test fails the run (tests/conftest.py); locally it does not."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

INNER = """
import pytest

def test_runs():
    assert True

def test_needs_something():
    pytest.skip("something is missing")

@pytest.mark.xfail(reason="known", strict=True)
def test_known_failure():
    assert False
"""


def _run(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, ci: str, inner: str):
    monkeypatch.setenv("CI", ci)
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    pytester.makeconftest("from tests.conftest import pytest_configure  # noqa: F401\n")
    pytester.makepyfile(test_inner=inner)
    return pytester.runpytest_subprocess("-p", "no:cacheprovider")


def test_a_skip_fails_the_run_under_ci(pytester, monkeypatch):
    result = _run(pytester, monkeypatch, "true", INNER)
    result.assert_outcomes(passed=1, skipped=1, xfailed=1)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(
        ["*CI=true: 1 skipped test(s) fail the run*", "*test_needs_something*"]
    )


def test_a_skip_is_only_a_skip_locally(pytester, monkeypatch):
    result = _run(pytester, monkeypatch, "", INNER)
    result.assert_outcomes(passed=1, skipped=1, xfailed=1)
    assert result.ret == pytest.ExitCode.OK


def test_no_skip_no_failure_under_ci(pytester, monkeypatch):
    result = _run(pytester, monkeypatch, "true", "def test_runs():\n    assert True\n")
    assert result.ret == pytest.ExitCode.OK
