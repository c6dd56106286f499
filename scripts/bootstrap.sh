#!/usr/bin/env bash
# bootstrap.sh: installs every Debian 12 package ywmessaging needs to build, test and run — idempotently, and in
# well under a second when everything is already there. Runs as root (CI) or through sudo.
# `bootstrap.sh fuzz` also installs clang (libFuzzer) for `make fuzz`.
set -euo pipefail

packages=(
  # build
  build-essential cmake ninja-build pkg-config clang-format
  libboost1.81-dev libboost-json1.81-dev libboost-url1.81-dev
  libpq-dev libhiredis-dev libcurl4-openssl-dev libssl-dev zlib1g-dev
  libspdlog-dev libfmt-dev libcli11-dev libgtest-dev libgmock-dev libbenchmark-dev
  # servers of the local topology (Debian 12 ships contrib, pg_stat_statements included, in postgresql-15)
  postgresql-15 pgbouncer redis-server redis-tools
  # HypoPG: hypothetical indexes for `ywctl index advise` (RB-9)
  postgresql-15-hypopg
  # backups: pgBackRest, and nginx (TLS in front of the S3 server: pgBackRest speaks only TLS) with openssl for
  # the topology's own CA
  pgbackrest nginx-light openssl
  # tools for checks and benchmarks; prometheus for promtool (tests of deploy/prometheus/alerts.yml)
  postgresql-client-15 wrk jq curl time prometheus
  # the status page's test runs it in a real headless browser (and needs a font to render text)
  chromium fonts-dejavu-core
)
# The local topology's S3 server is moto (Python's moto[server]), which Debian does not package: it comes with
# the machine image (pip). awscli, the tests' independent S3 client, comes from Debian when the image lacks it.
command -v aws >/dev/null 2>&1 || [ -x "$HOME/.pyenv/shims/aws" ] || packages+=(awscli)
if ! command -v moto_server >/dev/null 2>&1 && [ ! -x "$HOME/.pyenv/shims/moto_server" ] && [ -z "${YW_MOTO_SERVER:-}" ]; then
  echo "bootstrap: warning: moto_server not found (pip install 'moto[server]'); the local topology will run without S3" >&2
fi
if [ "${1:-}" = fuzz ]; then packages+=(clang); fi

# One dpkg-query for all of them keeps the already-installed case fast.
installed=$(dpkg-query -W -f='${Package} ${Status}\n' "${packages[@]}" 2>/dev/null | awk '/install ok installed/ {print $1}' || true)
missing=()
for p in "${packages[@]}"; do
  grep -qx "$p" <<<"$installed" || missing+=("$p")
done

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

echo "bootstrap: installing ${missing[*]}" >&2
if [ "$(id -u)" -eq 0 ]; then
  sudo=()
elif command -v sudo >/dev/null 2>&1; then
  sudo=(sudo)
else
  echo "bootstrap: need root or sudo to install: ${missing[*]}" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
# Debian's packaging starts the distribution's own PostgreSQL/PgBouncer/Redis/Prometheus services on install;
# the project runs its own on other ports (and no Prometheus), so keep the system ones from being started
# (policy-rc.d exit 101).
policy=/usr/sbin/policy-rc.d
created_policy=0
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' | "${sudo[@]}" tee "$policy" >/dev/null
  "${sudo[@]}" chmod 755 "$policy"
  created_policy=1
fi
cleanup() { if [ "$created_policy" = 1 ]; then "${sudo[@]}" rm -f "$policy"; fi; }
trap cleanup EXIT
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
