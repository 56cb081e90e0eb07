"""Door feedback from the command line: `provision voice` renders the prompts with espeak-ng
(installed by scripts/test), and `edge run` speaks them through the configured player."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
from typer.testing import CliRunner

from edge.feedback.cues import PROMPTS
from firmware_sim.scenes import render_phone_qr
from firmware_sim.union import SimUnion
from tests.support.wait import wait_for
from waystation.cli import app

WAYSTATION = Path(sys.executable).with_name("waystation")


def test_provision_voice_renders_every_prompt_as_wav(tmp_path: Path, need_espeak: None) -> None:
    out = tmp_path / "voice"
    result = CliRunner().invoke(app, ["provision", "voice", "--out", str(out)])
    assert result.exit_code == 0, result.output
    for prompt in PROMPTS:
        wav = out / f"{prompt.name}.wav"
        head = wav.read_bytes()[:12]
        assert head[:4] == b"RIFF", wav
        assert head[8:] == b"WAVE", wav
        assert wav.stat().st_size > 10_000, "a spoken phrase, not an empty file"
        assert f"{wav}: {prompt.text}" in result.output
    assert "欢迎光临" in result.output


def test_provision_voice_without_espeak_says_what_to_install(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app, ["provision", "voice", "--out", str(tmp_path), "--espeak", "no-such-espeak"]
    )
    assert result.exit_code == 2
    assert result.stderr.strip().splitlines() == [
        "error: no-such-espeak not found (apt-get install espeak-ng)"
    ]


def test_edge_run_speaks_the_welcome_prompt_for_a_member(tmp_path: Path) -> None:
    union = SimUnion.create(11)
    trust = union.write_trust_dir(tmp_path / "trust")
    voice = tmp_path / "voice"
    voice.mkdir()
    for prompt in PROMPTS:
        (voice / f"{prompt.name}.wav").write_bytes(b"RIFF")
    played = tmp_path / "played.txt"
    player = tmp_path / "fakeplay"
    player.write_text(f'#!/bin/sh\necho "$@" >> "{played}"\n', encoding="utf-8")
    player.chmod(0o755)
    frame = render_phone_qr(union.enroll("m1").present(int(time.time())),
                            rng=np.random.default_rng(5))  # fmt: skip
    video = tmp_path / "door.avi"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 10.0,
                             (frame.shape[1], frame.shape[0]))  # fmt: skip
    for _ in range(10):
        writer.write(frame)
    writer.release()
    config = tmp_path / "station.toml"
    config.write_text(
        'station_id = "sz-voice-01"\n'
        f'journal_path = "{tmp_path / "journal.db"}"\n'
        '[mqtt]\nbroker = "mqtt://127.0.0.1:9"\n'  # offline: nothing listens there
        f'[camera]\nsource = "{video}"\n'
        f'[access]\ntrust_dir = "{trust}"\n'
        "[feedback]\ngreen_pin = 23\nred_pin = 24\nbuzzer_pin = 25\nvoice = true\n"
        f'audio_dir = "{voice}"\nplayer = "{player} --volume {{volume}} {{file}}"\n',
        encoding="utf-8",
    )
    log = tmp_path / "agent.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [str(WAYSTATION), "edge", "run", "--config", str(config), "--simulate-hardware"],
            stdout=out, stderr=subprocess.STDOUT, cwd=tmp_path, env=os.environ.copy(),
        )  # fmt: skip
        try:
            wait_for(played.exists, 30, lambda: f"a prompt played; agent log:\n{log.read_text()}")
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(15) == 0, log.read_text(errors="replace")
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    assert played.read_text().splitlines() == [f"--volume 1 {voice / 'welcome.wav'}"]
    assert "Traceback" not in log.read_text(errors="replace")
