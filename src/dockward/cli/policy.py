"""``dockward policy check`` and ``dockward policy explain``: the policy, offline.

``check`` answers what the gateway would decide for one request from one identity and why;
``explain`` lists what a role may do. Exit codes: 0 allow, 1 deny, 2 bad input.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated

import typer

from dockward.errors import ProtocolError, UsageError
from dockward.http1.body import ChunkedReader
from dockward.http1.request import find_head_end, parse_request_head
from dockward.identity import PeerIdentity
from dockward.policy.decision import Decision
from dockward.policy.engine import RolePolicy, judge_in_rounds
from dockward.policy.gojson import decode_body
from dockward.policy.namespaces import names_summary
from dockward.policy.operations import ACCESS
from dockward.policy.paths import parse_query, split_target
from dockward.policy.profiles import FactQuery
from dockward.policy.roles import PRESETS, Selector, load_policy_config
from dockward.policy.routes import classify_route
from dockward.policy.tenancy import OWNER_LABEL, scope_summary

app = typer.Typer(
    help="Check requests against a policy file, offline.",
    no_args_is_help=True,
    rich_markup_mode=None,
)

ConfigOption = Annotated[Path, typer.Option("--config", "-c", help="Policy file ([[role]] tables)")]


def identity_from_selector(text: str) -> PeerIdentity:
    """A stand-in identity for a selector: ``cn:NAME``, ``san:…``, ``uid:N``, …"""
    try:
        selector = Selector.parse(text)
    except ValueError as err:
        raise UsageError(f"--identity: {err}") from None
    kind, value = selector.kind, selector.value
    if kind == "*":
        raise UsageError("--identity names one identity, not '*'")
    if kind == "cn":
        return PeerIdentity(kind="tls", common_name=value)
    if kind == "san":
        return PeerIdentity(kind="tls", uris=(value,), dns_names=(value,))
    if kind == "spki":
        return PeerIdentity(kind="tls", spki_sha256=value)
    if kind == "serial":
        return PeerIdentity(kind="tls", serial=int(value, 0))
    if kind == "uid":
        return PeerIdentity(kind="unix", uid=int(value), gid=-1)
    return PeerIdentity(kind="unix", gid=int(value), uid=-1)


def read_request(parts: list[str]) -> tuple[str, bytes, bytes | None]:
    """``[FILE]`` (a raw HTTP request) or ``[METHOD, PATH, (BODY.json)]`` → method, target, body."""
    if len(parts) == 1:
        path = Path(parts[0])
        try:
            raw = path.read_bytes()
        except OSError as err:
            raise UsageError(f"cannot read request file {path}: {err.strerror}") from None
        try:
            end = find_head_end(raw)
            if end < 0:
                raise UsageError(
                    f"{path}: no complete HTTP request head (it ends with an empty line)"
                )
            head = parse_request_head(raw[:end])
            rest = raw[end:]
            if head.chunked:
                payload: list[memoryview] = []
                ChunkedReader().feed(rest, payload)
                body: bytes | None = b"".join(payload)
            else:
                body = rest[: head.content_length or 0] or None
        except ProtocolError as err:
            raise UsageError(f"{path}: {err}") from None
        return head.method, head.target, body
    if len(parts) in (2, 3):
        method, target = parts[0].upper(), parts[1]
        body = None
        if len(parts) == 3:
            try:
                body = Path(parts[2]).read_bytes()
            except OSError as err:
                raise UsageError(f"cannot read body file {parts[2]}: {err.strerror}") from None
        return method, target.encode(), body
    raise UsageError("REQUEST is a raw HTTP request file, or METHOD PATH [BODY.json]")


def decide(
    policy: RolePolicy,
    identity: PeerIdentity,
    source: str | None,
    method: str,
    target: bytes,
    body: bytes | None,
    known: Mapping[FactQuery, Mapping[str, object]] | None = None,
) -> Decision:
    try:
        split = split_target(target)
        request = classify_route(method, split)
        decision = policy.authorize(identity, source, request)
        if not decision.allowed or not decision.inspect_request:
            return decision
        query = parse_query(split.query)
        decoded = decode_body(body) if body and decision.inspect_body else None
        answers = known or {}  # offline: "no such object", but for --owner-of
        return judge_in_rounds(policy, decision, request, query, decoded, answers.get)
    except ProtocolError as err:
        return Decision(False, "unknown", "malformed", f"refused: {err}", status=err.status)


def owned_object(text: str) -> tuple[FactQuery, Mapping[str, object]]:
    """``--owner-of KIND:NAME=OWNER`` as the daemon's inspect answer for that object."""
    kind, _, rest = text.partition(":")
    name, sep, owner = rest.partition("=")
    kinds = ("container", "volume", "network", "image")
    if kind not in kinds or not name or not sep:
        raise UsageError(
            f"--owner-of {text!r}: expected KIND:NAME=OWNER with KIND one of {', '.join(kinds)}"
        )
    labels = {OWNER_LABEL: owner} if owner else {}
    if kind in ("container", "image"):
        tags = [name if ":" in name else f"{name}:latest"] if kind == "image" else []
        document: dict[str, object] = {"Name": f"/{name}", "RepoTags": tags}
        document["Config"] = {"Labels": labels}
    else:
        document = {"Name": name, "Labels": labels}
    return FactQuery(kind, name), document  # type: ignore[arg-type]  # kind checked above


