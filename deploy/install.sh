#!/usr/bin/env bash
# Sourced by provision-control-plane.sh and provision-worker.sh: installs Debian packages
# only when missing (so it runs offline on a prepared image and online on a fresh Vagrant
# box), and Jota into its own virtualenv from a wheelhouse (offline, `pip install
# --no-index`) when one holds a jota wheel, else from the project's source tree.
set -euo pipefail

JOTA_VENV=${JOTA_VENV:-/usr/local/lib/jota/venv}

# need_packages CMD:PACKAGE ...: apt-get installs the packages whose command is missing.
need_packages() {
  local want=() pair
  for pair in "$@"; do
    command -v "${pair%%:*}" >/dev/null 2>&1 || want+=("${pair#*:}")
  done
  [ ${#want[@]} -eq 0 ] || apt_install "${want[@]}"
}

apt_install() {
  echo ">> installing $*"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

# install_jota WHEELHOUSE SOURCE
install_jota() {
  local wheelhouse=$1 source=$2
  python3 -c 'import venv, ensurepip' 2>/dev/null || apt_install python3-venv
  [ -x "$JOTA_VENV/bin/python" ] || python3 -m venv "$JOTA_VENV"
  if compgen -G "$wheelhouse/jota-*.whl" >/dev/null; then
    echo ">> installing Jota from the wheels in $wheelhouse"
    "$JOTA_VENV/bin/pip" install -q --no-index --find-links "$wheelhouse" --upgrade jota
  else
    echo ">> installing Jota from $source"
    "$JOTA_VENV/bin/pip" install -q --upgrade "$source"
  fi
  ln -sf "$JOTA_VENV/bin/jota" /usr/local/bin/jota
}

deploy() { "$JOTA_VENV/bin/python" -m jota.deploy "$@"; }

# wait_for WHAT SECONDS COMMAND...: runs COMMAND until it succeeds.
wait_for() {
  local what=$1 seconds=$2
  shift 2
  local deadline=$((SECONDS + seconds))
  until "$@" >/dev/null 2>&1; do
    if [ $SECONDS -ge $deadline ]; then
      echo "!! $what: not ready after ${seconds}s" >&2
      return 1
    fi
    sleep 1
  done
}
