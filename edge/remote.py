"""Remote control of a station: the cloud's desired config and its commands. Rules, no MQTT.

The link hands raw payloads in and publishes what comes back (`CmdResultPayload`); this module
decides. Two promises:

- A desired config is validated whole before any of it is applied: the override on top of
  the station's own TOML config must give a valid `EdgeConfig`, else nothing changes and the
  rejection is reported. An older or equal `config_version` is ignored (the retained config
  comes back on every reconnect). The applied one is persisted beside the journal, so a
  restart comes back with it before the broker is reachable.
- A command runs at most once: `cmd_id`s are remembered (persisted) until their `expires_at`
  has passed, after which a replay is refused as `expired` anyway. The id is stored *before*
  the command runs, so a `reboot` cannot loop on its own redelivery.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import threading
import time
from collections.abc import Callable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from edge.config import AccessConfig, DoorConfig, EdgeConfig, ScheduleConfig
from protocol.holidays import HolidayCalendar
from protocol.messages import (
    NAME_PATTERN,
    CmdResultPayload,
    CommandPayload,
    ConfigPayload,
    PayloadError,
    decode,
    printable,
)
from protocol.topics import Kind

log = logging.getLogger(__name__)

# How many unexpired cmd_ids are remembered at most (~100 B each on disk). Commands live for
# seconds to minutes, so this only bites under a command flood; past it the ids closest to
# expiry are forgotten first (the most likely to be refused as expired anyway).
MAX_REMEMBERED = 1000
# cmd_result.detail is at most 200 characters (protocol.messages).
DETAIL_MAX = 200

# The `reboot` command exits with this code (EX_TEMPFAIL) after this grace, seconds: long
# enough for the cmd_result to reach the broker, short enough that the cloud sees it act.
REBOOT_EXIT_CODE = 75
REBOOT_GRACE_S = 2.0

CommandAction = Callable[[dict[str, Any]], str | None]


class ConfigRejectedError(ValueError):
    """A desired config that does not validate; `where` is the dotted field, e.g. door.pulse_s."""

    def __init__(self, where: str, why: str) -> None:
        super().__init__(f"{where}: {why}")
        self.where = where
        self.why = why

    @classmethod
    def of(cls, exc: ValidationError, prefix: str = "") -> ConfigRejectedError:
        first = exc.errors()[0]
        where = ".".join([prefix, *(str(p) for p in first["loc"])] if prefix else
                         [str(p) for p in first["loc"]])  # fmt: skip
        return cls(where or "config", first["msg"])


class _Override(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DoorOverride(_Override):
    """Remotely settable door timings; ranges are checked by `DoorConfig` when merged."""

    pulse_s: float | None = None
    held_open_s: float | None = None
    open_grace_s: float | None = None


class ScheduleOverride(_Override):
    """Door modes; an explicit null `free` means "no free hours", an absent one "keep local"."""

    free: str | None = None
    members: str | None = None
    timezone: str | None = None
    lat: float | None = None
    lon: float | None = None


class AccessOverride(_Override):
    window_s: int | None = None
    skew_s: int | None = None


class RemoteConfig(_Override):
    """The part of `EdgeConfig` the cloud may set. Unset fields keep the station's TOML value."""

    door: DoorOverride | None = None
    schedule: ScheduleOverride | None = None
    access: AccessOverride | None = None
    telemetry_interval_s: float | None = Field(default=None, ge=0.1, le=3600.0)
    # the cloud's calendar replaces the TOML's whole: PH must mean the same on door and map
    holidays: HolidayCalendar | None = None

    def apply_to(self, base: EdgeConfig) -> EdgeConfig:
        """`base` with this override; raises ConfigRejectedError naming the field if invalid."""
        update: dict[str, Any] = {}
        sections: list[tuple[str, _Override | None, type[BaseModel]]] = [
            ("door", self.door, DoorConfig),
            ("schedule", self.schedule, ScheduleConfig),
            ("access", self.access, AccessConfig),
        ]
        for name, override, model in sections:
            if override is not None:
                merged = getattr(base, name).model_dump() | override.model_dump(exclude_unset=True)
                try:
                    update[name] = model.model_validate(merged)
                except ValidationError as exc:
                    raise ConfigRejectedError.of(exc, name) from exc
        if self.telemetry_interval_s is not None:
            update["telemetry_interval_s"] = self.telemetry_interval_s
        if self.holidays is not None:
            update["holidays"] = self.holidays
        return base.model_copy(update=update)


