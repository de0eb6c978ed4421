"""deploy/: every artifact checked by the real linter, and the preview workflow's commands run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonpatch
import pytest
import yaml
from parliament import analyze_policy_string, enhance_finding

from reconciler.sandbox import Sandbox

from .helpers import ROOT

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
    return run("bash", "-e", "-c", step["run"], cwd=repo, env={**env, **step.get("env", {})})


def _workflow_env(tmp_path: Path, extra: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GITHUB_")}
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
    env = _workflow_env(tmp_path, {"AWS_ENDPOINT_URL": sandbox.endpoint})
    # App Mesh holds what the base branch describes.
    worktree = tmp_path / "applied"
    _git(repo, "worktree", "add", "-q", "--detach", str(worktree), base)
    applied = run(BIN / "reconcile", "-f", worktree / "manifests", "--endpoint-url", sandbox.endpoint)
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
    env = _workflow_env(tmp_path, {})
    step = _steps()["Plan offline against the base branch"]
    done = run("bash", "-e", "-c", step["run"], cwd=repo, env={**env, "BASE_SHA": base})
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


def test_deployment_and_workflow_take_the_plan_meaning_from_the_tree() -> None:
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
    applied = run(BIN / "reconcile", "-f", repo / "manifests", "--endpoint-url", sandbox.endpoint)
    assert applied.returncode == 0, applied.stdout + applied.stderr
    _git(repo, "rm", "-q", "manifests/sample/gateway-route.yaml")
    _git(repo, "commit", "-q", "-m", "remove a route")
    sandbox.stats.reset()

    steps = _steps()
    previews = {}
    for name, extra in (
        ("Plan against App Mesh", {"AWS_ENDPOINT_URL": sandbox.endpoint}),
        ("Plan offline against the base branch", {"BASE_SHA": base}),
    ):
        env = _workflow_env(tmp_path / name.replace(" ", "-"), {})
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
