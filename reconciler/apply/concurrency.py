"""How many actions apply runs at once: an adaptive limit between 1 and --parallelism.

Additive increase, multiplicative decrease (AIMD):

- every "busy, retry later" answer about the cluster (``BusyError`` with scope
  ``cluster``) halves the limit, never below 1. A burst of refusals therefore brings it
  down at once: AKS runs one agentpool operation at a time per cluster, so with 10 writes
  sent together 9 are refused and the limit falls to 1 (10, 5, 2, 1) before the next try;
  every write sent while the limit is too high is one more refused PUT against the
  subscription's write budget.
- every success grows the limit by one, never above the ceiling (``--parallelism``),
  once ``every`` successes came in a row. ``every`` starts at 1 and doubles (up to
  ``MAX_EVERY``) at each refusal, so a cluster that takes one operation at a time is
  probed less and less often (each probe costs a refused write); it returns to 1 once a
  grown limit has held for a whole round (``limit`` successes without a refusal), so a
  cluster that was busy only for a while gets its parallelism back quickly.

Only the executor's thread uses an instance: no locking.
"""

from __future__ import annotations

MAX_EVERY = 8


class AdaptiveLimit:
    """The current number of actions that may run at once."""

    def __init__(self, ceiling: int) -> None:
        self.ceiling = max(1, ceiling)
        self.limit = self.ceiling
        self.lowest = self.limit  # the smallest limit reached (for the report)
        self._every = 1
        self._streak = 0
        self._probation = 0  # successes still needed before a grown limit has held

    def busy(self) -> None:
        """A request was refused because the cluster was busy."""
        self.limit = max(1, self.limit // 2)
        self.lowest = min(self.lowest, self.limit)
        self._every = min(self._every * 2, MAX_EVERY)
        self._streak = self._probation = 0

    def success(self) -> None:
        """An action ended without the cluster pushing back."""
        if self._probation:
            self._probation -= 1
            if not self._probation:
                self._every = 1  # the grown limit held for a whole round
        if self.limit >= self.ceiling:
            return
        self._streak += 1
        if self._streak >= self._every:
            self.limit += 1
            self._streak = 0
            self._probation = self.limit
