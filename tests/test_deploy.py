"""deploy/: every artifact checked by the real linter, and the preview workflow's commands run."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonpatch
import pytest
import yaml
from parliament import analyze_policy_string, enhance_finding

from reconciler.sandbox import Sandbox

from .helpers import ROOT, reconcile

BIN = Path(sys.executable).parent
DEPLOY = ROOT / "deploy"
KUBE = DEPLOY / "kubernetes"


def run(*command: str | Path, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(c) for c in command], capture_output=True, text=True, check=False, **kwargs)


def test_dockerfile_passes_hadolint() -> None:
    done = run(BIN / "hadolint", "--config", DEPLOY / ".hadolint.yaml", DEPLOY / "Dockerfile")
    assert done.returncode == 0, done.stdout + done.stderr
    text = (DEPLOY / "Dockerfile").read_text()
    assert "USER 10001" in text
    assert 'ENTRYPOINT ["reconcile"]' in text


def test_hadolint_really_checks(tmp_path: Path) -> None:
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python\nRUN apt-get install curl\n")
    assert run(BIN / "hadolint", bad).returncode != 0


def _resources() -> list[Path]:
    return sorted(p for p in KUBE.rglob("*.yaml") if p.name != "kustomization.yaml")


@pytest.mark.parametrize("path", _resources(), ids=lambda p: str(p.relative_to(KUBE)))
def test_kubernetes_resources_validate(path: Path) -> None:
    done = run(BIN / "kubernetes-validate", "--strict", "--kubernetes-version", "1.37.0", path)
    assert done.returncode == 0, done.stdout + done.stderr


def test_kustomizations_name_files_that_exist() -> None:
    for kustomization in KUBE.rglob("kustomization.yaml"):
        for entry in yaml.safe_load(kustomization.read_text())["resources"]:
            assert (kustomization.parent / entry).exists(), f"{kustomization}: {entry}"


def _deployment() -> dict[str, Any]:
    return dict(yaml.safe_load((KUBE / "base" / "deployment.yaml").read_text()))


def test_configmap_overlay_patch_applies_and_validates(tmp_path: Path) -> None:
    overlay = yaml.safe_load((KUBE / "overlays" / "configmap" / "kustomization.yaml").read_text())
    (patch,) = overlay["patches"]
    patched = jsonpatch.apply_patch(_deployment(), yaml.safe_load(patch["patch"]))
    containers = patched["spec"]["template"]["spec"]["containers"]
    assert [c["name"] for c in containers] == ["reconciler"]
    assert "--manifests=/manifests" in containers[0]["args"]
    assert patched["spec"]["template"]["spec"]["volumes"][0]["configMap"]["name"] == "appmesh-manifests"
    out = tmp_path / "deployment.yaml"
    out.write_text(yaml.safe_dump(patched))
    done = run(BIN / "kubernetes-validate", "--strict", out)
    assert done.returncode == 0, done.stdout + done.stderr


def test_deployment_is_locked_down_and_probed() -> None:
    pod = _deployment()["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    for container in pod["containers"]:
        sc = container["securityContext"]
        assert sc["readOnlyRootFilesystem"] is True
        assert sc["allowPrivilegeEscalation"] is False
        assert sc["capabilities"]["drop"] == ["ALL"]
        assert {"requests", "limits"} <= set(container["resources"])
        assert any(m["mountPath"] == "/tmp" for m in container["volumeMounts"])
    reconciler, git_sync = pod["containers"]
    assert reconciler["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert reconciler["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert "--watch" in reconciler["args"]
    assert "--manifests=/git/current/manifests" in reconciler["args"]
    assert "--link=current" in git_sync["args"]
    assert "--root=/git" in git_sync["args"]
    sa = yaml.safe_load((KUBE / "base" / "serviceaccount.yaml").read_text())
    assert sa["metadata"]["annotations"]["eks.amazonaws.com/role-arn"].startswith("arn:aws:iam::")


def _findings(policy: str) -> list[tuple[str, str]]:
    return [(enhance_finding(f).severity, f.issue) for f in analyze_policy_string(policy).findings]


@pytest.mark.parametrize("name", ["sidecar-policy.json", "preview-policy.json", "adopt-policy.json"])
def test_iam_policies_have_no_finding_above_low(name: str) -> None:
    findings = _findings((DEPLOY / "iam" / name).read_text())
    assert [f for f in findings if f[0] not in ("LOW", "INFO")] == []


def test_parliament_really_checks() -> None:
    wide = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "appmesh:*", "Resource": "*"}],
    }
    assert _findings(json.dumps(wide))


OWNER_KEY = "reconciler.appmesh/owner"


def _statements(name: str) -> list[tuple[str, dict[str, Any]]]:
    policy = json.loads((DEPLOY / "iam" / name).read_text())
    return [
        (action, statement)
        for statement in policy["Statement"]
        for action in ([statement["Action"]] if isinstance(statement["Action"], str) else statement["Action"])
    ]


def test_preview_policy_is_read_only() -> None:
    assert all(
        a.split(":")[1].startswith(("List", "Describe")) for a, _ in _statements("preview-policy.json")
    )


def test_every_sidecar_write_is_conditioned_on_ownership() -> None:
    writes = [
        (a, s)
        for a, s in _statements("sidecar-policy.json")
        if not a.split(":")[1].startswith(("List", "Describe"))
    ]
    assert {a for a, _ in writes} >= {
        "appmesh:UpdateGatewayRoute",
        "appmesh:DeleteVirtualGateway",
        "appmesh:TagResource",
    }
    for action, statement in writes:
        condition = statement.get("Condition", {})
        if action.split(":")[1].startswith("Create"):  # a new resource must carry this owner's tag
            assert condition["StringEquals"] == {f"aws:RequestTag/{OWNER_KEY}": "platform"}, action
            continue
        assert condition["StringEquals"] == {f"aws:ResourceTag/{OWNER_KEY}": "platform"}, action
        if action in (
            "appmesh:TagResource",
            "appmesh:UntagResource",
        ):  # the owner tag itself is never touched
            assert condition["ForAllValues:StringNotEquals"] == {"aws:TagKeys": [OWNER_KEY]}, action


def test_adoption_is_a_separate_grant_limited_to_unowned_resources() -> None:
    ((action, statement),) = _statements("adopt-policy.json")
    assert action == "appmesh:TagResource"
    assert statement["Condition"] == {
        "Null": {f"aws:ResourceTag/{OWNER_KEY}": "true"},
        "StringEquals": {f"aws:RequestTag/{OWNER_KEY}": "platform"},
    }
    assert not _findings((DEPLOY / "iam" / "adopt-policy.json").read_text())


def test_workflow_matches_the_github_schema() -> None:
    done = run(
        BIN / "check-jsonschema",
        "--builtin-schema",
        "vendor.github-workflows",
        DEPLOY / "github" / "pr-preview.yml",
    )
    assert done.returncode == 0, done.stdout + done.stderr


def _steps() -> dict[str, dict[str, Any]]:
    workflow = yaml.safe_load((DEPLOY / "github" / "pr-preview.yml").read_text())
    return {step["name"]: step for step in workflow["jobs"]["plan"]["steps"]}


def _git(repo: Path, *args: str) -> str:
    done = run("git", "-C", repo, "-c", "user.name=t", "-c", "user.email=t@example.invalid", *args)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def _manifests_repo(tmp_path: Path) -> tuple[Path, str]:
    """A git repository holding a copy of manifests/ in one commit; returns it and the commit."""
    repo = tmp_path / "repo"
    repo.mkdir()
    _git(repo, "init", "-q", "-b", "main")
    for source in (ROOT / "manifests").rglob("*.yaml"):
        target = repo / "manifests" / source.relative_to(ROOT / "manifests")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(source.read_text())
    _git(repo, "add", ".")
    _git(repo, "commit", "-q", "-m", "base")
    return repo, _git(repo, "rev-parse", "HEAD")


@pytest.fixture
def pull_request(tmp_path: Path) -> tuple[Path, str]:
    """A manifests repository with a base commit and a pull request changing one route."""
    repo, base = _manifests_repo(tmp_path)
    routes = repo / "manifests" / "ingress" / "routes.yaml"
    routes.write_text(routes.read_text().replace("prefix: /payments/", "prefix: /pay/"))
    _git(repo, "commit", "-q", "-am", "change a route")
    return repo, base


def _run_step(step: dict[str, Any], repo: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Run a step's script; ``env`` gives the values GitHub would put for the step's ``${{ }}``."""
    own = {k: v for k, v in step.get("env", {}).items() if not (str(v).startswith("${{") and k in env)}
    return run("bash", "-e", "-c", step["run"], cwd=repo, env={**env, **own})


