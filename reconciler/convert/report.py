"""The conversion's report: per resource what did not carry over, as text or JSON."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import click

from .. import render
from .equivalence import Difference, Equivalence
from .gatewayapi import Conversion, Finding, FindingKind
from .precedence import Conflict, Verdict

FORMAT_VERSION = "1.0"
ROWS_PER_ROUTE = 3  # the text report's differences per route; JSON carries all


def text(
    conversion: Conversion,
    conflicts: list[Conflict],
    written: list[str],
    equivalence: Equivalence | None = None,
) -> str:
    """Per resource, every field that did not carry over; then the precedence conflicts."""
    lines = [f"wrote {render.clean(path)}" for path in written]
    by_resource: dict[str, list[Finding]] = {}
    for finding in conversion.findings:
        by_resource.setdefault(finding.resource, []).append(finding)
    for resource, findings in sorted(by_resource.items()):
        lines.append(f"\n{render.clean(resource)}")
        for f in findings:
            colour = "yellow" if f.kind in (FindingKind.ASSUMED, FindingKind.UNDETERMINED) else "red"
            lines.append(click.style(f"  {f.kind.value:7} {render.clean(f.field)}", fg=colour))
            lines.append(render.clean(f"          App Mesh: {f.what}"))
            lines.append(render.clean(f"          instead:  {f.instead}"))
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
    if equivalence is not None:
        lines += _differences(equivalence)
    kinds = Counter(f.kind for f in conversion.findings)
    skipped = kinds[FindingKind.NOT_CONVERTED]
    lines.append(
        f"\nConverted {len(conversion.objects)} object(s): {kinds[FindingKind.LOSS]} loss(es), "
        f"{kinds[FindingKind.ASSUMED]} assumption(s), "
        f"{len(conflicts)} priority conflict(s)"
        + (f", {skipped} route(s) matching nothing." if skipped else ".")
    )
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


def as_json(
    conversion: Conversion,
    conflicts: list[Conflict],
    written: list[str],
    equivalence: Equivalence | None = None,
) -> str:
    document: dict[str, Any] = {
        "format_version": FORMAT_VERSION,
        "to": "gateway-api/v1",
        "objects": [
            {"kind": o.kind, "namespace": o.namespace, "name": o.name, "from": o.source.address}
            for o in conversion.objects
        ],
        "files": written,
        "findings": [f.as_dict() for f in conversion.findings],
        "priorityConflicts": [c.as_dict() for c in conflicts],
    }
    if equivalence is not None:
        document["equivalence"] = equivalence.as_dict()
    return json.dumps(document, indent=2)
