"""The conversion's report: per resource what did not carry over, as text or JSON."""

from __future__ import annotations

import json
from collections import Counter

import click

from .. import render
from .gatewayapi import Conversion, Finding, FindingKind
from .precedence import Conflict, Verdict

FORMAT_VERSION = "1.0"


def text(conversion: Conversion, conflicts: list[Conflict], written: list[str]) -> str:
    """Per resource, every field that did not carry over; then the precedence conflicts."""
    lines = [f"wrote {render.clean(path)}" for path in written]
    by_resource: dict[str, list[Finding]] = {}
    for finding in conversion.findings:
        by_resource.setdefault(finding.resource, []).append(finding)
    for resource, findings in sorted(by_resource.items()):
        lines.append(f"\n{render.clean(resource)}")
        for f in findings:
            colour = "red" if f.kind is FindingKind.LOSS else "yellow"
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
    kinds = Counter(f.kind for f in conversion.findings)
    skipped = kinds[FindingKind.NOT_CONVERTED]
    lines.append(
        f"\nConverted {len(conversion.objects)} object(s): {kinds[FindingKind.LOSS]} loss(es), "
        f"{kinds[FindingKind.ASSUMED]} assumption(s), "
        f"{len(conflicts)} priority conflict(s)"
        + (f", {skipped} route(s) matching nothing." if skipped else ".")
    )
    return "\n".join(lines).lstrip("\n")


def as_json(conversion: Conversion, conflicts: list[Conflict], written: list[str]) -> str:
    document = {
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
    return json.dumps(document, indent=2)
