"""`waystation provision broker | cloud-login | station`: one login per cloud process."""

from __future__ import annotations

import re
from pathlib import Path

from typer.testing import CliRunner, Result

from waystation.cli import app
from waystation.provision import users_in


def run(*args: str | Path) -> Result:
    return CliRunner().invoke(app, [str(a) for a in args])


def passwords(output: str) -> dict[str, str]:
    return dict(re.findall(r"^password for (\S+): (\S+)$", output, flags=re.M))


def test_broker_prints_one_password_per_cloud_process_once(
    tmp_path: Path, need_mosquitto: None
) -> None:
    """Every cloud process logged in as `cloud`; with the login as client id they would push
    each other off the broker, so each gets its own, ingest workers one each."""
    kit = tmp_path / "broker"
    data = tmp_path / "data"
    result = run("provision", "broker", "--dir", kit, "--persistence-dir", data,
                 "--ingest-workers", "3")  # fmt: skip
    assert result.exit_code == 0, result.output
    made = passwords(result.output)
    assert list(made) == ["cloud-api", "cloud-trust", *(f"cloud-ingest-{n}" for n in (1, 2, 3))]
    assert len(set(made.values())) == len(made)
    assert f"mosquitto -c {kit / 'mosquitto.conf'}" in result.output
    assert set(users_in(kit / "passwd")) == set(made)
    acl = (kit / "acl").read_text()
    assert all(f"\nuser {login}\n" in acl for login in made)

    again = run("provision", "broker", "--dir", kit, "--persistence-dir", data)
    assert again.exit_code == 1
    assert "exists" in again.output
    forced = run("provision", "broker", "--dir", kit, "--persistence-dir", data, "--force")
    assert forced.exit_code == 0, forced.output
    assert passwords(forced.output) == {}  # existing logins keep their passwords


def test_cloud_login_adds_one_more_process_and_refuses_what_is_not_one(
    tmp_path: Path, need_mosquitto: None
) -> None:
    kit = tmp_path / "broker"
    made = run("provision", "broker", "--dir", kit, "--persistence-dir", tmp_path / "data")
    assert made.exit_code == 0, made.output
    added = run("provision", "cloud-login", "cloud-ingest-3", "--broker-dir", kit)
    assert added.exit_code == 0, added.output
    assert list(passwords(added.output)) == ["cloud-ingest-3"]
    assert "kill -HUP" in added.output
    assert "\nuser cloud-ingest-3\ntopic read ws/v1/+/state\n" in (kit / "acl").read_text()

    twice = run("provision", "cloud-login", "cloud-ingest-3", "--broker-dir", kit)
    assert twice.exit_code == 1
    assert "already" in twice.output
    rotated = run("provision", "cloud-login", "cloud-ingest-3", "--broker-dir", kit, "--rotate")
    assert rotated.exit_code == 0, rotated.output
    assert passwords(rotated.output) != passwords(added.output)
    for wrong in ("cloud-boss", "sz-0001", "cloud"):
        refused = run("provision", "cloud-login", wrong, "--broker-dir", kit)
        assert refused.exit_code == 1, wrong
    station = run("provision", "station", "--id", "cloud-ingest-4", "--broker-dir", kit,
                  "--out", tmp_path / "st" / "station.toml")  # fmt: skip
    assert station.exit_code == 1
    assert "cloud logins" in station.output
