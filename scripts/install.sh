#!/usr/bin/env bash
# Install vocalpy-xai and its whole stack into a virtual environment.
#
#   bash scripts/install.sh            -> creates/updates ./.venv
#   VENV=/path bash scripts/install.sh -> installs into that environment
#   SYSTEM_PACKAGES=0 bash scripts/install.sh -> no Debian packages (see below)
#
# First, as root or with password-less sudo where apt-get exists, the Debian packages
# of the virtual X display the napari canvas tests need (scripts/system-packages.sh;
# elsewhere it warns, and those tests are skipped with the reason).
#
# The one place where the stack's known conflicts are solved (docs/install.md):
#   * torch is pinned to the CPU build 2.13.0 (requirements/constraints.txt), so
#     pip never pulls a CUDA torch;
#   * cabrnet 1.2 is installed with --no-deps: its GUI / hyper-parameter-search
#     pins (gradio -> tomlkit==0.12.0, ray, optuna, scikit-learn~=1.5) conflict
#     with vak 1.x; the packages it really imports are dependencies of
#     vocalpy-xai itself (pyproject.toml);
#   * a torchvision without its C++ ops (the CUDA-only wheel next to CPU torch)
#     is patched at import time by vocalpy_xai._compat, which does nothing where
#     torchvision imports cleanly.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${VENV:-$here/.venv}"
extras="${EXTRAS:-test,dev,docs}"
python="${PYTHON:-python3}"

bash "$here/scripts/system-packages.sh"

if [ ! -x "$venv/bin/python" ]; then
  "$python" -m venv "$venv"
fi
pip=("$venv/bin/python" -m pip install --disable-pip-version-check -q)
constraints=(-c "$here/requirements/constraints.txt")

# torch first, from the pinned CPU wheel: later resolutions see it satisfied.
"${pip[@]}" "${constraints[@]}" torch==2.13.0
# "all": the napari plugin, its Qt binding and the HTTP service are extras of the package
"${pip[@]}" "${constraints[@]}" -e "$here[all,$extras]"
"${pip[@]}" --no-deps cabrnet==1.2
# The torchvision adapter is loaded at interpreter start-up by a .pth file, so
# that a plain `import vak` / `import cabrnet` works too (docs/install.md).
site="$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
echo "import _vocalpy_xai_torchvision" > "$site/vocalpy_xai_torchvision.pth"
# Check the three imports that the conflicts used to break.
"$venv/bin/python" -c "import vocalpy_xai, vak, cabrnet; print('vocalpy-xai', vocalpy_xai.__version__, '| vak', vak.__version__, '| cabrnet ok')"
