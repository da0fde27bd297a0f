"""Applying: the executor runs a plan's actions through a driver in phases
(``executor``), as many at once as the provider allows (``concurrency``), and reports
progress as text, heartbeats or JSON events (``progress``). Never imports a provider."""
