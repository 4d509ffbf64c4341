"""The relay's bounds as values: timeouts per operation class, caps and the token bucket."""

from __future__ import annotations

from dockward.gateway.limits import ConnectionCaps, InspectionBudget, RateLimiter, Timeouts
from dockward.policy.operations import Stream


def test_timeouts_per_operation_class():
    timeouts = Timeouts(response=60.0, stream_response=None)
    assert timeouts.by_stream[Stream.BRIEF] == 60.0
    assert {timeouts.by_stream[s] for s in Stream if s is not Stream.BRIEF} == {None}


def test_connection_caps_in_all_per_source_and_per_identity():
    caps = ConnectionCaps(total=3, per_source=2, per_identity=1)
    assert caps.accept("10.0.0.1", open_now=0) is None
    assert caps.accept("10.0.0.1", open_now=1) is None
    assert caps.accept("10.0.0.1", open_now=2) == "10.0.0.1 holds its maximum of 2 connections"
    assert caps.accept("10.0.0.2", open_now=3) == "the gateway holds its maximum of 3 connections"
    caps.left("10.0.0.1")
    assert caps.accept("10.0.0.1", open_now=2) is None
    caps.left("10.0.0.1")
    caps.left("10.0.0.1")
    assert caps.by_source == {}
    assert caps.enter("cn:ci") is None
    why = caps.enter("cn:ci")
    assert why is not None and why.startswith("cn:ci holds its maximum of 1 connections")
    caps.leave("cn:ci")
    assert caps.by_identity == {} and caps.enter("cn:ci") is None
    assert caps.refused == {"total": 1, "source": 1, "identity": 1, "rate": 0}


def test_the_token_bucket_allows_a_burst_then_the_rate():
    now = [0.0]
    limiter = RateLimiter(rate=2.0, burst=3.0, clock=lambda: now[0])
    assert [limiter.wait("cn:a") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert limiter.wait("cn:a") == 0.5
    assert limiter.wait("cn:b") == 0.0  # each identity has its own bucket
    now[0] = 0.5
    assert limiter.wait("cn:a") == 0.0
    assert limiter.wait("cn:a") == 0.5
    now[0] = 100.0
    assert [limiter.wait("cn:a") for _ in range(4)] == [0.0, 0.0, 0.0, 0.5]  # capped at burst


def test_the_inspection_budget_never_goes_below_zero():
    budget = InspectionBudget(10)
    budget.take(10)
    assert budget.full
    budget.give(20)
    assert budget.used == 0 and not budget.full