def _workflow_env(tmp_path: Path, extra: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GITHUB_")}
    env.update(yaml.safe_load((DEPLOY / "github" / "pr-preview.yml").read_text())["env"])  # the job's own
    env.update(
        MANIFESTS="manifests",
        RUNNER_TEMP=str(tmp_path / "runner"),
        PATH=f"{BIN}:{env['PATH']}",
        GITHUB_STEP_SUMMARY=str(tmp_path / "summary.md"),
        **extra,
    )
    return env


def test_workflow_commands_plan_against_app_mesh(
    sandbox: Sandbox, pull_request: tuple[Path, str], tmp_path: Path
) -> None:
    repo, base = pull_request
    steps = _steps()
    env = _workflow_env(tmp_path, {"AWS_ENDPOINT_URL": sandbox.endpoint, "BASE_SHA": base})
    # App Mesh holds what the base branch describes.
    worktree = tmp_path / "applied"
    _git(repo, "worktree", "add", "-q", "--detach", str(worktree), base)
    applied = reconcile("-f", str(worktree / "manifests"), endpoint=sandbox.endpoint)
    assert applied.returncode == 0, applied.stdout + applied.stderr
    sandbox.stats.reset()

    for name in ("Validate manifests", "Plan against App Mesh", "Write the plan to the job summary"):
        done = _run_step(steps[name], repo, env)
        assert done.returncode == 0, f"{name}: {done.stdout}{done.stderr}"
    plan = (repo / "plan.md").read_text()
    assert "| Update | 1 |" in plan
    assert '+ spec.httpRoute.match.prefix = "/pay/"' in plan
    assert (tmp_path / "summary.md").read_text() == plan
    assert {op for op in sandbox.stats.operations() if not op.startswith(("List", "Describe"))} == set()


def test_workflow_commands_plan_offline_for_forks(pull_request: tuple[Path, str], tmp_path: Path) -> None:
    repo, base = pull_request
    env = _workflow_env(tmp_path, {"BASE_SHA": base})
    done = _run_step(_steps()["Plan offline against the base branch"], repo, env)
    assert done.returncode == 0, done.stdout + done.stderr
    plan = (repo / "plan.md").read_text()
    assert "| Update | 1 |" in plan
    assert '- spec.httpRoute.match.prefix = "/payments/"' in plan
    assert "Offline preview" in plan


def test_pre_commit_hook_runs_validate(tmp_path: Path) -> None:
    (hook,) = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())
    assert hook["id"] == "reconcile-validate"
    assert hook["pass_filenames"] is False
    command = [*hook["entry"].split(), *hook["args"]]
    good = run(*command, cwd=ROOT, env={**os.environ, "PATH": f"{BIN}:{os.environ['PATH']}"})
    assert good.returncode == 0, good.stderr
    (tmp_path / "manifests").mkdir()
    (tmp_path / "manifests" / "bad.yaml").write_text("kind: [\n")
    bad = run(*command, cwd=tmp_path, env={**os.environ, "PATH": f"{BIN}:{os.environ['PATH']}"})
    assert bad.returncode == 1
    assert "bad.yaml" in bad.stderr


