"""Plans as text (like ``terraform plan``), stable JSON, and pull-request Markdown."""

from __future__ import annotations

import json
from typing import Any

import click

from .diff import Change
from .executor import Report, Status
from .plan import Action, Plan, Step
from .problems import Problem, Severity

FORMAT_VERSION = "1.0"
GITHUB_COMMENT_LIMIT = 65_536

_SYMBOL = {Action.CREATE: "+", Action.UPDATE: "~", Action.TAG: "~", Action.DELETE: "-", Action.NOOP: " "}
_COLOUR = {"+": "green", "~": "yellow", "-": "red", " ": None}
_VERB = {
    Action.CREATE: "will be created",
    Action.UPDATE: "will be updated in place",
    Action.TAG: "will have its tags updated",
    Action.DELETE: "will be deleted",
}


def summary_line(plan: Plan) -> str:
    c = plan.counts()
    return (
        f"Plan: {c['create']} to create, {c['update']} to update, {c['delete']} to delete, "
        f"{c['no-op']} unchanged."
    )


def _value(value: Any) -> str:
    return json.dumps(value, sort_keys=True)


def change_line(change: Change) -> str:
    """``+ path = new``, ``- path = old`` or ``~ path: old -> new``."""
    if change.before is None:
        return f"+ {change.path} = {_value(change.after)}"
    if change.after is None:
        return f"- {change.path} = {_value(change.before)}"
    return f"~ {change.path}: {_value(change.before)} -> {_value(change.after)}"


def _verbs(step: Step) -> str:
    return " and ".join(_VERB[a] for a in step.actions)


# --- text --------------------------------------------------------------------


def text(plan: Plan) -> str:
    lines: list[str] = []
    changed = [s for s in plan.steps if s.actions]
    if changed:
        lines.append("The reconciler will perform the following actions:\n")
    for step in changed:
        symbol = _SYMBOL[step.summary_action]
        lines.append(click.style(f"  {symbol} {step.key} {_verbs(step)}", fg=_COLOUR[symbol], bold=True))
        where = f"; from {step.source}" if step.source else ""
        lines.append(f"      # {step.reason}{where}")
        for change in step.changes:
            line = change_line(change)
            lines.append(click.style(f"      {line}", fg=_COLOUR[line[0]]))
        lines.append("")
    if not changed:
        lines.append("No changes. App Mesh matches the manifests.\n")
    lines += [styled_problem(p) for p in plan.findings]
    if plan.findings:
        lines.append("")
    lines.append(summary_line(plan))
    if plan.blocked:
        lines.append(click.style("The plan has errors; nothing will be applied.", fg="red"))
    return "\n".join(lines)


def styled_problem(problem: Problem) -> str:
    return click.style(str(problem), fg="red" if problem.severity is Severity.ERROR else "yellow")


# --- JSON ----------------------------------------------------------------------


def as_json(plan: Plan, owner: str) -> str:
    """The documented, stable machine-readable plan (README, "JSON plan")."""
    document = {
        "format_version": FORMAT_VERSION,
        "owner": owner,
        "summary": plan.counts(),
        "has_changes": plan.has_changes,
        "blocked": plan.blocked,
        "resources": [_step_json(step) for step in plan.steps],
        "findings": [p.as_dict() for p in plan.findings],
    }
    return json.dumps(document, indent=2, sort_keys=False)


def _step_json(step: Step) -> dict[str, Any]:
    def state(spec: Any, tags: Any) -> dict[str, Any] | None:
        return None if spec is None else {"spec": spec, "tags": dict(tags or {})}

    return {
        "address": step.key.address,
        "identity": step.key.as_dict(),
        "actions": [a.value for a in step.actions] or [Action.NOOP.value],
        "reason": step.reason,
        "source": {"file": step.source.file, "document": step.source.document} if step.source else None,
        "before": state(step.before, step.tags_before),
        "after": None if Action.DELETE in step.actions else state(step.after, step.tags_after),
        "changes": [{"path": c.path, "before": c.before, "after": c.after} for c in step.changes],
    }


# --- Markdown ------------------------------------------------------------------


