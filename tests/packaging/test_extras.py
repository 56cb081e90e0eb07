"""Each extra installed alone in a fresh venv runs its own commands, as an operator installs it.

Story: `pip install 'waystation[cloud]'` could not start `cloud serve` (the nearby index needs
numpy, which only the `edge` extra brought), and `members enroll/present` needed segno from
the `sim` extra; the suite never noticed because the test venv installs every extra at once.

The venvs install from one shared wheelhouse under the user's cache
(`$XDG_CACHE_HOME/waystation/wheelhouse`, default `~/.cache/…`), filled by `pip download`
(files already there are not fetched again), then `pip install --no-index`: ~12 s a venv
instead of ~80 s of downloads each. The aarch64 check resolves the `edge` extra for a
Raspberry Pi (CPython 3.11, glibc ≤ 2.36, Raspberry Pi OS Bookworm 64-bit) with binary
wheels only, without installing anything.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import tomllib
import urllib.request
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.version import Version

from firmware_sim.union import SimUnion
from protocol.registry import StationRecord
from tests.support.wait import wait_for
from waystation.mosquitto import MosquittoProcess

ROOT = Path(__file__).resolve().parents[2]
CACHE = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "waystation"
WHEELHOUSE = CACHE / "wheelhouse"
# The top-level packages pyproject.toml ships ("protocol*" → "protocol").
PACKAGES = tuple(
    name.rstrip("*")
    for name in tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"][
        "packages"
    ]["find"]["include"]
)
PIP_TIMEOUT_S = 600  # a cold wheelhouse downloads ~110 MB once
RUN_TIMEOUT_S = 60
# Raspberry Pi OS Bookworm ships glibc 2.36; pip takes platform tags literally, so list them.
PI_PLATFORMS = [f"manylinux_2_{minor}_aarch64" for minor in range(36, 16, -1)] + [
    "manylinux2014_aarch64"
]

pytestmark = pytest.mark.timeout(900)


def _pip(*args: str, python: Path | str = sys.executable) -> None:
    subprocess.run(
        [str(python), "-m", "pip", "-q", "--disable-pip-version-check", *args],
        check=True,
        timeout=PIP_TIMEOUT_S,
    )


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The project built once as a wheel, the way a release is installed."""
    out = tmp_path_factory.mktemp("dist")
    # Built from a copy: setuptools writes build/ and *.egg-info into the source tree.
    source = tmp_path_factory.mktemp("source")
    for name in ("pyproject.toml", "README.md", *PACKAGES):
        path = ROOT / name
        if path.is_dir():
            shutil.copytree(path, source / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(path, source / name)
    _pip("wheel", "--no-deps", "-w", str(out), str(source))
    [built] = out.glob("waystation-*.whl")
    WHEELHOUSE.mkdir(parents=True, exist_ok=True)
    # pip download copies the project's own wheel in too, and would take an old copy of the
    # same version as "already downloaded", dependencies and all: keep only dependencies.
    for old in WHEELHOUSE.glob("waystation-*"):
        old.unlink()
    _pip("download", "-d", str(WHEELHOUSE), f"{built}[edge,cloud]")
    for copied in WHEELHOUSE.glob("waystation-*"):
        copied.unlink()
    return built


def _venv(tmp: Path, wheel: Path, extra: str) -> Path:
    """A fresh venv with only `waystation[extra]`; returns its bin directory."""
    venv = tmp / f"venv-{extra}"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    _pip(
        "install", "--no-index", "--find-links", str(WHEELHOUSE), f"{wheel}[{extra}]",
        python=venv / "bin" / "python",
    )  # fmt: skip
    return venv / "bin"


def _run(bin_dir: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WAYSTATION_")}
    env.pop("PYTHONPATH", None)  # the venv's own install, not this checkout
    return subprocess.run(
        [str(bin_dir / "waystation"), *args],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=RUN_TIMEOUT_S,
    )  # fmt: skip


def _ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, f"{result.args}: {result.stdout}\n{result.stderr}"
    return result.stdout


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _get(url: str) -> tuple[int, bytes]:
    with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 - loopback
        return response.status, response.read()


def _poll(url: str) -> tuple[int, bytes]:
    """`_get`, or (0, b"") while the server is not up yet."""
    try:
        return _get(url)
    except OSError:
        return 0, b""


@pytest.fixture
def process() -> Iterator[list[subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for proc in started:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()


def test_the_cloud_extra_alone_serves_ingests_and_runs_the_admin_tools(
    wheel: Path, tmp_path: Path, process: list[subprocess.Popen[bytes]]
) -> None:
    bin_dir = _venv(tmp_path, wheel, "cloud")
    db = f"sqlite:///{tmp_path / 'cloud.db'}"
    record = StationRecord(
        id="sz-0001", name="测试驿站", lat=22.54, lon=114.05, amenities=["water"],
        opening_hours="24/7", operator="union", address="深南大道 1 号", city="shenzhen",
    )  # fmt: skip
    csv = tmp_path / "stations.csv"
    csv.write_text(
        ",".join(record.csv_row()) + "\n" + ",".join(record.csv_row().values()) + "\n",
        encoding="utf-8",
    )
    _ok(_run(bin_dir, "stations", "import", str(csv), "--db", db, cwd=tmp_path))

    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("WAYSTATION_")}
    env.pop("PYTHONPATH", None)
    serve = [str(bin_dir / "waystation"), "cloud", "serve", "--port", str(port), "--db", db]
    process.append(subprocess.Popen(serve, cwd=tmp_path, env=env))
    base = f"http://127.0.0.1:{port}"
    wait_for(lambda: _poll(f"{base}/healthz")[0] == 200, 60, "cloud serve /healthz", interval_s=0.2)
    status, body = _get(f"{base}/api/v1/stations/nearby?lat=22.54&lon=114.05&radius_m=2000")
    assert status == 200
    assert [s["id"] for s in json.loads(body)["stations"]] == ["sz-0001"]

    broker = MosquittoProcess(tmp_path / "broker", users={"cloud-ingest-1": "pw-ingest"}).start()
    try:
        metrics = _free_port()
        ingest = [
            str(bin_dir / "waystation"), "cloud", "ingest", "--db", db,
            "--broker", f"mqtt://cloud-ingest-1:pw-ingest@127.0.0.1:{broker.port}",
            "--metrics-port", str(metrics),
        ]  # fmt: skip
        process.append(subprocess.Popen(ingest, cwd=tmp_path, env=env))
        wait_for(
            lambda: (
                b"waystation_ingest_connected 1.0"
                in _poll(f"http://127.0.0.1:{metrics}/metrics")[1]
            ),
            60,
            "cloud ingest connected to the broker",
            interval_s=0.2,
        )
    finally:
        broker.stop()

    kit, wallet = tmp_path / "kit", tmp_path / "wallet.json"
    secret = tmp_path / "passphrase"
    secret.write_text("a passphrase for the test kit\n", encoding="utf-8")
    sealed = ("--passphrase-file", str(secret))
    _ok(_run(bin_dir, "members", "init-issuer", "--dir", str(kit), "--kid", "union-1",
             *sealed, cwd=tmp_path))  # fmt: skip
    _ok(_run(bin_dir, "members", "enroll", "--dir", str(kit), "--member", "m-1",
             "--wallet", str(wallet), *sealed, cwd=tmp_path))  # fmt: skip
    text = _ok(_run(bin_dir, "members", "present", "--wallet", str(wallet), cwd=tmp_path))
    assert text.strip().startswith("WS1:")


def test_the_edge_extra_alone_decides_and_decodes(wheel: Path, tmp_path: Path) -> None:
    bin_dir = _venv(tmp_path, wheel, "edge")
    _ok(_run(bin_dir, "edge", "run", "--help", cwd=tmp_path))
    union = SimUnion.create(3)
    trust = union.write_trust_dir(tmp_path / "trust")
    wallet = union.enroll("m-1")
    code = wallet.present(int(time.time()))
    out = json.loads(_ok(_run(bin_dir, "edge", "verify", "--trust", str(trust), code,
                              cwd=tmp_path)))  # fmt: skip
    assert out["granted"] is True
    png = wallet.save_png(code, tmp_path / "code.png")
    scanned = _ok(_run(bin_dir, "edge", "scan", "--json", str(png), cwd=tmp_path))
    assert json.loads(scanned.splitlines()[0])["text"] == code


def _requires(wheel: Path) -> list[Requirement]:
    """The built wheel's Requires-Dist entries of the `edge` extra."""
    with zipfile.ZipFile(wheel) as zf:
        [name] = [n for n in zf.namelist() if n.endswith(".dist-info/METADATA")]
        metadata = zf.read(name).decode()
    reqs = [Requirement(line.split(":", 1)[1].strip()) for line in metadata.splitlines()
            if line.startswith("Requires-Dist:")]  # fmt: skip
    return [r for r in reqs if r.marker is not None and 'extra == "edge"' in str(r.marker)]


def replace_marker(req: Requirement) -> Requirement:
    """`req` without its environment marker (name, extras and version kept)."""
    bare = Requirement(str(req))
    bare.marker = None
    return bare


def test_the_edge_extra_resolves_to_binary_wheels_on_a_raspberry_pi(
    wheel: Path, tmp_path: Path
) -> None:
    """Every dependency of `waystation[edge]` has a wheel for CPython 3.11 on aarch64, the
    Pi's GPIO backend (lgpio, only on aarch64) included.

    pip judges environment markers by the machine it runs on, whatever `--platform` says, so
    the requirements marked for aarch64 are named to it without their marker."""
    platforms = [arg for p in PI_PLATFORMS for arg in ("--platform", p)]
    pi_only = [str(replace_marker(req)) for req in _requires(wheel) if "aarch64" in str(req.marker)]
    assert pi_only, "the edge extra names no aarch64-only requirement (lgpio)"
    report = tmp_path / "report.json"
    _pip(
        "install", "--dry-run", "--ignore-installed", "--target", str(tmp_path / "pi"),
        *platforms, "--python-version", "3.11", "--implementation", "cp",
        "--only-binary=:all:", "--report", str(report), f"{wheel}[edge]", *pi_only,
    )  # fmt: skip
    names = {item["metadata"]["name"].lower().replace("_", "-")
             for item in json.loads(report.read_text())["install"]}  # fmt: skip
    assert {"numpy", "opencv-python-headless", "zxing-cpp", "gpiozero", "lgpio"} <= names
    [lgpio] = [i for i in json.loads(report.read_text())["install"]
               if i["metadata"]["name"] == "lgpio"]  # fmt: skip
    assert Version(lgpio["metadata"]["version"]) >= Version("0.2.2"), "not the empty 0.0.0.2"