PLAN_MEANING_FLAGS = ("--owner", "--prune", "--no-prune", "--allow-empty", "--max-deletes", "--mesh")


def test_deployment_and_workflow_take_the_plan_meaning_from_the_tree_and_pin_the_owner() -> None:
    deployment = yaml.safe_load((KUBE / "base" / "deployment.yaml").read_text())
    (container,) = [
        c for c in deployment["spec"]["template"]["spec"]["containers"] if c["name"] == "reconciler"
    ]
    assert not [arg for arg in container["args"] if arg.split("=")[0] in PLAN_MEANING_FLAGS]
    scripts = " ".join(step.get("run", "") for step in _steps().values())
    assert not [flag for flag in PLAN_MEANING_FLAGS if f"{flag} " in scripts or f"{flag}=" in scripts]
    settings = yaml.safe_load((ROOT / "manifests" / "settings.yaml").read_text())
    assert settings["spec"]["owner"] == "platform"
    assert settings["spec"]["prune"] is True
    # The owner is the deployment's: the daemon and the preview pin the same one.
    pinned = {e["name"]: e.get("value") for e in container["env"]}["RECONCILE_OWNER"]
    workflow = yaml.safe_load((DEPLOY / "github" / "pr-preview.yml").read_text())
    assert pinned == workflow["env"]["RECONCILE_OWNER"] == settings["spec"]["owner"]


