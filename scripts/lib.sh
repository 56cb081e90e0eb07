# Shared set-up for ./scripts/demo and ./scripts/test: a .venv with the project, and the
# Debian packages it needs. Sourced, not run. Idempotent: a second run installs nothing.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
PY="${PYTHON:-python3}"

log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

# apt-get as root, or through sudo when it needs no password; otherwise say what to install.
apt_install() {
    local missing=()
    for pkg in "$@"; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    local SUDO=""
    if [ "$(id -u)" -ne 0 ]; then
        if sudo -n true 2>/dev/null; then SUDO="sudo -n"; else
            log "missing Debian packages: ${missing[*]} (run: sudo apt-get install ${missing[*]})"
            return 1
        fi
    fi
    if [ "${WAYSTATION_NO_APT:-0}" = "1" ]; then
        log "missing Debian packages: ${missing[*]} and WAYSTATION_NO_APT=1"; return 1
    fi
    log "installing ${missing[*]}"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# pip, quiet, minus the machine-config chatter about absent local index folders.
pip_q() {
    "$VENV/bin/python" -m pip -q --disable-pip-version-check "$@" 2> >(grep -v "is ignored: it is neither" >&2)
}

# .venv with the project (editable) and the given extras; re-installs only when pyproject changes.
ensure_venv() {
    local extras="$1"
    if [ ! -x "$VENV/bin/python" ]; then
        apt_install python3-venv 2>/dev/null || true
        log "creating $VENV"
        "$PY" -m venv "$VENV"
    fi
    local stamp="$VENV/.waystation-$extras"
    if [ ! -f "$stamp" ] || [ "$ROOT/pyproject.toml" -nt "$stamp" ]; then
        log "installing waystation[$extras] into .venv"
        pip_q install --upgrade pip
        pip_q install -e "$ROOT[$extras]"
        touch "$stamp"
    fi
}
