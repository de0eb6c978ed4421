"""Plans render so that no value from a manifest or from App Mesh can forge or hide anything.

The pull-request comment is checked with a CommonMark renderer (markdown-it-py, HTML on,
as GitHub renders comments): one code block per change, no HTML, heading, link or
mention made from values, and every delete visible.
"""

from __future__ import annotations

import html
import json
import re
import sys
import unicodedata
from pathlib import Path

import click
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


def test_every_invisible_character_is_escaped_in_text() -> None:
    """Zero-width characters, bidi marks and every other format character (Unicode Cf)."""
    invisible = [chr(c) for c in range(sys.maxunicode + 1) if unicodedata.category(chr(c)) == "Cf"]
    assert {"\u200b", "\u200f", "\u202e", "\ufeff"} <= set(invisible)
    assert [c for c in invisible if render.clean(f"a{c}b") == f"a{c}b"] == []


def _lookalike_plan(tmp_path: Path) -> Plan:
    names = ["payments", "p\u0430yments", "pay\u200bments", "\u200fpayments", "日本語のルート"]
    docs = [gateway(), *(route(name, prefix=f"/{i}") for i, name in enumerate(names))]
    result = loader.load(write_tree(tmp_path, {"m.yaml": docs}))
    assert result.ok, result.problems
    return make_plan(result.state, {}, Settings())


def test_look_alike_names_cannot_pass_for_each_other(tmp_path: Path) -> None:
    plan = _lookalike_plan(tmp_path)
    for out in (render.text(plan), render.markdown(plan)):
        assert "apps/gw/payments " in out
        assert "apps/gw/p\\u0430yments" in out  # a Cyrillic letter in a Latin word: escaped
        assert "apps/gw/pay\\u200bments" in out
        assert "apps/gw/\\u200fpayments" in out
        assert "apps/gw/日本語のルート" in out  # one writing system: shown as written
        assert not {"\u0430", "\u200b", "\u200f"} & set(out)


def test_inert_documents_never_push_a_change_out_of_the_comment(tmp_path: Path) -> None:
    disabled = {model.RECONCILE_ANNOTATION: model.DISABLED}
    inert = [route(f"inert-{i}-{'x' * 200}", prefix=f"/{i}", annotations=disabled) for i in range(2000)]
    result = loader.load(write_tree(tmp_path, {"m.yaml": [gateway(), *inert, route("real")]}))
    assert result.ok, result.problems
    comment = render.markdown(make_plan(result.state, {}, Settings()))
    assert "GatewayRoute apps/gw/real ` will be created" in comment
    assert comment.index("**Changes**") < comment.index("**Left alone**")
    assert "more left-alone resource(s)" in comment
    text = render.text(make_plan(result.state, {}, Settings()))
    assert text.index("apps/gw/real will be created") < text.index("is left alone")


def test_a_change_of_owner_meshes_or_prune_leads_every_format(tmp_path: Path) -> None:
    result = loader.load(write_tree(tmp_path, {"m.yaml": [gateway()]}))
    plan = make_plan(result.state, {}, Settings(owner="teamB", prune=True))
    plan.settings_changes = [
        ("owner", "platform", "teamB"),
        ("prune", False, True),
        ("meshes", ["apps", "other"], ["apps"]),
        ("maxDeletes", 10, 20),
    ]
    text = click.unstyle(render.text(plan))
    assert text.startswith(render.BOUNDARY_TITLE)
    assert '! owner: "platform" -> "teamB" (widens)' in text
    assert "! prune: false -> true (widens)" in text
    assert '! meshes: ["apps", "other"] -> ["apps"] (narrows)' in text
    assert "maxDeletes: " not in text.split("\n\n")[0]
    comment = render.markdown(plan)
    assert comment.index(render.BOUNDARY_TITLE) < comment.index("| Action | Count |")
    document = json.loads(render.as_json(plan))
    assert list(document)[:3] == ["format_version", "owner", "boundary_changes"]
    assert document["boundary_changes"] == [
        {"name": "owner", "before": "platform", "after": "teamB", "widens": True},
        {"name": "prune", "before": False, "after": True, "widens": True},
        {"name": "meshes", "before": ["apps", "other"], "after": ["apps"], "widens": False},
    ]
