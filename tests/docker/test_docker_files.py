"""docker/: the compose file and the Dockerfiles, checked without Docker.

What can be checked here: every path a build or a mount needs exists, every service runs a
real `waystation` command with real options, each image runs as a non-root user with a
health check, one-shot jobs run with only the dependencies their image installs, and the
health checks look at what the programs actually produce.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
import tomllib
from dataclasses import dataclass
from functools import cache
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest
import typer.main
import yaml
from fastapi.testclient import TestClient
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from typer.testing import CliRunner

from cloud.main import create_app
from cloud.settings import Settings
from edge.config import EdgeConfig
from edge.journal import Journal
from waystation.cli import app

ROOT = Path(__file__).resolve().parents[2]
DOCKER = ROOT / "docker"
COMPOSE_FILE = DOCKER / "compose.yaml"
DOCKERFILES = sorted(DOCKER.glob("Dockerfile*"))
SHELL_SEPARATORS = {"&&", "||", ";"}


# --- reading the files ------------------------------------------------------------------------


@dataclass(frozen=True)
class Instruction:
    keyword: str  # upper case: FROM, COPY, …
    args: str


@dataclass(frozen=True)
class Dockerfile:
    path: Path
    stages: list[list[Instruction]]  # each stage starts with its FROM

    @property
    def final(self) -> list[Instruction]:
        return self.stages[-1]

    def last(self, keyword: str) -> Instruction | None:
        found = [i for i in self.final if i.keyword == keyword]
        return found[-1] if found else None

    def exec_form(self, keyword: str) -> list[str]:
        """ENTRYPOINT/CMD of the final stage; only the JSON (exec) form is accepted."""
        instruction = self.last(keyword)
        assert instruction is not None, f"{self.path.name}: no {keyword}"
        value = json.loads(instruction.args)
        assert isinstance(value, list), f"{self.path.name}: {keyword} is not exec form"
        return value

    def extras(self) -> set[str]:
        """The `waystation[…]` extras the final stage installs (none: the base install)."""
        text = " ".join(i.args for i in self.final)
        found = re.findall(r"waystation\[([a-z0-9_,-]+)\]", text)
        if not found:
            assert re.search(r"pip install .*\bwaystation\b", text), (
                f"{self.path.name}: final stage installs no waystation"
            )
        return {e for group in found for e in group.split(",")}


@cache
def parse_dockerfile(path: Path) -> Dockerfile:
    text = re.sub(r"\\\n", " ", path.read_text(encoding="utf-8"))
    stages: list[list[Instruction]] = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        keyword, _, args = line.partition(" ")
        instruction = Instruction(keyword.upper(), args.strip())
        if instruction.keyword == "FROM":
            stages.append([])
        assert stages, f"{path.name}: instruction before FROM: {line}"
        stages[-1].append(instruction)
    return Dockerfile(path, stages)


@cache
def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))


def services() -> dict[str, dict[str, Any]]:
    return compose()["services"]


def as_list(value: str | list[str] | None) -> list[str] | None:
    if value is None:
        return None
    return shlex.split(value) if isinstance(value, str) else list(value)


def depends_on(service: dict[str, Any]) -> dict[str, dict[str, Any]]:
    deps = service.get("depends_on", {})
    return {name: {} for name in deps} if isinstance(deps, list) else deps


def built_images() -> dict[str, Dockerfile]:
    """Image name → the Dockerfile that builds it (images no service builds are pulled)."""
    images = {}
    for name, service in services().items():
        build = service.get("build")
        if build is None:
            continue
        context = DOCKER / (build if isinstance(build, str) else build.get("context", "."))
        dockerfile = "Dockerfile" if isinstance(build, str) else build.get("dockerfile", "")
        images[service.get("image", name)] = parse_dockerfile((context / dockerfile).resolve())
    return images


def dockerfile_of(name: str) -> Dockerfile | None:
    service = services()[name]
    return built_images().get(service.get("image", name))


# Entry points that run no waystation command (the broker image's mosquitto).
OTHER_PROGRAMS = {"/usr/sbin/mosquitto"}
# `waystation` options before the sub-command, and whether each takes a value.
ROOT_OPTIONS = {"--env-file": True, "--version": False}


def invocations(entrypoint: list[str], command: list[str]) -> list[list[str]]:
    """The `waystation` argument lists a container with this entrypoint and command runs."""
    if entrypoint == ["waystation"]:
        return [command]
    if entrypoint[:1] and entrypoint[0] in OTHER_PROGRAMS:
        return []
    if entrypoint[:2] in (["sh", "-c"], ["/bin/sh", "-c"]):
        script = " ".join([*entrypoint[2:], *command])
        runs, current = [], []
        for token in [*shlex.split(script), ";"]:
            if token in SHELL_SEPARATORS:
                if current and current[0] == "waystation":
                    runs.append(current[1:])
                current = []
            else:
                current.append(token)
        return runs
    raise AssertionError(f"unexpected entrypoint {entrypoint}: teach this test to read it")


def entrypoint_and_command(name: str) -> tuple[list[str], list[str]]:
    """What the container of service `name` (built here) runs: the service's entrypoint and
    command, else its image's."""
    dockerfile = dockerfile_of(name)
    assert dockerfile is not None, f"{name}: not an image built here"
    service = services()[name]
    entrypoint = as_list(service.get("entrypoint")) or dockerfile.exec_form("ENTRYPOINT")
    command = as_list(service.get("command")) or dockerfile.exec_form("CMD")
    return entrypoint, command