@app.command("check")
def check(
    request: Annotated[
        list[str], typer.Argument(help="FILE (raw HTTP request) or METHOD PATH [BODY.json]")
    ],
    config: ConfigOption,
    identity: Annotated[
        str, typer.Option(help="Who asks: cn:NAME, san:…, spki:…, serial:…, uid:N, gid:N")
    ],
    source: Annotated[str | None, typer.Option(help="Source address of a TCP client")] = None,
    owner_of: Annotated[
        list[str] | None,
        typer.Option(
            "--owner-of",
            help="An object that exists, and its owner: KIND:NAME=OWNER (KIND container, "
            "volume, network or image; OWNER as 'cn:alice', 'role:ci', or '' for none)",
        ),
    ] = None,
) -> None:
    """Print what the policy decides for REQUEST from IDENTITY, and why."""
    policy = RolePolicy(load_policy_config(config))
    peer = identity_from_selector(identity)
    if source is not None:
        try:
            ipaddress.ip_address(source)
        except ValueError:
            raise UsageError(f"--source: {source!r} is not an IP address") from None
    method, target, body = read_request(request)
    known = dict(owned_object(text) for text in owner_of or ())
    decision = decide(policy, peer, source, method, target, body, known)
    if decision.rule == "malformed":
        typer.echo(f"dockward: {decision.reason}", err=True)
        raise typer.Exit(2)
    role = f'role "{decision.role}"' if decision.role else "no role"
    if decision.allowed and not decision.audit_only:
        typer.echo(f"allow: {decision.operation} by {role} ({decision.rule})")
        raise typer.Exit(0)
    verdict = "audit (would deny, let through)" if decision.audit_only else "deny"
    why = f" ({decision.rule})" if decision.as_daemon else ""
    typer.echo(f"{verdict}: {decision.operation}: {decision.reason}{why}")
    raise typer.Exit(1)


@app.command("explain")
def explain(
    role: Annotated[str, typer.Argument(help="Role name")],
    config: ConfigOption,
) -> None:
    """List what ROLE may do."""
    policy = RolePolicy(load_policy_config(config))
    found = policy.role_named(role)
    if found is None:
        names = ", ".join(r.name for r in policy.roles) or "none"
        raise UsageError(f"no role named {role!r} in {config} (roles: {names})")
    typer.echo(f"role {found.name}: profile {found.profile}, mode {found.mode}")
    typer.echo(
        "  clients:  " + (", ".join(str(s) for s in found.selectors) or "(none: matches nobody)")
    )
    typer.echo("  networks: " + (", ".join(str(n) for n in found.networks) or "any"))
    typer.echo("  scope:    " + scope_summary(found.scope, found.name))
    if found.scope != "all":
        typer.echo("  names:    " + names_summary(found.names))
    if found.profile != "unrestricted":
        typer.echo("  host paths: " + (", ".join(found.host_paths) or "none"))
        typer.echo("  runtimes: " + ", ".join(found.runtimes))
        if found.registries:
            typer.echo("  registries: " + ", ".join(found.registries))
        typer.echo(
            "  outbound: "
            + (", ".join(found.outbound) or "public registries only (no URLs, no log servers)")
        )
    typer.echo(
        "  grants:   " + (", ".join(sorted(found.grants)) or "none (Env values are redacted)")
    )
    typer.echo("  allowed operations:")
    for operation in found.allowed_operations():
        typer.echo(f"    {operation:32} {ACCESS[operation].value}")
    if found.profile == "unrestricted" and "*" in found.allow:
        typer.echo("    (and routes dockward does not know)")
    tunnels = found.allowed_tunnels()
    if tunnels:
        typer.echo(
            f"dockward: warning: role {found.name} may open {' and '.join(tunnels)}: BuildKit "
            "tunnels dockward cannot see into, so what a build does through them (its network "
            "mode, entitlements, exports) is not judged by the profile",
            err=True,
        )
    raise typer.Exit(0)


@app.command("presets")
def presets() -> None:
    """List the role presets a [[role]] can start from (preset = "NAME")."""
    for name, preset in PRESETS.items():
        typer.echo(f"{name:14} profile {preset.profile:12} {preset.description}")
