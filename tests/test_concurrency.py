"""The adaptive limit apply runs actions under (reconciler.apply.concurrency): how fast it comes
down when the cluster answers busy, how it probes a cluster that takes one operation at
a time, and how it gives parallelism back once the cluster takes more."""

from __future__ import annotations

from reconciler.apply.concurrency import MAX_EVERY, AdaptiveLimit


def test_refusals_halve_it_down_to_one_and_never_below() -> None:
    limit = AdaptiveLimit(10)
    seen = []
    for _ in range(5):
        limit.busy()
        seen.append(limit.limit)
    assert seen == [5, 2, 1, 1, 1]
    assert limit.lowest == 1


def test_successes_never_raise_it_above_the_ceiling() -> None:
    limit = AdaptiveLimit(3)
    for _ in range(20):
        limit.success()
    assert limit.limit == 3
    assert AdaptiveLimit(0).limit == 1  # a parallelism below one still runs actions


def test_a_serialising_cluster_is_probed_less_and_less_often() -> None:
    limit = AdaptiveLimit(10)
    for _ in range(9):  # ten writes sent together, nine refused
        limit.busy()
    # each probe is refused: the cluster still takes one at a time
    assert probe_gaps(limit, 4) == [MAX_EVERY] * 4  # nine refusals: already at the cap
    fresh = AdaptiveLimit(4)
    fresh.busy()  # 2
    fresh.busy()  # 1
    assert probe_gaps(fresh, 3) == [4, 8, 8]  # doubling from the refusals seen, to the cap


def probe_gaps(limit: AdaptiveLimit, probes: int) -> list[int]:
    """How many successes it took, each time, before the limit tried 2 again (each probe
    then refused)."""
    gaps = []
    for _ in range(probes):
        successes = 0
        while limit.limit == 1:
            limit.success()
            successes += 1
        gaps.append(successes)
        limit.busy()
    return gaps


def test_a_cluster_that_was_busy_for_a_while_gets_its_parallelism_back() -> None:
    limit = AdaptiveLimit(8)
    for _ in range(3):
        limit.busy()
    assert limit.limit == 1
    successes = 0
    while limit.limit < 8:
        limit.success()
        successes += 1
    # Slow at first (8 successes to try 2), then, once 2 held for a round (2 successes),
    # one more per success: 8 + 2 + 5, not a probe gap of 8 for every step.
    assert successes == 15
    assert limit.limit == 8
