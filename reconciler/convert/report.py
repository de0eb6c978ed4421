"""The conversion's report: per resource what did not carry over, as text or JSON."""

from __future__ import annotations

import json
from typing import Any

import click

from .. import render
from .equivalence import Difference, Equivalence
from .gatewayapi import Finding, FindingKind
from .precedence import PriorityConflict, Verdict
from .targets import Fitted, Profile
from .targets.profiles import EXTENDED_FOR_APP_MESH

FORMAT_VERSION = "1.1"
ROWS_PER_ROUTE = 3  # the text report's differences per route; JSON carries all

_COLOUR = {FindingKind.ASSUMED: "yellow", FindingKind.IGNORED: "yellow", FindingKind.DIFFERS: "magenta"}


def text(
    fitted: Fitted,
    conflicts: list[PriorityConflict],
    written: list[str],
    equivalence: Equivalence | None = None,
) -> str:
    """Per resource, every field that did not carry over; the precedence conflicts; the differences."""
    conversion = fitted.conversion
    lines = [f"wrote {render.clean(path)}" for path in written]
    by_resource: dict[str, list[Finding]] = {}
    for finding in conversion.findings:
        by_resource.setdefault(finding.resource, []).append(finding)
    for resource, findings in sorted(by_resource.items()):
        lines.append(f"\n{render.clean(resource)}")
        for f in findings:
            lines.append(
                click.style(f"  {f.kind.value:8} {render.clean(f.field)}", fg=_COLOUR.get(f.kind, "red"))
            )
            lines.append(render.clean(f"           App Mesh: {f.what}"))
            lines.append(render.clean(f"           instead:  {f.instead}"))
            lines.extend(render.clean(f"           source:   {s}") for s in f.sources)
    if conflicts:
        lines.append("\nPriority order Gateway API does not keep:")
    for c in conflicts:
        pair = (
            f"{c.winner} and {c.other}"
            if c.verdict is Verdict.UNDETERMINED
            else f"{c.winner} (App Mesh's choice) over {c.other}"
        )
        lines.append(click.style(render.clean(f"  {pair}: {c.verdict.value}"), fg="red"))
        lines.append(render.clean(f"          {c.why}"))
        resolution = fitted.resolution(c)
        if resolution:
            lines.append(render.clean(f"          on {fitted.profile.name}: {resolution}"))
    if equivalence is not None:
        lines += _differences(equivalence)
    lines.extend(_notes(fitted))
    lines.append(_summary(fitted, conflicts))
    return "\n".join(lines).lstrip("\n")


def _differences(equivalence: Equivalence) -> list[str]:
    """Per route, a few requests routed differently, each with the fields that explain it."""
    lines = [
        f"\nRouting checked on {equivalence.requests} request(s): "
        f"{len(equivalence.differences)} routed differently, {len(equivalence.unexplained)} unexplained, "
        f"{equivalence.undetermined} App Mesh does not decide."
    ]
    by_route: dict[str, list[Difference]] = {}
    for d in equivalence.differences:
        by_route.setdefault(d.route, []).append(d)
    for route, differences in sorted(by_route.items()):
        lines.append(render.clean(f"  {route}: {len(differences)} request(s)"))
        for d in differences[:ROWS_PER_ROUTE]:
            api = " or ".join(str(o) for o in d.gateway_api)
            why = ", ".join(sorted({f.field for f in d.findings})) or "UNEXPLAINED"
            lines.append(render.clean(f"    {d.request}"))
            lines.append(render.clean(f"      App Mesh:    {d.app_mesh}"))
            lines.append(render.clean(f"      Gateway API: {api}"))
            lines.append(
                click.style(render.clean(f"      why:         {why}"), fg="red" if not d.findings else None)
            )
        if len(differences) > ROWS_PER_ROUTE:
            lines.append(f"    ... and {len(differences) - ROWS_PER_ROUTE} more (--report json lists all)")
    return lines


def _notes(fitted: Fitted) -> list[str]:
    if not fitted.profile.notes:
        return []
    lines = [f"\nOn {fitted.profile.name}:"]
    for note in fitted.profile.notes:
        lines.append(f"  - {note.text}")
        lines.extend(f"    source: {s}" for s in note.sources)
    return lines


