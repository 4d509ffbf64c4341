"""What tenancy adds to the policy: a container create's decision, and a filtered list answer.

1. The ``docker run`` create of ``bench.policy_bench``, decided for a ``ci`` role with
   ``scope = "own"`` and with ``scope = "all"``, both with the body read and the lookups
   answered (their round trips are not timed), the scoped one also stamped (the forwarded head
   and body built): the difference of the medians is what tenancy adds. Target: at most
   100 µs.
2. A ``GET /containers/json`` answer of 1,000 of the caller's containers, checked again (the
   second line of defence: the daemon was asked with the owner filter, so nothing is dropped
   and the answer goes out as it came). Target: at most 5 ms. Also shown: the same 1,000 with
   half of them another owner's (as if the daemon had ignored the filter), which re-encodes.

Run alone with ``python -m bench.tenancy_bench``; ``make bench`` includes it.
"""

from __future__ import annotations

import json
import statistics
import time
from typing import Any

from bench.policy_bench import CREATE_BODY, IMAGE_FACTS
from dockward.identity import PeerIdentity
from dockward.policy import namespaces, tenancy
from dockward.policy.engine import RolePolicy
from dockward.policy.gojson import decode_body
from dockward.policy.paths import parse_query, split_target
from dockward.policy.profiles import FactQuery
from dockward.policy.roles import policy_config_from_dict
from dockward.policy.routes import classify_route

DECISION_TARGET_US = 100.0
FILTER_TARGET_MS = 5.0
ITERATIONS = 10_000
LISTED = 1000
TARGET = b"/v1.41/containers/create?name=bench"


def _policy(scope: str, names: str = "shared") -> RolePolicy:
    role = {"name": "ci", "preset": "ci", "clients": ["cn:ci-*"], "host_paths": ["/srv/ci"]}
    return RolePolicy(policy_config_from_dict({"role": [{**role, "scope": scope, "names": names}]}))


def _decision_samples(scope: str, iterations: int, names: str = "shared") -> list[int]:
    policy = _policy(scope, names)
    identity = PeerIdentity(kind="tls", common_name="ci-1")
    body = json.dumps(CREATE_BODY).encode()
    head = b"POST %s HTTP/1.1\r\nHost: d\r\nContent-Length: %d\r\n\r\n" % (TARGET, len(body))
    image = dict(IMAGE_FACTS)  # shared (no owner); the name is free
    private = names == "private"
    stored = namespaces.name_prefix("cn:ci-1") + "bench" if private else "bench"
    facts: dict[FactQuery, Any] = {**image, FactQuery("container", stored): None}
    samples: list[int] = []
    clock = time.perf_counter_ns
    for _ in range(iterations):
        start = clock()
        split = split_target(TARGET)
        request = classify_route("POST", split)
        decision = policy.authorize(identity, "127.0.0.1", request)
        raw, sent = head, body
        decoded = decode_body(sent)
        if private:  # the names moved into the owner's space, as the relay does
            entered = namespaces.enter_request(decision, request, head, body, decoded)
            assert isinstance(entered, namespaces.Entered) and entered.body is not None
            raw = entered.head
            split = split_target(raw.split(b" ")[1])
            request = classify_route("POST", split)
            sent, decoded = entered.body, entered.document
        query = parse_query(split.query)
        policy.facts_needed(decision, request, query, decoded, {})
        wanted = policy.facts_needed(decision, request, query, decoded, facts)
        final = policy.check_body(decision, request, query, decoded, facts)
        tenancy.forwarded_request(final, raw, False, sent)
        samples.append(clock() - start)
        assert final.allowed and not wanted, final.reason
    return samples


def _listing(foreign: bool) -> bytes:
    containers = [
        {
            "Id": f"{index:064x}",
            "Names": [f"/project-web-{index}"],
            "Image": "busybox",
            "Command": "sleep 600",
            "Labels": {
                tenancy.OWNER_LABEL: "cn:ci-2" if foreign and index % 2 else "cn:ci-1",
                "com.docker.compose.project": "project",
            },
            "State": "running",
            "Status": "Up 2 minutes",
            "Ports": [],
            "Mounts": [],
            "NetworkSettings": {"Networks": {"bridge": {"IPAddress": "172.17.0.2"}}},
        }
        for index in range(LISTED)
    ]
    return json.dumps(containers).encode()


def _filter_ms(listing: bytes, iterations: int) -> float:
    samples: list[int] = []
    for _ in range(max(20, iterations // 200)):
        start = time.perf_counter_ns()
        tenancy.filter_response("container.list", listing, "cn:ci-1")
        samples.append(time.perf_counter_ns() - start)
    return statistics.median(samples) / 1e6


def measure(iterations: int = ITERATIONS) -> dict[str, Any]:
    scoped = _decision_samples("own", iterations)
    unscoped = _decision_samples("all", iterations)
    private = _decision_samples("own", iterations, "private")
    added = (statistics.median(scoped) - statistics.median(unscoped)) / 1000
    listing = _listing(foreign=False)
    filter_ms = _filter_ms(listing, iterations)
    mixed_ms = _filter_ms(_listing(foreign=True), iterations)
    return {
        "iterations": iterations,
        "scoped_median_us": statistics.median(scoped) / 1000,
        "unscoped_median_us": statistics.median(unscoped) / 1000,
        "added_us": added,
        "private_median_us": statistics.median(private) / 1000,
        "private_added_us": (statistics.median(private) - statistics.median(unscoped)) / 1000,
        "decision_target_us": DECISION_TARGET_US,
        "listing_bytes": len(listing),
        "filter_ms": filter_ms,
        "mixed_filter_ms": mixed_ms,
        "filter_target_ms": FILTER_TARGET_MS,
        "pass": added <= DECISION_TARGET_US and filter_ms <= FILTER_TARGET_MS,
    }


def describe(result: dict[str, Any]) -> str:
    verdict = "PASS" if result["pass"] else "MISS"
    return (
        f"tenancy: a create under scope own adds {result['added_us']:.1f} µs median "
        f"({result['scoped_median_us']:.1f} against {result['unscoped_median_us']:.1f}; target "
        f'≤ {result["decision_target_us"]:.0f}); with names = "private" it adds '
        f"{result['private_added_us']:.1f} µs ({result['private_median_us']:.1f}); "
        f"{LISTED} containers "
        f"({result['listing_bytes'] // 1024} KiB) filtered in {result['filter_ms']:.2f} ms "
        f"(target ≤ {result['filter_target_ms']:.0f}; half of them another owner's: "
        f"{result['mixed_filter_ms']:.2f} ms): {verdict}"
    )


if __name__ == "__main__":
    print(describe(measure()))
