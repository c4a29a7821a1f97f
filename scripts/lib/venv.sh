# Sourced by scripts/demo, scripts/test and scripts/install-deps: one project virtual environment.
#
# Debian 12 and Ubuntu 24.04 refuse `pip install` into their own Python (PEP 668,
# "externally-managed-environment"), so netcheck is installed into a venv, never into the system:
#   - inside an activated venv ($VIRTUAL_ENV), that venv is used as it is;
#   - otherwise .venv/ in the checkout (NETCHECK_VENV to move it) is made once with the first
#     Python >= 3.11 found ($PYTHON, else python3, python3.13, python3.12, python3.11) and reused.
# After `nc_venv`, $NC_PY is the venv's python and the venv's bin/ leads PATH, so every
# subprocess (tests that call `python3`, `netcheck`, `hadolint`) runs from the venv.

nc_die() { echo "$*" >&2; exit 2; }

nc_find_python() {
  local cand
  for cand in ${PYTHON:-} python3 python3.13 python3.12 python3.11; do
    command -v "$cand" >/dev/null 2>&1 || continue
    if "$cand" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
      command -v "$cand"
      return 0
    fi
    [ -n "${PYTHON:-}" ] && [ "$cand" = "$PYTHON" ] && nc_die "PYTHON=$PYTHON is older than 3.11; netcheck needs Python >= 3.11"
  done
  nc_die "netcheck needs Python >= 3.11: none found as python3, python3.13, python3.12 or python3.11 (set PYTHON=/path/to/python3)"
}

# Debian/Ubuntu ship venv's pip bootstrap (ensurepip) in a separate package, python3.X-venv.
nc_install_venv_package() {
  local base="$1" ver
  ver="$("$base" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')"
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && [ -z "${NETCHECK_NO_APT:-}" ]; then
    echo "installing Debian packages: python3-venv python${ver}-venv (python3 -m venv needs them)" >&2
    apt-get update -qq >/dev/null 2>&1 || true
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends python3-venv "python${ver}-venv" \
      >/dev/null 2>&1 || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      "python${ver}-venv" >/dev/null 2>&1 || return 1
    return 0
  fi
  return 1
}

nc_venv() {
  local dir base
  if [ -n "${VIRTUAL_ENV:-}" ] && [ -x "$VIRTUAL_ENV/bin/python" ]; then
    dir="$VIRTUAL_ENV"
  else
    dir="${NETCHECK_VENV:-$PWD/.venv}"
    # reuse it unless its interpreter is gone (e.g. a removed pyenv version) or too old
    if ! "$dir/bin/python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' >/dev/null 2>&1; then
      base="$(nc_find_python)"
      rm -rf "$dir"
      echo "creating the project virtual environment $dir with $base" >&2
      if ! "$base" -m venv "$dir" >/dev/null 2>&1; then
        rm -rf "$dir"
        if nc_install_venv_package "$base" && "$base" -m venv "$dir" >/dev/null 2>&1; then
          :
        else
          rm -rf "$dir"
          nc_die "cannot create a virtual environment with $base (\`$base -m venv\` failed).
On Debian or Ubuntu install the venv module first:  sudo apt-get install python3-venv
or point PYTHON at another Python >= 3.11:           PYTHON=/path/to/python3 $0"
        fi
      fi
    fi
  fi
  NC_VENV="$dir"
  NC_PY="$dir/bin/python"
  export VIRTUAL_ENV="$dir"
  export PATH="$dir/bin:$PATH"
  unset PYTHONHOME
}

# Install this checkout (editable) with EXTRAS into the venv, unless the same pyproject.toml was
# already installed from this checkout with those extras or more (a stamp in the venv says so).
nc_install() {
  local extras="$1" spec="." want stamp
  [ -n "$extras" ] && spec=".[$extras]"
  want="$PWD $(cksum < pyproject.toml)"
  for stamp in "$NC_VENV"/.netcheck-installed*; do
    [ -f "$stamp" ] || continue
    case "$(basename "$stamp")" in
      .netcheck-installed) [ -z "$extras" ] || continue ;;
      ".netcheck-installed-$extras") ;;
      *) [ -z "$extras" ] || continue ;;
    esac
    [ "$(cat "$stamp")" = "$want" ] && return 0
  done
  echo "installing netcheck${extras:+[$extras]} into $NC_VENV" >&2
  "$NC_PY" -m pip install -q --disable-pip-version-check -e "$spec"
  if [ -n "$extras" ]; then echo "$want" > "$NC_VENV/.netcheck-installed-$extras"; else echo "$want" > "$NC_VENV/.netcheck-installed"; fi
}
