"""An ARM agentPools emulator (api-version 2026-08-01) over real HTTPS, for tests and demos.

``python -m reconciler.emulator --port 0 --seed FILE`` runs one by hand; in Python::

    with Emulator(EmulatorConfig(page_size=2), pools=[...]) as emulator:
        ...  # emulator.url, emulator.ca_path, emulator.token, emulator.request_log
"""

from reconciler.emulator.config import API_VERSION, DEFAULT_TOKEN, EmulatorConfig
from reconciler.emulator.emulator import Emulator
from reconciler.emulator.faults import FaultRule, Faults
from reconciler.emulator.requestlog import LoggedRequest, RequestLog

__all__ = ["API_VERSION", "DEFAULT_TOKEN", "Emulator", "EmulatorConfig", "FaultRule", "Faults",
           "LoggedRequest", "RequestLog"]
