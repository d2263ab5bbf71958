#!/usr/bin/env bash
# Build two "Slicer twins": clean virtual environments holding only the Python packages that a
# 3D Slicer release embeds, so that the Slicer routes (module file, scene/, the background
# `nvseg run`) can be tested against what really runs inside Slicer, not against our .venv.
#
#   bash scripts/slicer_twins.sh          # build what is missing or out of date, then list both
#   bash scripts/slicer_twins.sh --force  # rebuild both from scratch
#
# Idempotent: each twin lives in .envs/<name>/ with a stamp of its specification; a twin whose
# stamp matches is reused as it is (a few ms), any other is rebuilt from scratch.
#
# The package sets are Slicer's own, read from Slicer's source at the release tags
# (SuperBuild/External_python*.cmake, External_VTK.cmake, External_SimpleITK.cmake, CMakeLists.txt):
#
#   Slicer 5.8.1 : Python 3.9.10, numpy 1.26.4, scipy 1.13.1, SimpleITK (Slicer fork)
#                  slicer-v2.3.1, VTK (Slicer fork) 9.2.20230607; pure packages bundled: packaging
#                  24.0, pyparsing 3.1.2, six 1.16.0, requests 2.32.3 (certifi 2024.2.2, idna 3.7,
#                  charset-normalizer 3.3.2, urllib3 2.2.1), pydicom 2.4.4, dicomweb-client, ...
#   Slicer 5.10.0: Python 3.12.10, numpy 2.0.2, scipy 1.13.1, SimpleITK slicer-v2.5.2, VTK 9.5.2.
#   Neither bundles tqdm, matplotlib, pynrrd, slicerio or pyyaml.
#
# (a) .envs/slicer-5.8 : Python 3.9, numpy 1.26.4, scipy 1.13.1, vtk 9.2.6 (the PyPI release
#     nearest to Slicer's 9.2.20230607 fork), SimpleITK 2.3.1, the pure packages above.
# (b) .envs/slicer-5.10: Python 3.11 (the local CPU torch wheel is for 3.11), numpy 2.0.2,
#     scipy 1.13.1, SimpleITK 2.5.2, slicer-core (Kitware's Qt-free MRML wheel; its own vtk pin
#     decides vtk), torch==2.13.0 (that exact pin: the local CPU wheel; never unpinned).
#
# pip's vtk wheel declares matplotlib as a dependency (Slicer's VTK does not ship it), so vtk and
# slicer-core are installed with --no-deps; every twin is checked at the end to hold nothing but
# its pins, pip/setuptools/wheel and (twin b) torch's own dependencies.
set -euo pipefail
cd "$(dirname "$0")/.."
root="$PWD/.envs"
force=0
if [ "${1:-}" = "--force" ]; then force=1; fi

pip_quiet=(--quiet --disable-pip-version-check --no-input)

find_python() {  # first usable interpreter of the given candidates, with the wanted X.Y
  local want="$1"; shift
  local candidate
  for candidate in "$@"; do
    if command -v "$candidate" >/dev/null 2>&1 \
       && [ "$("$candidate" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null)" = "$want" ]; then
      "$candidate" -c 'import os, sys; print(os.path.realpath(sys.executable))'  # not a pyenv shim
      return 0
    fi
  done
  return 1
}

# check_twin DIR "allowed names..." [closure-of]: fail unless every installed distribution is
# allowed (or, with closure-of, required directly or indirectly by that distribution).
check_twin() {
  local dir="$1" allowed="$2" closure_of="${3:-}"
  "$dir/bin/python" - "$allowed" "$closure_of" <<'PY'
import re, sys
try:
    from importlib import metadata
except ImportError:  # pragma: no cover
    import importlib_metadata as metadata

def norm(name):
    return re.sub(r"[-_.]+", "-", name).lower()

allowed = set(norm(n) for n in sys.argv[1].split())
allowed |= {"pip", "setuptools", "wheel"}
installed = {}
for dist in metadata.distributions():
    installed[norm(dist.metadata["Name"])] = dist
root = norm(sys.argv[2]) if sys.argv[2] else ""
todo = [root] if root else []
while todo:
    name = todo.pop()
    if name in allowed and name != root:
        continue
    allowed.add(name)
    dist = installed.get(name)
    for req in (dist.requires or []) if dist is not None else []:
        if "extra ==" in req:
            continue
        todo.append(norm(re.split(r"[ ;<>=!~\[(]", req, 1)[0]))
forbidden = {"tqdm", "matplotlib", "pynrrd", "slicerio", "pyyaml"}
extra = sorted(n for n in installed if n not in allowed)
bad = sorted(n for n in installed if n in forbidden)
if extra or bad:
    sys.exit("twin holds packages Slicer does not ship: %s" % ", ".join(sorted(set(extra + bad))))
PY
}

