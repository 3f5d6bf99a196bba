#!/usr/bin/env bash
# The whole test suite, from a fresh Debian machine with Python 3.11:
#   installs what the tests need (Debian's chromium + fonts-noto-cjk when run as root,
#   the pinned Python packages), makes sure PostgreSQL answers on 127.0.0.1:5432,
#   then runs ruff and pytest. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."

if [[ $(id -u) == 0 ]] && ! { command -v chromium >/dev/null && fc-list 2>/dev/null | grep -qi "Noto Sans CJK"; }; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-noto-cjk >/dev/null
fi

python -m pip install -q --disable-pip-version-check -r requirements-dev.txt

if ! pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then
  if [[ $(id -u) == 0 ]] && [[ -d /etc/postgresql ]]; then
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n 1)" main start || true
    for _ in $(seq 30); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 1; done
  fi
fi

ruff check .
ruff format --check .
# Two worker processes (the machines have 2 cores), each given whole modules, so a
# module's app and browser are started once; "-n 0" runs everything in one process.
python -m pytest -p no:cacheprovider -q -n "${ARENA_TEST_WORKERS:-2}" --dist loadfile "$@"