def exit_process_soon() -> None:
    """The default `reboot`: exit non-zero shortly, so systemd (Restart=on-failure) restarts.

    The journal is committed row by row, so skipping Python's shutdown loses nothing; the
    broker sends the (delayed) will, and the restarted agent comes back with a new session.
    """
    log.warning("reboot requested: exiting with %d in %.0f s", REBOOT_EXIT_CODE, REBOOT_GRACE_S)

    def _exit() -> None:
        time.sleep(REBOOT_GRACE_S)
        os._exit(REBOOT_EXIT_CODE)

    threading.Thread(target=_exit, name="reboot", daemon=True).start()


def parse_override(data: object) -> RemoteConfig:
    """The `config` object of a ConfigPayload; raises ConfigRejectedError naming the field."""
    try:
        return RemoteConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigRejectedError.of(exc) from exc


def _write_atomic(path: Path, data: object) -> None:
    """Write JSON to `path` so a power cut leaves the old or the new file, never half of one."""
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("w", encoding="utf-8") as fh:
        json.dump(data, fh, separators=(",", ":"))
        fh.flush()
        os.fsync(fh.fileno())
    tmp.replace(path)


class RecentCommands:
    """cmd_id → expires_at of the commands already run, persisted at `path`. No I/O until
    `load()`."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._ids: dict[str, datetime] = {}

    def load(self) -> None:
        """Read the ids remembered by an earlier run; an unreadable file is logged, not fatal."""
        path = self.path
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
            self._ids = {str(k): datetime.fromisoformat(v) for k, v in raw.items()}
        except FileNotFoundError:
            pass
        except (ValueError, AttributeError, TypeError) as exc:  # unreadable: start empty, say so
            log.error("%s: unreadable command memory, starting empty: %s", path, exc)

    def __contains__(self, cmd_id: str) -> bool:
        return cmd_id in self._ids

    def remember(self, cmd_id: str, expires_at: datetime, now: datetime) -> None:
        ids = {k: v for k, v in self._ids.items() if v >= now}
        ids[cmd_id] = expires_at
        if len(ids) > MAX_REMEMBERED:
            ids = dict(sorted(ids.items(), key=lambda kv: kv[1])[-MAX_REMEMBERED:])
        _write_atomic(self.path, {k: v.isoformat() for k, v in ids.items()})
        self._ids = ids  # only once on disk: a refused command may be sent again


class Remote:
    """Decides on commands and desired configs for one station; thread-safe (one lock)."""

    def __init__(
        self,
        sid: str,
        local: EdgeConfig,
        state_dir: Path,
        *,
        now: Callable[[], datetime],
        actions: Mapping[str, CommandAction],
        apply: Callable[[EdgeConfig, int], None],
    ) -> None:
        self.sid = sid
        self.local = local  # the TOML config; every override is applied on top of it
        self.now = now
        self.actions = dict(actions)
        self.apply = apply
        self.config_path = state_dir / "remote_config.json"
        self.commands = RecentCommands(state_dir / "commands.json")
        self.config_version: int | None = None
        self._lock = threading.Lock()

    def _result(self, cmd_id: str, ok: bool, detail: str | None) -> CmdResultPayload:
        """A result that always validates: an id the contract refuses (a control character in
        a malformed command's id) becomes "?", and exception text is escaped."""
        if not re.fullmatch(NAME_PATTERN, cmd_id[:64]):
            cmd_id = "?"
        text = printable(detail) if detail is not None else None
        return CmdResultPayload(
            sid=self.sid, ts=self.now(), cmd_id=cmd_id[:64] or "?", ok=ok, detail=text
        )

    # --- desired config ------------------------------------------------------------------------

    def load(self) -> EdgeConfig | None:
        """Read what an earlier run persisted: the commands already run, and the applied
        override, returned on top of the local config (None: none, or now invalid)."""
        self.commands.load()
        try:
            saved = json.loads(self.config_path.read_text(encoding="utf-8"))
            version = int(saved["config_version"])
            effective = parse_override(saved["config"]).apply_to(self.local)
        except FileNotFoundError:
            return None
        except (ValueError, KeyError, TypeError) as exc:  # the TOML may have changed under it
            log.error("%s: persisted remote config not applied: %s", self.sid, exc)
            return None
        self.config_version = version
        return effective

    def on_config(self, raw: bytes) -> CmdResultPayload | None:
        """Validate and apply a desired config; None if it is not newer (nothing to report)."""
        with self._lock:
            try:
                payload = decode(Kind.CONFIG, raw)
            except PayloadError as exc:
                return self._result("config", False, f"malformed: {exc.detail}"[:DETAIL_MAX])
            assert isinstance(payload, ConfigPayload)
            version = payload.config_version
            cmd_id = f"config-{version}"
            if self.config_version is not None and version <= self.config_version:
                applied = self.config_version
                log.info("%s: config v%d ignored, v%d applied", self.sid, version, applied)
                return None
            try:
                effective = parse_override(payload.config).apply_to(self.local)
            except ConfigRejectedError as exc:
                log.error("%s: config v%d rejected, nothing applied: %s", self.sid, version, exc)
                return self._result(cmd_id, False, f"invalid: {exc}"[:DETAIL_MAX])
            try:  # persisted first: a config that would not survive a restart is not applied
                _write_atomic(
                    self.config_path, {"config_version": version, "config": payload.config}
                )
            except OSError as exc:
                log.error("%s: config v%d not applied, cannot persist: %s", self.sid, version, exc)
                return self._result(cmd_id, False, f"cannot persist: {exc}"[:DETAIL_MAX])
            self.apply(effective, version)
            self.config_version = version
            log.info("%s: config v%d applied", self.sid, version)
            return self._result(cmd_id, True, f"applied v{version}")

    # --- commands -------------------------------------------------------------------------------

    def on_command(self, name: str, raw: bytes) -> CmdResultPayload:
        """Run one command at most once; the answer for `cmd_result`."""
        with self._lock:
            try:
                cmd = decode(Kind.CMD, raw)
            except PayloadError as exc:
                return self._result(_cmd_id_of(raw), False, f"malformed: {exc.detail}"[:DETAIL_MAX])
            assert isinstance(cmd, CommandPayload)
            now = self.now()
            if cmd.cmd_id in self.commands:
                return self._result(cmd.cmd_id, False, "duplicate")
            if cmd.expires_at <= now:
                return self._result(cmd.cmd_id, False, "expired")
            action = self.actions.get(name)
            if action is None:
                return self._result(cmd.cmd_id, False, f"unknown command {name!r}"[:DETAIL_MAX])
            try:  # remembered before it runs: a redelivered `reboot` must not loop
                self.commands.remember(cmd.cmd_id, cmd.expires_at, now)
            except OSError as exc:
                log.error("%s: command %s refused, cannot persist: %s", self.sid, cmd.cmd_id, exc)
                return self._result(cmd.cmd_id, False, f"cannot persist: {exc}"[:DETAIL_MAX])
        try:
            detail = action(cmd.args)
        except Exception as exc:  # an action failing is an answer, not a crash
            log.exception("%s: command %s (%s) failed", self.sid, name, cmd.cmd_id)
            return self._result(cmd.cmd_id, False, f"failed: {exc}"[:DETAIL_MAX])
        log.info("%s: command %s (%s) done", self.sid, name, cmd.cmd_id)
        return self._result(cmd.cmd_id, True, detail)


def _cmd_id_of(raw: bytes) -> str:
    """The cmd_id of a malformed command if one can be read, so the cloud can match the refusal."""
    with contextlib.suppress(ValueError, TypeError, AttributeError):
        value = json.loads(raw).get("cmd_id")
        if isinstance(value, str) and value:
            return value[:64]
    return "?"