def runs_other_program(name: str) -> bool:
    return entrypoint_and_command(name)[0][0] in OTHER_PROGRAMS


def service_invocations(name: str) -> list[list[str]]:
    dockerfile = dockerfile_of(name)
    if dockerfile is None:
        return []  # a pulled image (mosquitto, postgres)
    service = services()[name]
    entrypoint = as_list(service.get("entrypoint")) or dockerfile.exec_form("ENTRYPOINT")
    command = as_list(service.get("command")) or dockerfile.exec_form("CMD")
    return invocations(entrypoint, command)


# --- the CLI ----------------------------------------------------------------------------------


def split_root_options(args: list[str]) -> tuple[list[str], list[str]]:
    """(the `waystation` options before the sub-command, the sub-command and its args)."""
    rest = list(args)
    root: list[str] = []
    while rest and rest[0].startswith("--"):
        name = rest[0].split("=", 1)[0]
        assert name in ROOT_OPTIONS, f"`waystation` has no option {name}"
        takes_value = ROOT_OPTIONS[name] and "=" not in rest[0]
        root += rest[: 1 + takes_value]
        rest = rest[1 + takes_value :]
    return root, rest


def root_option(args: list[str], name: str) -> list[str]:
    """Every value given to the root option `name` (`--env-file X` or `--env-file=X`)."""
    root, _ = split_root_options(args)
    values = [v for a, v in zip(root, [*root[1:], ""], strict=True) if a == name]
    return values + [a.split("=", 1)[1] for a in root if a.startswith(f"{name}=")]


def resolve(args: list[str]) -> tuple[list[str], Any, list[str]]:
    """(command path, the command, remaining args) or an AssertionError naming the problem."""
    command: Any = typer.main.get_command(app)
    path: list[str] = []
    _, rest = split_root_options(args)
    while getattr(command, "commands", None):
        assert rest, f"`waystation {' '.join(path)}` needs a sub-command"
        assert rest[0] in command.commands, f"no command `waystation {' '.join([*path, rest[0]])}`"
        path.append(rest[0])
        command = command.commands[rest.pop(0)]
    return path, command, rest


def check_invocation(args: list[str]) -> None:
    path, command, rest = resolve(args)
    known = {o for p in command.params for o in [*p.opts, *p.secondary_opts]}
    used = {token.split("=", 1)[0] for token in rest if token.startswith("--")}
    assert used <= known, f"`waystation {' '.join(path)}` has no option(s) {sorted(used - known)}"
    result = CliRunner().invoke(app, [*path, "--help"])
    assert result.exit_code == 0, result.output


# --- compose ----------------------------------------------------------------------------------


def test_compose_declares_services() -> None:
    assert services(), "compose.yaml has no services"
    assert built_images(), "no service builds a waystation image"


@pytest.mark.parametrize("name", list(services()))
def test_service_has_an_image_or_a_build(name: str) -> None:
    service = services()[name]
    assert service.get("image") or service.get("build")


@pytest.mark.parametrize("name", [n for n, s in services().items() if "build" in s])
def test_build_context_and_dockerfile_exist(name: str) -> None:
    build = services()[name]["build"]
    context = DOCKER / (build if isinstance(build, str) else build.get("context", "."))
    assert context.is_dir(), context
    dockerfile = "Dockerfile" if isinstance(build, str) else build.get("dockerfile", "Dockerfile")
    assert (context / dockerfile).is_file(), context / dockerfile


