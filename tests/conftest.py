"""Shared fixtures: emulators and temporary state. Keep one fixture per concern."""

from __future__ import annotations

import compileall
import signal
import sys
from collections import Counter
from collections.abc import Iterator

import pytest
from emulator_session import EmulatorSession, start_test_emulator

import reconciler
from reconciler.emulator import Emulator

# Bytecode is cached as Python does by default, even where the environment sets
# PYTHONDONTWRITEBYTECODE=1 (this workplace's machines do): without the cache, each of the
# ~1,000 CLI processes the tests start compiled the package from source (~50 ms of ~150 ms
# for `reconciler validate`), and pytest rewrote every test module in every xdist worker
# (~3 s each). Compiling is idempotent and atomic, so workers may race; __pycache__ is
# git-ignored. Installed wheels are compiled by pip, so users never pay this.
sys.dont_write_bytecode = False
compileall.compile_dir(reconciler.__path__[0], quiet=1)


def pytest_configure(config: pytest.Config) -> None:
    """Ctrl-C tests need SIGINT delivered: a run started with it ignored (a background job
    of a script, nohup) would pass that on to the CLI processes it starts, which then keep
    ignoring it, so restore Python's own handler (children then start with the default)."""
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


# Reliability figures by section, gathered from the reports of the tests that set them
# (``tests/reliability/conftest.py``), in this process whether or not xdist runs the tests.
_FIGURES: dict[str, Counter[str]] = {}


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """Collect the figures a test attached to its report."""
    for name, value in report.user_properties:
        if name == "reliability figures" and isinstance(value, dict):
            for section, counts in value.items():
                _FIGURES.setdefault(section, Counter()).update(counts)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Print the reliability figures of this run (visible without -s or -v)."""
    if not _FIGURES:
        return
    terminalreporter.write_sep("-", "reliability figures")
    for section, counts in _FIGURES.items():
        shown = ", ".join(f"{key} {value}" for key, value in counts.items())
        terminalreporter.write_line(f"{section}: {shown}")


# -- AKS: the ARM agentPools emulator over HTTPS ------------------------------------------


@pytest.fixture(scope="session")
def _aks_emulator_server() -> Iterator[Emulator]:
    """One emulator (HTTPS on 127.0.0.1, port 0) for the whole session."""
    emulator = start_test_emulator()
    yield emulator
    emulator.stop()


@pytest.fixture
def aks_emulator(_aks_emulator_server: Emulator,
                 monkeypatch: pytest.MonkeyPatch) -> EmulatorSession:
    """The AKS emulator, reset (no pools, faults or logged requests), trusted and authorised.

    Yields an ``EmulatorSession``: ``url``, ``ca_path``, ``token``, ``store``, ``cluster``,
    ``request_log``, ``faults``, ``config``; ``reset(pools, page_size=..)`` to seed;
    ``settings()`` / ``cluster_spec()`` / ``cluster_block()`` / ``write_desired(path)`` to
    aim the ``aks`` provider at it (auth: token). REQUESTS_CA_BUNDLE and AZURE_ACCESS_TOKEN
    are set for the test (``env`` has them for subprocesses).
    """
    session = EmulatorSession(_aks_emulator_server)
    session.reset()
    for key, value in session.env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    return session