def _with_status(step: dict[str, Any], env: dict[str, str]) -> dict[str, Any]:
    """The step verbatim, then the plan command's exit status (the step itself hides a 2)."""
    return {
        **step,
        "env": {**step.get("env", {}), **env},
        "run": step["run"] + '\necho "plan-exit=$status"\n',
    }


def _actions(plan_json: Path) -> list[tuple[str, list[str]]]:
    document = json.loads(plan_json.read_text())
    return [(r["address"], r["actions"]) for r in document["resources"] if r["actions"] != ["no-op"]]


def test_both_preview_paths_show_the_delete_a_merge_would_make(sandbox: Sandbox, tmp_path: Path) -> None:
    repo, base = _manifests_repo(tmp_path)
    # The deployment applies the base branch, with the tree's settings (owner platform).
    applied = reconcile("-f", str(repo / "manifests"), endpoint=sandbox.endpoint)
    assert applied.returncode == 0, applied.stdout + applied.stderr
    _git(repo, "rm", "-q", "manifests/sample/gateway-route.yaml")
    _git(repo, "commit", "-q", "-m", "remove a route")
    sandbox.stats.reset()

    steps = _steps()
    previews = {}
    for name, extra in (
        ("Plan against App Mesh", {"AWS_ENDPOINT_URL": sandbox.endpoint}),
        ("Plan offline against the base branch", {}),
    ):
        env = _workflow_env(tmp_path / name.replace(" ", "-"), {"BASE_SHA": base})
        done = _run_step(_with_status(steps[name], extra), repo, env)
        assert done.returncode == 0, done.stdout + done.stderr
        assert "plan-exit=2" in done.stdout, done.stdout  # --detailed-exitcode: there are changes
        plan = (repo / "plan.md").read_text()
        assert "deletes 1 resource(s)" in plan
        assert "GatewayRoute apps/myVirtualGateway/myGatewayRoute" in plan
        assert 'owner = "platform"' in plan
        previews[name] = _actions(repo / "plan.json")
    assert previews["Plan against App Mesh"] == previews["Plan offline against the base branch"]
    assert previews["Plan against App Mesh"] == [("apps/myVirtualGateway/myGatewayRoute", ["delete"])]
    assert {op for op in sandbox.stats.operations() if not op.startswith(("List", "Describe"))} == set()


