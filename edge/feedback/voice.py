"""Voice prompts: a pre-rendered WAV per prompt, played by a player process (aplay, pw-play).

Only the feedback worker calls this, never the door loop. A prompt is a child process in its
own session, so stopping it (a newer decision, the timeout, shutdown) takes the whole group,
a wrapper script's children too. What can go wrong at a door is counted in
`stats["feedback_voice_errors"]` and logged once per cause (the player missing, a file missing,
the player failing), so a station without speakers or prompts says so once, not per member.
Nothing here raises.

Rendering the files, at install time with espeak-ng (`waystation provision voice`), is
`render_prompts`: the station needs no network and no speech engine at run time.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
from collections import Counter
from pathlib import Path

from edge.feedback.config import FeedbackConfig
from edge.feedback.cues import PROMPTS, Prompt

log = logging.getLogger(__name__)

ERRORS = "feedback_voice_errors"
# How long a stopped player gets to exit after SIGTERM before SIGKILL, seconds.
TERM_GRACE_S = 0.5
ESPEAK_VOICE = "cmn"  # espeak-ng's Mandarin
ESPEAK_TIMEOUT_S = 60.0


def prompt_file(audio_dir: Path, prompt: Prompt) -> Path:
    """Where a prompt's WAV lives: `<audio_dir>/<name>.wav`."""
    return audio_dir / f"{prompt.name}.wav"


class VoicePlayer:
    """Plays one prompt at a time; starting another stops the one playing."""

    def __init__(self, config: FeedbackConfig, sid: str, stats: Counter[str]) -> None:
        self.config = config
        self.sid = sid
        self.stats = stats
        self._proc: subprocess.Popen[bytes] | None = None
        self._reported: set[str] = set()  # causes already logged

    @property
    def playing(self) -> bool:
        """Whether a prompt is still playing (reaps it when it has ended)."""
        proc = self._proc
        if proc is None:
            return False
        code = proc.poll()
        if code is None:
            return True
        self._proc = None
        if code != 0 and code != -signal.SIGTERM:
            self._error(f"exit:{code}", "voice player %r exited with %s", self.config.player, code)
        return False

    def play(self, prompt: Prompt) -> None:
        """Start `prompt` (stopping any other); returns once the player process is started."""
        self.stop()
        path = prompt_file(self.config.audio_dir, prompt)
        if not path.is_file():
            self._error(
                f"file:{path}",
                "voice prompt %s missing (render them: waystation provision voice --out %s)",
                path,
                self.config.audio_dir,
            )
            return
        argv = self.config.player_command(path)
        try:
            self._proc = subprocess.Popen(  # noqa: S603 (the station's own configured player)
                argv,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
            )
        except OSError as exc:  # no such player, not executable
            self._error(f"player:{argv[0]}", "voice player %r cannot start: %s", argv[0], exc)

    def stop(self) -> None:
        """Stop the prompt playing, if any, and reap it."""
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(proc.pid, sig)
            except ProcessLookupError:
                return
            try:
                proc.wait(TERM_GRACE_S)
                return
            except subprocess.TimeoutExpired:
                continue

    def _error(self, cause: str, message: str, *args: object) -> None:
        self.stats[ERRORS] += 1
        if cause not in self._reported:
            self._reported.add(cause)
            log.error("%s: " + message + " (further ones only counted)", self.sid, *args)


def render_prompts(
    out_dir: Path, *, espeak: str = "espeak-ng", voice: str = ESPEAK_VOICE, speed_wpm: int = 150
) -> list[Path]:
    """Render every prompt to `<out_dir>/<name>.wav` with espeak-ng; returns the files.

    Raises FileNotFoundError if espeak-ng is missing, CalledProcessError if it fails."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for prompt in PROMPTS:
        path = prompt_file(out_dir, prompt)
        subprocess.run(  # noqa: S603 (a fixed argv, no shell)
            [espeak, "-v", voice, "-s", str(speed_wpm), "-w", str(path), prompt.text],
            check=True,
            capture_output=True,
            timeout=ESPEAK_TIMEOUT_S,
        )
        written.append(path)
    return written