build_twin() {  # build_twin NAME PYTHON SPEC_TEXT INSTALL_FUNCTION
  local name="$1" python="$2" spec="$3" installer="$4"
  local dir="$root/$name" stamp="$root/$name/.twin-spec"
  local want
  want="$(printf '%s\npython=%s\n' "$spec" "$python")"
  if [ "$force" = 0 ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] \
     && [ -x "$dir/bin/python" ]; then
    echo "twin $name: up to date ($dir)"
    return 0
  fi
  echo "twin $name: building with $python ..."
  local start=$SECONDS
  rm -rf "$dir"
  mkdir -p "$root"
  if ! ( "$python" -m venv "$dir" && "$installer" "$dir" ); then
    rm -rf "$dir"
    echo "twin $name: build FAILED" >&2
    return 1
  fi
  printf '%s' "$want" > "$stamp"
  echo "twin $name: built in $((SECONDS - start)) s"
}

# ------------------------------------------------------------------ (a) Slicer 5.8
SPEC_58="numpy==1.26.4 scipy==1.13.1 SimpleITK==2.3.1 vtk==9.2.6
packaging==24.0 pyparsing==3.1.2 six==1.16.0 requests==2.32.3 certifi==2024.2.2 idna==3.7
charset-normalizer==3.3.2 urllib3==2.2.1 pydicom==2.4.4"

install_58() {
  local dir="$1"
  # every package pinned and installed without dependencies: exactly this set, nothing pulled in
  # shellcheck disable=SC2086
  "$dir/bin/python" -m pip install "${pip_quiet[@]}" --no-deps $SPEC_58
  check_twin "$dir" "$(echo $SPEC_58 | sed -E 's/==[^ ]+//g')"
}

# ------------------------------------------------------------------ (b) Slicer 5.10
SLICER_CORE_510="slicer-core==5.11.0.6"   # the release line right after 5.10 (no 5.10 wheel exists)
SPEC_510="numpy==2.0.2 scipy==1.13.1 SimpleITK==2.5.2 $SLICER_CORE_510 torch==2.13.0"

install_510() {
  local dir="$1" vtk_pin
  local py=("$dir/bin/python")
  "${py[@]}" -m pip install "${pip_quiet[@]}" --no-deps "$SLICER_CORE_510"
  # slicer-core pins its own vtk: take that pin (vtk's wheel would also pull in matplotlib)
  vtk_pin="$("${py[@]}" - <<'PY'
import re
from importlib import metadata
pins = [r for r in metadata.requires("slicer-core") or [] if re.match(r"vtk\b", r) and "extra" not in r]
print(re.sub(r"[\s()]", "", pins[0]) if pins else "vtk")
PY
)"
  "${py[@]}" -m pip install "${pip_quiet[@]}" --no-deps "$vtk_pin" numpy==2.0.2 scipy==1.13.1 \
    SimpleITK==2.5.2
  # torch with its own dependencies (filelock, sympy, networkx, jinja2, fsspec, ...), nothing else
  "${py[@]}" -m pip install "${pip_quiet[@]}" torch==2.13.0
  check_twin "$dir" "slicer-core vtk numpy scipy SimpleITK torch" torch
}

py39="$(find_python 3.9 /root/.pyenv/versions/3.9.18/bin/python python3.9)" \
  || { echo "slicer_twins: no Python 3.9 found (Slicer 5.8's); twin slicer-5.8 not built" >&2; py39=""; }
py311="$(find_python 3.11 python3.11 python3 /root/.pyenv/versions/3.11.7/bin/python)" \
  || { echo "slicer_twins: no Python 3.11 found; twin slicer-5.10 not built" >&2; py311=""; }

status=0
if [ -n "$py39" ]; then build_twin slicer-5.8 "$py39" "$SPEC_58" install_58 || status=1; fi
if [ -n "$py311" ]; then build_twin slicer-5.10 "$py311" "$SPEC_510" install_510 || status=1; fi
exit $status