def test_both_preview_paths_refuse_a_pull_request_that_moves_the_owner(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    repo, base = _manifests_repo(tmp_path)
    applied = run(BIN / "reconcile", "-f", repo / "manifests", "--endpoint-url", sandbox.endpoint)
    assert applied.returncode == 0, applied.stdout + applied.stderr
    settings = repo / "manifests" / "settings.yaml"
    settings.write_text(settings.read_text().replace("owner: platform", "owner: teamB"))
    _git(repo, "commit", "-q", "-am", "hand the tree to another team")
    steps = _steps()
    for name in ("Plan against App Mesh", "Plan offline against the base branch"):
        env = _workflow_env(tmp_path / name.replace(" ", "-"), {"BASE_SHA": base})
        done = _run_step(steps[name], repo, {**env, "AWS_ENDPOINT_URL": sandbox.endpoint})
        assert done.returncode == 1, name + done.stdout + done.stderr
        plan = done.stdout
        assert "name owner 'teamB', but this instance is pinned to owner 'platform'" in plan, name
        assert plan.index('owner: "platform" -> "teamB" (widens)') < plan.index("| Action |"), name


def test_two_replicas_elect_a_leader_with_a_lease_and_nothing_more() -> None:
    deployment = yaml.safe_load((KUBE / "base" / "deployment.yaml").read_text())
    assert deployment["spec"]["replicas"] == 2
    pod = deployment["spec"]["template"]["spec"]
    reconciler, git_sync = pod["containers"]
    assert "--leader-elect" in reconciler["args"]
    env = {e["name"]: e["valueFrom"]["fieldRef"]["fieldPath"] for e in reconciler["env"] if "valueFrom" in e}
    assert env == {"POD_NAME": "metadata.name", "POD_NAMESPACE": "metadata.namespace"}
    # the API token reaches the reconciler alone, never git-sync
    assert pod["automountServiceAccountToken"] is False
    token_mount = "/var/run/secrets/kubernetes.io/serviceaccount"
    assert [m["name"] for m in reconciler["volumeMounts"] if m["mountPath"] == token_mount] == [
        "kube-api-token"
    ]
    assert not [m for m in git_sync["volumeMounts"] if m["name"] == "kube-api-token"]
    role, binding = yaml.safe_load_all((KUBE / "base" / "rbac.yaml").read_text())
    for rule in role["rules"]:
        assert (rule["apiGroups"], rule["resources"]) == (["coordination.k8s.io"], ["leases"])
        assert set(rule["verbs"]) <= {"get", "create", "update"}
        if set(rule["verbs"]) != {"create"}:  # create alone cannot name its object
            assert rule["resourceNames"] == ["appmesh-reconciler"]
    assert binding["roleRef"]["name"] == role["metadata"]["name"]
    assert binding["subjects"][0]["name"] == pod["serviceAccountName"]
    budget = yaml.safe_load((KUBE / "base" / "poddisruptionbudget.yaml").read_text())
    assert budget["spec"]["minAvailable"] == 1
    assert budget["spec"]["selector"] == deployment["spec"]["selector"]
    kustomization = yaml.safe_load((KUBE / "base" / "kustomization.yaml").read_text())
    assert {"rbac.yaml", "poddisruptionbudget.yaml"} <= set(kustomization["resources"])


def test_pins_images_and_dependencies() -> None:
    deployment = yaml.safe_load((KUBE / "base" / "deployment.yaml").read_text())
    pod = deployment["spec"]["template"]["spec"]
    (git_sync,) = [c for c in pod["containers"] if c["name"] == "git-sync"]
    assert "@sha256:" in git_sync["image"]
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    assert "--require-hashes -r requirements.lock" in dockerfile
    lock = (DEPLOY / "requirements.lock").read_text()
    pinned = {line.split("==")[0].lower() for line in lock.splitlines() if "==" in line}
    for requirement in (
        "pydantic", "boto3", "watchdog", "tenacity", "structlog", "pyyaml", "click", "rich", "kubernetes"
    ):  # fmt: skip
        assert requirement in pinned, requirement
    blocks = [b for b in lock.split("\n") if "==" in b]
    assert blocks
    assert all(b.rstrip().endswith("\\") for b in blocks)  # each pin continues with its hashes


def _pod() -> dict[str, Any]:
    return dict(_deployment()["spec"]["template"])


def test_git_sync_gets_no_aws_identity_and_shares_no_writable_home() -> None:
    pod = _pod()
    skipped = pod["metadata"]["annotations"]["eks.amazonaws.com/skip-containers"].split(",")
    assert "git-sync" in skipped
    reconciler, git_sync = pod["spec"]["containers"]
    assert "reconciler" not in skipped
    assert not [e for e in git_sync.get("env", []) if e["name"].startswith("AWS_")]
    writable = {
        c["name"]: {m["name"] for m in c["volumeMounts"] if not m.get("readOnly")}
        for c in pod["spec"]["containers"]
    }
    read_only = {m["name"] for m in reconciler["volumeMounts"] if m.get("readOnly")}
    # nothing one container can write is run or imported by the other: only the manifests
    # volume is shared, and the reconciler mounts it read-only
    shared = {m["name"] for m in reconciler["volumeMounts"]} & {m["name"] for m in git_sync["volumeMounts"]}
    assert shared == {"manifests"} <= read_only
    assert writable["reconciler"].isdisjoint(writable["git-sync"])
    assert "PYTHONNOUSERSITE=1" in (DEPLOY / "Dockerfile").read_text()  # nothing under HOME is imported


def test_every_empty_dir_is_sized() -> None:
    volumes = _pod()["spec"]["volumes"]
    empty = [v for v in volumes if "emptyDir" in v]
    assert {v["name"] for v in empty} == {"manifests", "tmp", "git-sync-tmp"}
    assert all(v["emptyDir"]["sizeLimit"] for v in empty)


def test_the_probe_port_answers_the_monitoring_namespace_only() -> None:
    policy = yaml.safe_load((KUBE / "base" / "networkpolicy.yaml").read_text())
    assert policy["spec"]["podSelector"] == _deployment()["spec"]["selector"]
    assert policy["spec"]["policyTypes"] == ["Ingress"]
    (rule,) = policy["spec"]["ingress"]
    (port,) = _pod()["spec"]["containers"][0]["ports"]
    assert rule["ports"] == [{"protocol": "TCP", "port": port["containerPort"]}]
    assert rule["from"] == [
        {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}
    ]
    kustomization = yaml.safe_load((KUBE / "base" / "kustomization.yaml").read_text())
    assert "networkpolicy.yaml" in kustomization["resources"]


def test_the_configmap_overlay_drops_git_syncs_volume_with_it() -> None:
    overlay = yaml.safe_load((KUBE / "overlays" / "configmap" / "kustomization.yaml").read_text())
    (patch,) = overlay["patches"]
    patched = jsonpatch.apply_patch(_deployment(), yaml.safe_load(patch["patch"]))
    volumes = [v["name"] for v in patched["spec"]["template"]["spec"]["volumes"]]
    assert volumes == ["manifests", "tmp", "kube-api-token"]


def _workflow() -> dict[str, Any]:
    return dict(yaml.safe_load((DEPLOY / "github" / "pr-preview.yml").read_text()))


def test_workflow_pins_every_action_and_the_reconciler_and_keeps_no_credentials() -> None:
    steps = _steps()
    uses = [step["uses"] for step in steps.values() if "uses" in step]
    assert uses
    assert all(re.fullmatch(r"[\w.-]+/[\w.-]+@[0-9a-f]{40}", u) for u in uses), uses
    (checkout,) = [s for s in steps.values() if s.get("uses", "").startswith("actions/checkout@")]
    assert checkout["with"]["persist-credentials"] is False
    env = _workflow()["env"]
    assert re.fullmatch(r"[0-9a-f]{40}", env["RECONCILER_COMMIT"])
    install = steps["Install the reconciler (one commit, dependencies by hash)"]["run"]
    assert "--require-hashes" in install
    assert '= "$RECONCILER_COMMIT"' in install  # what was fetched is checked, not trusted
    scripts = " ".join(step.get("run", "") for step in steps.values())
    assert "appmesh-gateway-reconciler==" not in scripts


def _fake_python(tmp_path: Path) -> tuple[Path, Path]:
    """A `python` on PATH that records its arguments instead of installing anything."""
    bin_dir, calls = tmp_path / "fake-bin", tmp_path / "calls"
    bin_dir.mkdir()
    fake = bin_dir / "python"
    fake.write_text(f'#!/bin/sh\necho "$@" >> {calls}\n')
    fake.chmod(0o755)
    return bin_dir, calls


def test_the_install_step_runs_the_pinned_commit_with_hash_checked_dependencies(tmp_path: Path) -> None:
    commit = _workflow()["env"]["RECONCILER_COMMIT"]
    if run("git", "-C", ROOT, "cat-file", "-e", f"{commit}^{{commit}}").returncode != 0:
        pytest.skip("this checkout has no git history holding the pinned commit")
    bin_dir, calls = _fake_python(tmp_path)
    step = _steps()["Install the reconciler (one commit, dependencies by hash)"]
    env = {
        **os.environ,
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "RUNNER_TEMP": str(tmp_path / "runner"),
        "RECONCILER_REPOSITORY": str(ROOT),
        "RECONCILER_COMMIT": commit,
    }
    (tmp_path / "runner").mkdir()
    done = run("bash", "-e", "-c", step["run"], cwd=tmp_path, env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    source = tmp_path / "runner" / "reconciler"
    assert calls.read_text().splitlines() == [
        f"-m pip install --require-hashes --no-deps -r {source}/deploy/requirements.lock",
        f"-m pip install --no-deps {source}",
    ]
    calls.unlink()
    moved = {**env, "RUNNER_TEMP": str(tmp_path / "runner2"), "RECONCILER_COMMIT": "0" * 40}
    (tmp_path / "runner2").mkdir()
    refused = run("bash", "-e", "-c", step["run"], cwd=tmp_path, env=moved)
    assert refused.returncode != 0
    assert not calls.exists()  # nothing is installed from a commit that is not the pinned one


NODE_HARNESS = """
const fs = require('fs');
const script = fs.readFileSync(process.argv[2], 'utf8');
const posted = [];
const github = {
  paginate: async () => [],
  rest: { issues: { listComments: null, createComment: async (c) => posted.push(c.body),
                    updateComment: async (c) => posted.push(c.body) } },
};
const context = { repo: { owner: 'o', repo: 'r' }, issue: { number: 7 } };
const AsyncFunction = Object.getPrototypeOf(async function () {}).constructor;
new AsyncFunction('github', 'context', 'require', script)(github, context, require)
  .then(() => process.stdout.write(JSON.stringify(posted)));
"""


def _sticky_comment(tmp_path: Path, status: str, plan: str | None) -> str:
    step = _steps()["Post the plan as one sticky comment"]
    tmp_path.mkdir()
    (tmp_path / "script.js").write_text(step["with"]["script"])
    (tmp_path / "harness.js").write_text(NODE_HARNESS)
    if plan is not None:
        (tmp_path / "plan.md").write_text(plan)
    env = {
        **os.environ,
        "HEAD_SHA": "a" * 40,
        "JOB_STATUS": status,
        "RUN_URL": "https://github.com/o/r/actions/runs/1",
    }
    done = run("node", tmp_path / "harness.js", tmp_path / "script.js", cwd=tmp_path, env=env)
    assert done.returncode == 0, done.stderr
    (body,) = json.loads(done.stdout)
    return str(body)


def test_the_sticky_comment_names_the_commit_and_says_when_the_run_failed(tmp_path: Path) -> None:
    if not shutil.which("node"):
        pytest.skip("node (what actions/github-script runs) is not installed")
    step = _steps()["Post the plan as one sticky comment"]
    assert step["if"] == "always()"
    assert step["env"]["HEAD_SHA"] == "${{ github.event.pull_request.head.sha }}"
    good = _sticky_comment(tmp_path / "good", "success", "| Update | 1 |")
    assert good.startswith("<!-- appmesh-reconciler-plan -->\nPlan of commit " + "a" * 40)
    assert "| Update | 1 |" in good
    for status, plan in (("failure", "| Update | 1 | (a stale plan)"), ("cancelled", None)):
        failed = _sticky_comment(tmp_path / status, status, plan)
        assert f"**The plan run failed** ({status})" in failed
        assert "a" * 40 in failed
        assert "Update" not in failed


def test_the_pinned_reconciler_knows_every_flag_the_workflow_passes() -> None:
    commit = _workflow()["env"]["RECONCILER_COMMIT"]
    shown = run("git", "-C", ROOT, "show", f"{commit}:reconciler/cli.py")
    if shown.returncode != 0:
        pytest.skip("this checkout has no git history holding the pinned commit")
    for flags_module in (
        "reconciler/flags.py",
        "reconciler/daemon/flags.py",
    ):  # where later commits declare them
        declared = run("git", "-C", ROOT, "show", f"{commit}:{flags_module}")
        shown.stdout += declared.stdout if declared.returncode == 0 else ""
    scripts = "\n".join(step.get("run", "") for step in _steps().values())
    others = ("git ", "python ", "test ")  # the commands with flags of their own in these steps
    flags = {
        flag
        for line in scripts.splitlines()
        if not line.lstrip().startswith(others)
        for flag in re.findall(r"(?<=[\s(])--[a-z][a-z-]+", line)
    }
    assert {"--dry-run", "--detailed-exitcode", "--output"} <= flags
    assert [flag for flag in sorted(flags) if f'"{flag}"' not in shown.stdout] == []