def markdown(plan: Plan, limit: int = GITHUB_COMMENT_LIMIT) -> str:
    """A pull-request comment: summary table, banners, then one collapsible block per change."""
    c = plan.counts()
    head = ["### App Mesh plan", ""]
    if c["delete"]:
        head += ["> [!WARNING]", f"> This plan **deletes {c['delete']} resource(s)**.", ""]
    if plan.blocked:
        head += ["> [!CAUTION]", "> The plan has errors; nothing will be applied.", ""]
    head += ["| Action | Count |", "| --- | ---: |"]
    head += [
        f"| {name} | {c[key]} |"
        for name, key in (
            ("Create", "create"),
            ("Update", "update"),
            ("Delete", "delete"),
            ("Unchanged", "no-op"),
        )
    ]
    head.append("")
    head += [f"- {'❌' if p.severity is Severity.ERROR else '⚠️'} {_escape(str(p))}" for p in plan.findings]
    if plan.findings:
        head.append("")
    if not plan.has_changes:
        head.append("No changes. App Mesh matches the manifests.")
    blocks = [_details(step) for step in plan.steps if step.actions]
    return _fit("\n".join(head), blocks, summary_line(plan), limit)


def _details(step: Step) -> str:
    symbol = _SYMBOL[step.summary_action]
    body = "\n".join(_diff_lines(c) for c in step.changes)
    where = f" — `{step.source}`" if step.source else ""
    return (
        f"<details><summary><code>{symbol} {_escape(str(step.key))}</code> {_verbs(step)}"
        f"</summary>\n\n{_escape(step.reason)}{where}\n\n```diff\n{body}\n```\n</details>"
    )


def _diff_lines(change: Change) -> str:
    """An update as a -/+ pair, which GitHub's diff highlighting colours."""
    if change.before is None or change.after is None:
        return change_line(change)
    return f"- {change.path} = {_value(change.before)}\n+ {change.path} = {_value(change.after)}"


def _fit(head: str, blocks: list[str], footer: str, limit: int) -> str:
    """Keep the comment under GitHub's size limit, saying what was left out."""
    reserve = 200
    out = [head]
    size = len(head) + len(footer) + reserve
    for shown, block in enumerate(blocks):
        if size + len(block) + 1 > limit:
            out.append(
                f"\n_… {len(blocks) - shown} more change(s) not shown: the comment size limit was reached. "
                "Run `reconcile --dry-run` for the full plan._"
            )
            break
        out.append(block)
        size += len(block) + 1
    out.append(f"\n**{footer}**")
    return "\n".join(out) + "\n"


def _escape(text_: str) -> str:
    return text_.replace("<", "&lt;").replace(">", "&gt;")


# --- apply results ---------------------------------------------------------------


def report_text(report: Report) -> str:
    lines = []
    for outcome in report.outcomes:
        if outcome.status is not Status.DONE:
            colour = "red" if outcome.status is Status.FAILED else "yellow"
            lines.append(click.style(f"{outcome.status.value}: {outcome.key}: {outcome.message}", fg=colour))
    done = {a: report.count(Status.DONE, a) for a in (Action.CREATE, Action.UPDATE, Action.DELETE)}
    lines.append(
        f"Apply {'complete' if report.ok else 'incomplete'}: {done[Action.CREATE]} created, "
        f"{done[Action.UPDATE]} updated, {done[Action.DELETE]} deleted; "
        f"{report.count(Status.FAILED)} failed, {report.count(Status.SKIPPED)} skipped."
    )
    if not report.ok:
        lines.append("The next run converges whatever is left.")
    return "\n".join(lines)


def apply_json(plan: Plan, report: Report, owner: str) -> str:
    document = json.loads(as_json(plan, owner))
    document["apply"] = {
        "ok": report.ok,
        "outcomes": [
            {
                "address": o.key.address,
                "identity": o.key.as_dict(),
                "action": o.action.value,
                "status": o.status.value,
                "message": o.message,
                "error_code": o.error_code,
            }
            for o in report.outcomes
        ],
    }
    return json.dumps(document, indent=2)