def _summary(fitted: Fitted, conflicts: list[PriorityConflict]) -> str:
    conversion = fitted.conversion
    count = {kind: sum(f.kind is kind for f in conversion.findings) for kind in FindingKind}
    target = ""
    if fitted.profile.behaviours:
        target = (
            f"on {fitted.profile.name} {fitted.profile.version}: {count[FindingKind.REJECTED]} rejected, "
            f"{count[FindingKind.IGNORED]} ignored, {count[FindingKind.DIFFERS]} read differently, "
        )
    skipped = count[FindingKind.NOT_CONVERTED]
    return (
        f"\nConverted {len(conversion.objects)} object(s): {count[FindingKind.LOSS]} loss(es), "
        f"{count[FindingKind.ASSUMED]} assumption(s), {target}"
        f"{len(conflicts)} priority conflict(s)"
        + (f", {skipped} route(s) matching nothing." if skipped else ".")
    )


def as_json(
    fitted: Fitted,
    conflicts: list[PriorityConflict],
    written: list[str],
    equivalence: Equivalence | None = None,
) -> str:
    """The loss report as one JSON document: objects, findings, priority conflicts, files written."""
    conversion = fitted.conversion
    document: dict[str, Any] = {
        "format_version": FORMAT_VERSION,
        "to": "gateway-api/v1",
        "target": fitted.as_dict(),
        "objects": [
            {"kind": o.kind, "namespace": o.namespace, "name": o.name, "from": o.source.address}
            for o in conversion.objects
        ],
        "files": written,
        "findings": [f.as_dict() for f in conversion.findings],
        "priorityConflicts": [_conflict(fitted, c) for c in conflicts],
    }
    if equivalence is not None:
        document["equivalence"] = equivalence.as_dict()
    return json.dumps(document, indent=2)


def _conflict(fitted: Fitted, conflict: PriorityConflict) -> dict[str, Any]:
    out: dict[str, Any] = dict(conflict.as_dict())
    resolution = fitted.resolution(conflict)
    if resolution and fitted.profile.listOrder:
        out["resolution"] = {"how": resolution, "sources": list(fitted.profile.listOrder.sources)}
    return out


def targets_text(profiles: list[Profile]) -> str:
    """``--list-targets``: a table of claimed features, then each profile's behaviours with sources."""
    lines = _feature_table(profiles)
    for p in profiles:
        lines += [f"{p.name}: {p.implementation} {p.version}", f"  choose it when: {p.choose}"]
        lines.append(f"  rule order: {p.ruleOrder.value}")
        lines.extend(f"    source: {s}" for s in p.ruleOrderSources)
        claims = p.claims()
        if claims is not None:
            core = ", ".join(f"{name} {result}" for name, result in sorted(claims.core.items()))
            lines.append(
                f"  conformance report: {claims.report} (Gateway API {claims.gateway_api}; core: {core})"
            )
            lines.append(f"    Extended features claimed: {', '.join(claims.extended) or 'none'}")
        if p.conformanceNote:
            lines.append(f"    note: {p.conformanceNote}")
        for b in p.behaviours:
            limit = f" (limit {b.limit})" if b.limit is not None else ""
            lines.append(f"  {b.kind.value:8} {b.feature.value}{limit}: {b.effect}")
            lines.extend(f"    source: {s}" for s in b.sources)
        if p.listOrder is not None:
            lines.append(f"  list order: {p.listOrder.how}")
            lines.extend(f"    source: {s}" for s in p.listOrder.sources)
        for note in p.notes:
            lines.append(f"  note: {note.text}")
            lines.extend(f"    source: {s}" for s in note.sources)
        lines.extend(f"  see: {s}" for s in p.sources)
        lines.append("")
    return "\n".join(lines).rstrip("\n")


def _feature_table(profiles: list[Profile]) -> list[str]:
    """Which target's conformance report claims each Extended feature App Mesh configurations need."""
    claimed = {p.name: claims for p in profiles if (claims := p.claims()) is not None}
    width = max(len(f) for f in EXTENDED_FOR_APP_MESH)
    lines = ["Extended features claimed in each target's conformance report (yes / -):"]
    lines.append(" " * (width + 2) + " ".join(f"{name:>{len(name)}}" for name in claimed))
    for feature, field in EXTENDED_FOR_APP_MESH.items():
        cells = [f"{'yes' if feature in c.extended else '-':>{len(name)}}" for name, c in claimed.items()]
        lines.append(f"{feature:<{width}}  {' '.join(cells)}   <- {field}")
    lines.append(
        "(standard: the spec alone claims nothing; a feature a report does not claim was not tested there)\n"
    )
    return lines


def targets_json(profiles: list[Profile]) -> str:
    return json.dumps(
        {"format_version": FORMAT_VERSION, "targets": [p.as_dict() for p in profiles]}, indent=2
    )
