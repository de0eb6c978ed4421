"""Plans as text (like ``terraform plan``), stable JSON, and pull-request Markdown.

Names, tag keys and values, match values and file names come from manifests and
from App Mesh: nothing from outside is trusted. In text, control characters are
escaped, so no value moves the cursor, colours the terminal or starts a line (a
line starting with ``::`` would be a GitHub workflow command); so are invisible
characters (zero-width, bidi marks), and a word mixing scripts (``payments`` with a
Cyrillic U+0430 for its ``a``) has its non-ASCII letters escaped, so no name passes for
another. In Markdown every such value sits inside a code span or a code block fenced
longer than any backtick run it holds, so it cannot close the block, open HTML or a
comment, mention anyone, link, or make a heading. The whole comment stays under
GitHub's size limit, cutting the least important detail first and saying what was cut;
real changes come before the resources left alone, so inert documents push none out.
"""

from __future__ import annotations

import json
import re
import unicodedata
from typing import Any

import click

from .diff import Change
from .outcomes import Report, Status
from .plan import Action, Plan, Step
from .problems import Problem, Severity

FORMAT_VERSION = "1.1"
# GitHub refuses a comment body over 65,536 characters; the workflow adds a marker line
# and a note of its own, so the rendered plan keeps a margin.
GITHUB_COMMENT_LIMIT = 65_536
COMMENT_MARGIN = 1_024
FULL_PLAN_HINT = "the full plan is the JSON plan (`reconcile --dry-run -o json`; the workflow's artifact)"

_SYMBOL = {Action.CREATE: "+", Action.UPDATE: "~", Action.TAG: "~", Action.DELETE: "-", Action.NOOP: " "}
_COLOUR = {"+": "green", "~": "yellow", "-": "red", " ": None}
_VERB = {
    Action.CREATE: "will be created",
    Action.UPDATE: "will be updated in place",
    Action.TAG: "will have its tags updated",
    Action.DELETE: "will be deleted",
}
# C0 and C1 controls, DEL, line and paragraph separators, and every format character
# (Unicode category Cf: zero-width spaces and joiners, bidi marks, embeddings, overrides
# and isolates, the BOM, invisible operators, tag characters), which hide text or reorder
# what a reviewer sees, plus the invisible fillers (combining grapheme joiner, Hangul fillers).
_UNSAFE = re.compile(
    "[\x00-\x1f\x7f-\x9f\xad\u034f\u061c\u115f\u1160\u180e\u200b-\u200f\u2028-\u202e"
    "\u2060-\u2064\u2066-\u206f\u3164\ufeff\uffa0\ufff9-\ufffb\u0600-\u0605\u06dd\u070f"
    "\u0890\u0891\u08e2\U000110bd\U000110cd\U00013430-\U0001343f\U0001bca0-\U0001bca3"
    "\U0001d173-\U0001d17a\U000e0001\U000e0020-\U000e007f]"
)
_WORD = re.compile(r"[^\W\d_]{2,}")  # a run of letters
# Scripts that one word legitimately mixes (Japanese writes kanji and kana together).
_SCRIPT_GROUP = {"HIRAGANA": "CJK", "KATAKANA": "CJK", "KATAKANA-HIRAGANA": "CJK", "HANGUL": "CJK"}


def _escape(char: str) -> str:
    code = ord(char)
    return f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"


def _script(char: str) -> str:
    """The script a letter is drawn in, as the first word of its Unicode name (LATIN, CYRILLIC)."""
    first = unicodedata.name(char, "").split(" ", 1)[0]
    return _SCRIPT_GROUP.get(first, first)


def _unmixed(match: re.Match[str]) -> str:
    """A word of one script as it is; a word mixing scripts with its non-ASCII letters escaped."""
    word = match.group()
    if len({_script(c) for c in word}) < 2:
        return word
    return "".join(c if c.isascii() else _escape(c) for c in word)


_ASCII_UNSAFE = re.compile("[\x00-\x1f\x7f]")  # all _UNSAFE can find in ASCII text: a cheaper scan