@pytest.mark.parametrize("name", list(services()))
def test_image_without_build_is_pulled_or_built_by_another_service(name: str) -> None:
    service = services()[name]
    if "build" in service:
        return
    image = service["image"]
    built = set(built_images())
    assert image in built or "/" in image or ":" in image, (
        f"{name}: image {image!r} is neither built here nor a registry reference"
    )


@pytest.mark.parametrize("name", list(services()))
def test_mounts_exist(name: str) -> None:
    declared = set(compose().get("volumes") or {})
    for volume in services()[name].get("volumes", []):
        if isinstance(volume, dict):
            source, kind = volume.get("source", ""), volume.get("type", "volume")
        else:
            source = volume.split(":", 1)[0]
            kind = "bind" if source.startswith((".", "/", "~")) else "volume"
        if kind == "bind":
            assert (DOCKER / source).exists(), f"{name}: bind source {source} is missing"
        elif source:
            assert source in declared, f"{name}: named volume {source!r} is not declared"


@pytest.mark.parametrize("name", list(services()))
def test_depends_on_names_existing_services(name: str) -> None:
    for dependency, condition in depends_on(services()[name]).items():
        assert dependency in services(), f"{name} depends on unknown service {dependency!r}"
        if condition.get("condition") == "service_healthy":
            healthcheck = services()[dependency].get("healthcheck", {})
            dockerfile = dockerfile_of(dependency)
            has_check = (healthcheck and not healthcheck.get("disable")) or (
                dockerfile is not None and dockerfile.last("HEALTHCHECK") is not None
            )
            assert has_check, f"{name} waits for {dependency} to be healthy; it has no check"


@pytest.mark.parametrize("name", [n for n in services() if dockerfile_of(n) is not None])
def test_service_runs_real_waystation_commands(name: str) -> None:
    runs = service_invocations(name)
    if runs_other_program(name):
        return  # the broker: tests/docker/test_compose_broker.py
    assert runs, f"{name}: runs a waystation image but no waystation command"
    for args in runs:
        check_invocation(args)


def one_shot_services() -> list[str]:
    """Services others wait to complete, in an order that respects their own dependencies."""
    waited = {
        dep
        for service in services().values()
        for dep, cond in depends_on(service).items()
        if cond.get("condition") == "service_completed_successfully"
    }
    ordered: list[str] = []

    def visit(name: str) -> None:
        for dep in depends_on(services()[name]):
            if dep in waited:
                visit(dep)
        if name not in ordered:
            ordered.append(name)

    for name in sorted(waited):
        visit(name)
    return ordered


# The image's console script, minus the packages its extras do not install.
BLOCKING_RUNNER = """
import importlib.abc, sys
blocked = set(sys.argv[1].split(","))
class Blocker(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in blocked:
            raise ModuleNotFoundError(f"No module named {name!r} (not in this image)", name=name)
        return None
sys.meta_path.insert(0, Blocker())
sys.argv = ["waystation", *sys.argv[2:]]
from waystation.cli import main
main()
"""


@cache
def pyproject() -> dict[str, Any]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]


def distributions(requirements: list[str], extras: tuple[str, ...] = ("",)) -> set[str]:
    """Every distribution these requirements pull in (waystation's own extras from pyproject)."""
    found: set[str] = set()
    todo = [(r, extras) for r in requirements]
    while todo:
        text, context = todo.pop()
        req = Requirement(text)
        if req.marker and not any(req.marker.evaluate({"extra": e}) for e in context):
            continue
        name = canonicalize_name(req.name)
        if name == "waystation":
            for extra in req.extras:
                todo += [(r, ("",)) for r in pyproject()["optional-dependencies"][extra]]
            continue
        if name in found:
            continue
        found.add(name)
        try:
            requires = metadata.requires(name) or []
        except metadata.PackageNotFoundError:
            continue
        todo += [(r, ("", *req.extras)) for r in requires]
    return found


def blocked_modules(extras: set[str]) -> list[str]:
    """Top-level modules installed here that an image with only `extras` would not have."""
    everything = distributions([f"waystation[{','.join(pyproject()['optional-dependencies'])}]"])
    image = distributions([*pyproject()["dependencies"], f"waystation[{','.join(extras)}]"])
    missing = everything - image
    return sorted(
        module
        for module, dists in metadata.packages_distributions().items()
        if {canonicalize_name(d) for d in dists} <= missing
    )


