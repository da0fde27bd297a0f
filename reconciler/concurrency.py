"""How many actions apply runs at once: an adaptive limit between 1 and --parallelism.

Additive increase, multiplicative decrease (AIMD), as TCP does with its window:

- every "busy, retry later" answer about the cluster (``BusyError`` with scope
  ``cluster``) halves the limit, never below 1; answers to requests sent before the
  last decrease do not decrease it again (they say nothing about the new limit), so a
  burst of refusals to one round of requests counts once;
- every success grows the limit by one, never above the ceiling (``--parallelism``),
  once ``every`` successes came in a row. ``every`` starts at 1 and doubles (up to
  ``MAX_EVERY``) at each decrease, so a cluster that takes one operation at a time is
  probed less and less often (each probe costs a refused write); it returns to 1 once a
  grown limit has held for a whole round (``limit`` successes without a refusal).

Only the executor's thread uses an instance: no locking.
"""

from __future__ import annotations

MAX_EVERY = 8


class AdaptiveLimit:
    """The current number of actions that may run at once."""

    def __init__(self, ceiling: int) -> None:
        self.ceiling = max(1, ceiling)
        self.limit = self.ceiling
        self.epoch = 0  # bumped at every decrease; a request remembers the one it saw
        self.lowest = self.limit  # the smallest limit reached (for reports and tests)
        self._every = 1
        self._streak = 0
        self._probation = 0  # successes still needed before a grown limit has held

    def busy(self, epoch: int) -> None:
        """A request sent during ``epoch`` was refused because the cluster was busy."""
        if epoch < self.epoch:
            return
        self.limit = max(1, self.limit // 2)
        self.lowest = min(self.lowest, self.limit)
        self.epoch += 1
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
