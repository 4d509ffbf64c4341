"""Policy decision cost for a ``docker run`` container create, as the gateway makes it.

Times everything the gateway does between having the request and knowing the verdict: route
classification, role match, Go-faithful decoding of the body, and the two rounds of ``judge``
the gateway makes: the first asks for the image (for the defaults it gives: the daemon's answer
is supplied, its round trip is not timed), the second runs the baseline profile checks. The
body is what the docker CLI 28 sends for
``docker run -d -v /srv/ci/data:/data -e A=1 --cap-add CHOWN IMAGE sh -c '…'``.
Run alone with ``python -m bench.policy_bench``; ``make bench`` includes it.
"""

from __future__ import annotations

import json
import statistics
import time
from typing import Any

from dockward.identity import PeerIdentity
from dockward.policy.decision import Decision
from dockward.policy.engine import RolePolicy
from dockward.policy.gojson import decode_body
from dockward.policy.paths import parse_query, split_target
from dockward.policy.profiles import FactQuery
from dockward.policy.roles import policy_config_from_dict
from dockward.policy.routes import classify_route

TARGET_US = 100.0
ITERATIONS = 20_000

CREATE_BODY = {
    "Hostname": "",
    "Domainname": "",
    "User": "",
    "AttachStdin": False,
    "AttachStdout": False,
    "AttachStderr": False,
    "Tty": False,
    "OpenStdin": False,
    "StdinOnce": False,
    "Env": ["A=1"],
    "Cmd": ["sh", "-c", "echo hello; sleep 1"],
    "Image": "dockward-test/busybox:latest",
    "Volumes": {},
    "WorkingDir": "",
    "Entrypoint": None,
    "OnBuild": None,
    "Labels": {},
    "HostConfig": {
        "Binds": ["/srv/ci/data:/data"],
        "ContainerIDFile": "",
        "LogConfig": {"Type": "", "Config": {}},
        "NetworkMode": "default",
        "PortBindings": {},
        "RestartPolicy": {"Name": "no", "MaximumRetryCount": 0},
        "AutoRemove": False,
        "VolumeDriver": "",
        "VolumesFrom": None,
        "ConsoleSize": [0, 0],
        "CapAdd": ["CHOWN"],
        "CapDrop": None,
        "CgroupnsMode": "",
        "Dns": [],
        "DnsOptions": [],
        "DnsSearch": [],
        "ExtraHosts": None,
        "GroupAdd": None,
        "IpcMode": "",
        "Cgroup": "",
        "Links": None,
        "OomScoreAdj": 0,
        "PidMode": "",
        "Privileged": False,
        "PublishAllPorts": False,
        "ReadonlyRootfs": False,
        "SecurityOpt": None,
        "UTSMode": "",
        "UsernsMode": "",
        "ShmSize": 0,
        "Isolation": "",
        "CpuShares": 0,
        "Memory": 0,
        "NanoCpus": 0,
        "CgroupParent": "",
        "BlkioWeight": 0,
        "BlkioWeightDevice": [],
        "BlkioDeviceReadBps": [],
        "BlkioDeviceWriteBps": [],
        "BlkioDeviceReadIOps": [],
        "BlkioDeviceWriteIOps": [],
        "CpuPeriod": 0,
        "CpuQuota": 0,
        "CpuRealtimePeriod": 0,
        "CpuRealtimeRuntime": 0,
        "CpusetCpus": "",
        "CpusetMems": "",
        "Devices": [],
        "DeviceCgroupRules": None,
        "DeviceRequests": None,
        "MemoryReservation": 0,
        "MemorySwap": 0,
        "MemorySwappiness": -1,
        "OomKillDisable": False,
        "PidsLimit": 0,
        "Ulimits": [],
        "CpuCount": 0,
        "CpuPercent": 0,
        "IOMaximumIOps": 0,
        "IOMaximumBandwidth": 0,
        "MaskedPaths": None,
        "ReadonlyPaths": None,
    },
    "NetworkingConfig": {"EndpointsConfig": {}},
}

# The part of GET /images/{name}/json the checks read: busybox sets neither WORKDIR nor USER.
IMAGE_FACTS = {
    FactQuery("image", "dockward-test/busybox:latest"): {
        "Config": {"WorkingDir": "", "User": "", "Cmd": ["sh"], "Env": ["PATH=/bin"]}
    }
}

POLICY = {
    "role": [
        {"name": "admin", "preset": "admin", "clients": ["cn:admin"]},
        {"name": "ci", "preset": "ci", "clients": ["cn:ci-*"], "host_paths": ["/srv/ci"]},
    ]
}


def measure(iterations: int = ITERATIONS) -> dict[str, Any]:
    """Median and p99 in µs of one full decision (allow) for the create above."""
    policy = RolePolicy(policy_config_from_dict(POLICY))
    identity = PeerIdentity(kind="tls", common_name="ci-1")
    body = json.dumps(CREATE_BODY).encode()
    target = b"/v1.41/containers/create?name=bench"
    samples: list[int] = []
    clock = time.perf_counter_ns
    for _ in range(iterations):
        start = clock()
        split = split_target(target)
        request = classify_route("POST", split)
        decision = policy.authorize(identity, "127.0.0.1", request)
        query = parse_query(split.query)
        decoded = decode_body(body)
        first_round = policy.judge(decision, request, query, decoded, {})
        final = policy.judge(decision, request, query, decoded, IMAGE_FACTS)
        samples.append(clock() - start)
        assert isinstance(final, Decision) and final.allowed, final
        assert first_round == list(IMAGE_FACTS), first_round
    samples.sort()
    median = statistics.median(samples) / 1000
    return {
        "iterations": iterations,
        "body_bytes": len(body),
        "median_us": median,
        "p99_us": samples[int(len(samples) * 0.99)] / 1000,
        "target_us": TARGET_US,
        "pass": median < TARGET_US,
    }


def describe(result: dict[str, Any]) -> str:
    verdict = "PASS" if result["pass"] else "MISS"
    return (
        f"policy decision, docker run create ({result['body_bytes']} B body, baseline role): "
        f"median {result['median_us']:.1f} µs, p99 {result['p99_us']:.1f} µs "
        f"(target < {result['target_us']:.0f} µs median): {verdict}"
    )


if __name__ == "__main__":
    print(describe(measure()))