def test_blocking_matches_the_extras() -> None:
    cloud_only = blocked_modules({"cloud"})
    assert "cv2" in cloud_only  # the door's camera stack stays out of the server image
    # nearby/geoindex need numpy and member codes need segno (issue 16.1): the cloud brings both
    assert not {"sqlalchemy", "fastapi", "pydantic", "paho", "numpy", "segno"} & set(cloud_only)


def test_one_shot_jobs_run_with_only_their_images_packages(tmp_path: Path) -> None:
    """Story: `registry` ran `sim fleet --registry-only` in the cloud image, which has no
    OpenCV or segno, so `compose up` died on ModuleNotFoundError before any station existed."""
    jobs = one_shot_services()
    assert jobs, "no one-shot service: nothing to check"
    root = tmp_path / "container"

    def local(token: str) -> str:
        """A container path (`/x` or `--opt=/x`) → the same path under `root`."""
        option, eq, value = token.rpartition("=") if token.startswith("--") else ("", "", token)
        if not value.startswith("/"):
            return token
        path = root / value.lstrip("/")
        path.parent.mkdir(parents=True, exist_ok=True)
        return f"{option}{eq}{path}"

    for name in jobs:
        dockerfile = dockerfile_of(name)
        assert dockerfile is not None, f"{name}: one-shot job without a waystation image"
        blocked = ",".join(blocked_modules(dockerfile.extras()))
        env = {**os.environ, **services()[name].get("environment", {})}
        env["WAYSTATION_DB"] = f"sqlite:///{tmp_path / 'cloud.db'}"  # instead of the postgres
        for args in service_invocations(name):
            proc = subprocess.run(
                [sys.executable, "-c", BLOCKING_RUNNER, blocked, *map(local, args)],
                capture_output=True, text=True, env=env, cwd=tmp_path, timeout=90, check=False,
            )  # fmt: skip
            assert proc.returncode == 0, (
                f"{name} ({dockerfile.path.name}): waystation {' '.join(args)}\n{proc.stderr}"
            )


# --- Dockerfiles ------------------------------------------------------------------------------


def copy_sources(instruction: Instruction) -> list[str]:
    args = shlex.split(instruction.args)
    if args and args[0].startswith("["):
        args = json.loads(instruction.args)
    flags = [a for a in args if a.startswith("--")]
    if any(f.startswith("--from") for f in flags):
        return []
    paths = [a for a in args if not a.startswith("--")]
    return paths[:-1]  # the last one is the destination


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_copy_sources_exist_in_the_repository(dockerfile: Path) -> None:
    parsed = parse_dockerfile(dockerfile)
    copies = [i for stage in parsed.stages for i in stage if i.keyword in ("COPY", "ADD")]
    assert copies
    for instruction in copies:
        for source in copy_sources(instruction):
            assert (ROOT / source).exists(), f"{dockerfile.name}: COPY {source}: not in the repo"


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_final_stage_runs_as_a_non_root_user_with_a_healthcheck(dockerfile: Path) -> None:
    parsed = parse_dockerfile(dockerfile)
    user = parsed.last("USER")
    assert user is not None, f"{dockerfile.name}: the final stage runs as root"
    assert user.args.split(":")[0] not in ("root", "0")
    healthcheck = parsed.last("HEALTHCHECK")
    assert healthcheck is not None
    assert " CMD " in f" {healthcheck.args} "


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_entrypoint_and_cmd_form_a_real_command(dockerfile: Path) -> None:
    parsed = parse_dockerfile(dockerfile)
    entrypoint = parsed.exec_form("ENTRYPOINT")
    runs = invocations(entrypoint, parsed.exec_form("CMD"))
    if entrypoint[0] in OTHER_PROGRAMS:  # the broker: tests/docker/test_compose_broker.py
        assert runs == []
        return
    assert len(runs) == 1
    check_invocation(runs[0])


def healthcheck_argv(dockerfile: Dockerfile) -> list[str]:
    instruction = dockerfile.last("HEALTHCHECK")
    assert instruction is not None
    argv = json.loads(instruction.args.split(" CMD ", 1)[1])
    assert argv[:2] == ["python", "-c"], argv
    return argv