def clean(text: str) -> str:
    """``text`` as one visible line no reader can mistake: controls, invisibles and mixed scripts escaped."""
    if text.isascii():
        return _ASCII_UNSAFE.sub(lambda m: _escape(m.group()), text)
    return _WORD.sub(_unmixed, _UNSAFE.sub(lambda m: _escape(m.group()), text))


def summary_line(plan: Plan) -> str:
    c = plan.counts()
    return (
        f"Plan: {c['create']} to create, {c['update']} to update, {c['delete']} to delete, "
        f"{c['no-op']} unchanged."
    )


def _value(value: Any) -> str:
    return json.dumps(value, sort_keys=True)  # escapes every control character


def change_line(change: Change) -> str:
    """``+ path = new``, ``- path = old`` or ``~ path: old -> new``."""
    path = clean(change.path)
    if change.before is None:
        return f"+ {path} = {_value(change.after)}"
    if change.after is None:
        return f"- {path} = {_value(change.before)}"
    return f"~ {path}: {_value(change.before)} -> {_value(change.after)}"


def _verbs(step: Step) -> str:
    return " and ".join(_VERB[a] for a in step.actions)


def settings_lines(plan: Plan) -> list[str]:
    """``name = value (origin)`` per setting, then what a change of the tree's settings changes."""
    lines = [
        f"{name} = {_value(value)} ({clean(origin)})" for name, value, origin in plan.settings.described()
    ]
    lines += [
        f"{name} changes in this change: {_value(before)} -> {_value(after)}"
        for name, before, after in plan.settings_changes
    ]
    return lines


# --- text --------------------------------------------------------------------


def no_changes(plan: Plan) -> str:
    """What an empty plan means: App Mesh matches, or nothing was compared at all."""
    if not plan.meshes:
        return "No changes: this plan manages no mesh (see the warning below)."
    return "No changes. App Mesh matches the manifests."


def boundary_lines(plan: Plan) -> list[str]:
    """``name: before -> after (widens|narrows)`` for each change of owner, meshes or prune."""
    return [
        f"{name}: {_value(before)} -> {_value(after)} ({'widens' if wider else 'narrows'})"
        for name, before, after, wider in plan.boundary_changes
    ]


BOUNDARY_TITLE = "This change moves what this instance may touch (owner, meshes or prune):"


def text(plan: Plan) -> str:
    """The plan for a person: each change with its fields, what is left alone, warnings, a summary."""
    lines: list[str] = []
    if plan.boundary_changes:
        lines.append(click.style(BOUNDARY_TITLE, fg="red", bold=True))
        lines += [click.style(f"  ! {line}", fg="red") for line in boundary_lines(plan)]
        lines.append("")
    changed = [s for s in plan.steps if s.actions]
    if changed:
        lines.append("The reconciler will perform the following actions:\n")
    for step in changed:
        symbol = _SYMBOL[step.summary_action]
        title = f"  {symbol} {clean(str(step.key))} {_verbs(step)}"
        lines.append(click.style(title, fg=_COLOUR[symbol], bold=True))
        where = f"; from {clean(str(step.source))}" if step.source else ""
        lines.append(f"      # {clean(step.reason)}{where}")
        for change in step.changes:
            line = change_line(change)
            lines.append(click.style(f"      {line}", fg=_COLOUR[line[0]]))
        lines.append("")
    if not changed:
        lines.append(no_changes(plan) + "\n")
    for step in (s for s in plan.steps if s.left_alone):  # after the changes: inert documents hide none
        lines.append(f"  = {clean(str(step.key))} is left alone")
        lines.append(f"      # {clean(step.reason)}; from {clean(str(step.source))}\n")
    lines += [styled_problem(p) for p in plan.findings]
    if plan.findings:
        lines.append("")
    lines.append("Settings:")
    lines += [f"  {line}" for line in settings_lines(plan)]
    lines.append("")
    lines.append(summary_line(plan))
    if plan.blocked:
        lines.append(click.style("The plan has errors; nothing will be applied.", fg="red"))
    return "\n".join(lines)


