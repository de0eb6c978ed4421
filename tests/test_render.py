"""Plans render so that no value from a manifest or from App Mesh can forge or hide anything.

The pull-request comment is checked with a CommonMark renderer (markdown-it-py, HTML on,
as GitHub renders comments): one code block per change, no HTML, heading, link or
mention made from values, and every delete visible.
"""

from __future__ import annotations

import html
import re
from pathlib import Path

from markdown_it import MarkdownIt

from reconciler import loader, model, render
from reconciler.plan import Plan, make_plan
from reconciler.problems import Problem, Severity
from reconciler.resources import Key, Live, Scope
from reconciler.settings import Settings

from .helpers import gateway, route, write_tree

HOSTILE = (
    "x```\n\n# Owned\n[click](https://evil.example) @org/team <!-- hide --> <b>bold</b> \x1b[2J\n::warning::x"
)


def _hostile_plan(tmp_path: Path) -> tuple[Plan, str]:
    doc = route("rt", tags={HOSTILE: HOSTILE})
    doc["spec"]["http2Route"]["match"]["headers"] = [{"name": "h", "match": {"exact": HOSTILE[:200]}}]
    result = loader.load(write_tree(tmp_path, {f"{'`' * 4}evil.yaml": [gateway(), doc]}))
    assert result.ok, result.problems
    doomed = Key.route_key(Scope("apps"), "gw", f"old{HOSTILE}")
    live = {
        doomed: Live(doomed, route()["spec"], "arn:old", 1, {model.OWNER_TAG: "default", HOSTILE: HOSTILE}),
    }
    return make_plan(result.state, live, Settings(prune=True)), doomed.name


def _outside_code(rendered: str) -> str:
    return re.sub(r"<(pre|code)>.*?</\1>", "", rendered, flags=re.DOTALL)


def test_hostile_values_cannot_forge_the_comment(tmp_path: Path) -> None:
    plan, deleted_name = _hostile_plan(tmp_path)
    comment = render.markdown(plan)
    tokens = MarkdownIt("commonmark", {"html": True}).parse(comment)
    kinds = [t.type for t in tokens]
    changes = [s for s in plan.steps if s.actions]
    assert kinds.count("fence") == len(changes) + 1  # one per change, and the settings
    assert not {"html_block", "html_inline"} & set(kinds)
    assert kinds.count("heading_open") == 1  # our title only
    inline = [child.type for t in tokens if t.children for child in t.children]
    assert "link_open" not in inline
    assert "html_inline" not in inline
    rendered = MarkdownIt("commonmark", {"html": True}).render(comment)
    assert "@" not in _outside_code(rendered)  # a mention only ever inside code, where GitHub does not link
    assert "deletes 1 resource(s)" in rendered
    assert html.escape(render.clean(deleted_name), quote=False) in rendered


def test_text_output_escapes_control_characters_and_starts_no_workflow_command(tmp_path: Path) -> None:
    plan, _ = _hostile_plan(tmp_path)
    out = render.text(plan)
    assert "\x1b" not in out.replace("\x1b[", "")  # only click's own colour codes, never a value's
    assert "\x1b[2J" not in out
    assert not [line for line in out.splitlines() if line.lstrip("\x1b[0123456789;m").startswith("::")]
    assert "\\u001b[2J" in out


def test_seven_hundred_warnings_fit_in_one_comment_and_say_what_was_cut(tmp_path: Path) -> None:
    result = loader.load(write_tree(tmp_path, {"m.yaml": [gateway()]}))
    notes = [
        Problem(f"warning number {i}: " + "w" * 100, file=f"manifests/{i}.yaml", severity=Severity.WARNING)
        for i in range(700)
    ]
    plan = make_plan(result.state, {}, Settings(), notes)
    comment = render.markdown(plan)
    assert len(comment) < render.GITHUB_COMMENT_LIMIT - render.COMMENT_MARGIN
    assert "more warning(s)" in comment
    assert "reconcile --dry-run -o json" in comment
    assert comment.rstrip().endswith("**Plan: 1 to create, 0 to update, 0 to delete, 0 unchanged.**")
    assert "VirtualGateway apps/gw" in comment  # the change itself outranks the warnings
