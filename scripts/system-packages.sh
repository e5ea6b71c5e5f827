#!/usr/bin/env bash
# Install the Debian packages the napari canvas tests need: a virtual X server (Xvfb)
# and the xcb/GL libraries PySide6's xcb platform plugin loads (docs/install.md).
#
# Called by scripts/install.sh (the README's install command). Needs apt-get and root or
# sudo; otherwise it warns and changes nothing: the napari canvas tests are then skipped,
# with this command as the way to get them running. Set SYSTEM_PACKAGES=0 to skip it.
# Never fails the install: a missing package only costs the GUI tests.
set -uo pipefail

APT_PACKAGES=(
  xvfb               # Xvfb and xvfb-run: a virtual X server for the napari canvas
  libxcb-icccm4      # missing from PySide6's xcb platform plugin otherwise
  libxcb-keysyms1    # idem
  libxkbcommon-x11-0
  libxcb-xinerama0
  libxcb-cursor0     # Qt >= 6.5's xcb plugin needs it
  libgl1             # OpenGL (Mesa renders in software, llvmpipe)
  libegl1
)

log() { printf '==> %s\n' "$*"; }
warn() { printf 'WARNING: %s\n' "$*" >&2; }
skip_note() {
  warn "$1: not installing the virtual display packages (${APT_PACKAGES[*]})."
  warn "The napari canvas tests will be skipped. To run them: as root, bash scripts/install.sh"
  warn "(or: sudo apt-get install ${APT_PACKAGES[*]})."
}

if [ "${SYSTEM_PACKAGES:-1}" = "0" ]; then
  log "SYSTEM_PACKAGES=0: skipping the Debian packages for the virtual display"
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  skip_note "apt-get is not available"
  exit 0
fi
sudo=()
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    sudo=(sudo -n)
  else
    skip_note "not root and no password-less sudo"
    exit 0
  fi
fi
missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$pkg")
  fi
done
if [ "${#missing[@]}" -eq 0 ]; then
  log "virtual display packages already installed (${APT_PACKAGES[*]})"
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
log "apt-get update"
if ! "${sudo[@]}" apt-get update -q; then
  skip_note "apt-get update failed"
  exit 0
fi
available=()
for pkg in "${missing[@]}"; do
  candidate="$(apt-cache policy "$pkg" 2>/dev/null | awk '/Candidate:/ {print $2}')"
  if [ -n "$candidate" ] && [ "$candidate" != "(none)" ]; then
    available+=("$pkg")
  else
    warn "Debian package '$pkg' has no installation candidate here; skipping it."
  fi
done
if [ "${#available[@]}" -gt 0 ]; then
  log "apt-get install ${available[*]}"
  if ! "${sudo[@]}" apt-get install -y -q --no-install-recommends "${available[@]}"; then
    skip_note "apt-get install failed"
  fi
fi
exit 0