def styled_problem(problem: Problem) -> str:
    return click.style(clean(str(problem)), fg="red" if problem.severity is Severity.ERROR else "yellow")


# --- JSON ----------------------------------------------------------------------


def _document(plan: Plan) -> dict[str, Any]:
    return {
        "format_version": FORMAT_VERSION,
        "owner": plan.settings.owner,
        "boundary_changes": [
            {"name": name, "before": before, "after": after, "widens": wider}
            for name, before, after, wider in plan.boundary_changes
        ],
        "settings": {
            name: {"value": value, "origin": origin} for name, value, origin in plan.settings.described()
        },
        "settings_changes": [
            {"name": name, "before": before, "after": after} for name, before, after in plan.settings_changes
        ],
        "summary": plan.counts(),
        "has_changes": plan.has_changes,
        "blocked": plan.blocked,
        "resources": [_step_json(step) for step in plan.steps],
        "findings": [p.as_dict() for p in plan.findings],
    }


def as_json(plan: Plan) -> str:
    """The documented, stable machine-readable plan (README, "JSON plan")."""
    return json.dumps(_document(plan))  # one line: CPython's C encoder (indent= uses the slow one)


def _step_json(step: Step) -> dict[str, Any]:
    def state(spec: Any, tags: Any) -> dict[str, Any] | None:
        return None if spec is None else {"spec": spec, "tags": dict(tags or {})}

    return {
        "address": step.key.address,
        "identity": step.key.as_dict(),
        "actions": [a.value for a in step.actions] or [Action.NOOP.value],
        "reason": step.reason,
        "skipped": step.left_alone,
        "source": {"file": step.source.file, "document": step.source.document} if step.source else None,
        "before": state(step.before, step.tags_before),
        "after": None if Action.DELETE in step.actions else state(step.after, step.tags_after),
        "changes": [{"path": c.path, "before": c.before, "after": c.after} for c in step.changes],
    }


# --- Markdown ------------------------------------------------------------------


def code(text_: str) -> str:
    """``text_`` as an inline code span no content can end: nothing in it renders."""
    body = clean(text_)
    fence = "`" * (_longest_backtick_run(body) + 1)
    return f"{fence} {body} {fence}"


def code_block(lines: list[str], info: str = "") -> str:
    """Lines as a fenced block whose fence is longer than any backtick run inside."""
    body = "\n".join(clean(line) for line in lines)
    fence = "`" * max(3, _longest_backtick_run(body) + 1)
    return f"{fence}{info}\n{body}\n{fence}"


def _longest_backtick_run(text_: str) -> int:
    return max((len(run) for run in re.findall("`+", text_)), default=0)


def markdown(plan: Plan, limit: int = GITHUB_COMMENT_LIMIT - COMMENT_MARGIN) -> str:
    """A pull-request comment: banners, summary table, settings, changes, findings."""
    c = plan.counts()
    deleted = [s for s in plan.steps if Action.DELETE in s.actions]
    head = ["### App Mesh plan", ""]
    if plan.boundary_changes:
        head += ["> [!CAUTION]", f"> **{BOUNDARY_TITLE}**"]
        head += [f"> - {code(line)}" for line in boundary_lines(plan)]
        head.append("")
    if deleted:
        head += ["> [!WARNING]", f"> This plan **deletes {len(deleted)} resource(s)**.", ""]
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
    head += ["", "**Settings in force**", "", code_block(settings_lines(plan)), ""]
    if not plan.has_changes:
        head.append(no_changes(plan))
    errors_ = [p for p in plan.findings if p.severity is Severity.ERROR]
    warnings_ = [p for p in plan.findings if p.severity is not Severity.ERROR]
    sections = [
        _Section("deleted resource(s)", "**Deleted**", [f"- {code(str(s.key))}" for s in deleted]),
        _Section("error(s)", "**Errors**", [f"- ❌ {code(str(p))}" for p in errors_]),
        _Section("change(s)", "**Changes**", [_details(s) for s in _by_importance(plan)]),
        _Section(  # after the changes: inert documents never push a real change out of the comment
            "left-alone resource(s)",
            "**Left alone**",
            [f"- {code(str(s.key))}: {code(s.reason)}" for s in plan.steps if s.left_alone],
        ),
        _Section("warning(s)", "**Warnings**", [f"- ⚠️ {code(str(p))}" for p in warnings_]),
    ]
    return _fit("\n".join(head), sections, f"**{summary_line(plan)}**", limit)