def test_edge_healthcheck_finds_the_journal_the_agent_writes(tmp_path: Path) -> None:
    """Story: the edge image's health check looked for `*.sqlite3` while the agent writes
    `journal.db`, so a working station would have been reported unhealthy forever."""
    default = EdgeConfig().journal_path
    code = healthcheck_argv(parse_dockerfile(DOCKER / "Dockerfile.edge"))[2]
    assert str(default.parent) in code, "the check does not look where the journal lives"
    code = code.replace(str(default.parent), str(tmp_path))

    def healthy() -> bool:
        proc = subprocess.run([sys.executable, "-c", code], timeout=30, check=False)
        return proc.returncode == 0

    assert not healthy(), "healthy before the agent wrote anything"
    with Journal(tmp_path / default.name):
        assert healthy()


def test_cloud_healthcheck_probes_the_served_port_and_a_real_endpoint(tmp_path: Path) -> None:
    dockerfile = parse_dockerfile(DOCKER / "Dockerfile.cloud")
    code = healthcheck_argv(dockerfile)[2]
    match = re.search(r"http://127\.0\.0\.1:(\d+)(/[\w/]*)", code)
    assert match, code
    port, path = match.groups()
    cmd = dockerfile.exec_form("CMD")
    assert cmd[cmd.index("--port") + 1] == port
    expose = dockerfile.last("EXPOSE")
    assert expose is not None
    assert port in expose.args.split()
    settings = Settings(db=f"sqlite:///{tmp_path / 'cloud.db'}")
    with TestClient(create_app(settings)) as client:
        assert client.get(path).status_code == 200


def test_ingest_healthchecks_probe_their_own_metrics_port_health() -> None:
    """Issue 16.7: an ingest worker that lost the broker or its writer answers 503 on its
    metrics port's /healthz, so compose can see it; the probe must ask the port it opens."""
    for name in ("ingest-1", "ingest-2"):
        service = services()[name]
        args = next(iter(service_invocations(name)))
        port = args[args.index("--metrics-port") + 1]
        code = " ".join(service["healthcheck"]["test"])
        assert f"http://127.0.0.1:{port}/healthz" in code, (name, code)


def test_the_api_is_published_on_this_host_only_by_default() -> None:
    ports = services()["cloud"]["ports"]
    assert ports
    assert all(str(p).startswith("${WAYSTATION_API_BIND:-127.0.0.1}:") for p in ports)


# --- the broker: every client has a login of its own ------------------------------------------


def broker_clients(name: str) -> list[list[str]]:
    """The waystation invocations of service `name` that connect to the broker (`sim fleet
    --registry-only` writes a file and exits)."""
    connecting = (["cloud", "serve"], ["cloud", "ingest"], ["sim", "fleet"])
    return [
        a
        for a in service_invocations(name)
        if split_root_options(a)[1][:2] in connecting and "--registry-only" not in a
    ]


def test_every_cloud_process_has_a_broker_login_of_its_own() -> None:
    """The broker takes the username as client id, so two processes on one login disconnect
    each other: the two ingest workers and the API, which shared one, would have taken turns.
    Each reads its own environment file (its login, written by `provision stack`); the
    compose file itself names no broker login or password."""
    env_files = {
        name: root_option(args, "--env-file")
        for name in services()
        for args in broker_clients(name)
        if split_root_options(args)[1][0] == "cloud"
    }
    assert {"cloud", "ingest-1", "ingest-2"} <= set(env_files), env_files
    assert all(len(files) == 1 for files in env_files.values()), env_files
    names = [files[0] for files in env_files.values()]
    assert len(set(names)) == len(names), env_files
    for name in services():
        environment = services()[name].get("environment") or {}
        assert "WAYSTATION_BROKER" not in environment, f"{name}: a login in the compose file"


def test_the_cloud_image_has_a_font_for_printed_slips() -> None:
    """Issue 19: `members import --slips` and `members pass` print Chinese text; the cloud
    image they run in must carry one of the fonts the printer looks for."""
    from cloud.credentials.printing import FONT_CANDIDATES

    final = parse_dockerfile(DOCKER / "Dockerfile.cloud").final
    installs = " ".join(i.args for i in final if i.keyword == "RUN" and "apt-get install" in i.args)
    assert "fonts-wqy-microhei" in installs
    assert any("/wqy/wqy-microhei" in path for path in FONT_CANDIDATES)
