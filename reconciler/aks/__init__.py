"""AKS semantics shared by the ``aks`` and ``local`` providers and the ARM emulator.

``capabilities`` holds the static rules, ``mapping`` converts between the NodePool
model and ARM agentPool JSON, ``rules`` models what the AKS server enforces.
"""