class _Section:
    """Items of one kind, shown in order while they fit."""

    def __init__(self, noun: str, title: str, items: list[str]) -> None:
        self.noun, self.title, self.items = noun, title, items


_IMPORTANCE = (Action.DELETE, Action.CREATE, Action.UPDATE)


def _by_importance(plan: Plan) -> list[Step]:
    """Deletes, then creates, then updates: what a reviewer must not miss comes first."""
    return sorted((s for s in plan.steps if s.actions), key=lambda s: _IMPORTANCE.index(s.summary_action))


def _details(step: Step) -> str:
    symbol = _SYMBOL[step.summary_action]
    where = f" — from {code(str(step.source))}" if step.source else ""
    title = f"`{symbol}` {code(str(step.key))} {_verbs(step)}{where}"
    lines = [f"# {step.reason}"] + [line for c in step.changes for line in _diff_lines(c)]
    return f"{title}\n\n{code_block(lines, 'diff')}\n"


def _diff_lines(change: Change) -> list[str]:
    """An update as a -/+ pair, which GitHub's diff highlighting colours."""
    if change.before is None or change.after is None:
        return [change_line(change)]
    path = clean(change.path)
    return [f"- {path} = {_value(change.before)}", f"+ {path} = {_value(change.after)}"]


def _fit(head: str, sections: list[_Section], footer: str, limit: int) -> str:
    """Add each section's items while the comment stays under ``limit``, noting what was cut."""
    out = [head]
    notes: list[str] = []
    size = len(head) + len(footer) + 600  # room for the notes about what was cut
    for section in sections:
        if not section.items:
            continue
        shown = 0
        if size + len(section.title) + 2 < limit:
            out.append(f"\n{section.title}\n")
            size += len(section.title) + 2
            for item in section.items:
                if size + len(item) + 1 > limit:
                    break
                out.append(item)
                size += len(item) + 1
                shown += 1
        if shown < len(section.items):
            notes.append(f"{len(section.items) - shown} more {section.noun}")
    if notes:
        cut = ", ".join(notes)
        out.append(f"\n_Not shown to keep this comment under GitHub's size limit: {cut}; {FULL_PLAN_HINT}._")
    out.append(f"\n{footer}")
    return "\n".join(out) + "\n"


# --- apply results ---------------------------------------------------------------


def report_text(report: Report) -> str:
    """What an apply did: every step that did not complete, then the summary line."""
    lines = []
    for outcome in report.outcomes:
        if outcome.status is not Status.DONE:
            colour = "red" if outcome.status is Status.FAILED else "yellow"
            message = clean(f"{outcome.status.value}: {outcome.key}: {outcome.message}")
            lines.append(click.style(message, fg=colour))
    done = {a: report.count(Status.DONE, a) for a in (Action.CREATE, Action.UPDATE, Action.DELETE)}
    lines.append(
        f"Apply {'complete' if report.ok else 'incomplete'}: {done[Action.CREATE]} created, "
        f"{done[Action.UPDATE]} updated, {done[Action.DELETE]} deleted; "
        f"{report.count(Status.FAILED)} failed, {report.count(Status.SKIPPED)} skipped."
    )
    if not report.ok:
        lines.append("The next run converges whatever is left.")
    return "\n".join(lines)


def apply_json(plan: Plan, report: Report) -> str:
    """The plan's JSON document with what the apply did to each step under ``apply``."""
    document = _document(plan)
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
    return json.dumps(document)
