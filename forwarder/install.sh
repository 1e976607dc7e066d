#!/bin/sh
# Installs the forewarn Scheduled Events forwarder from an unpacked release archive
# (`make forwarder-dist`; docs/operations.md, "Scheduled Events"). Run as root from anywhere:
#
#   sh forewarn-forwarder-VERSION/install.sh [--prefix DIR] [--unit-dir DIR] [--env-file FILE]
#                                            [--no-enable]
#
# With FOREWARN_FORWARDER_APP_URL and FOREWARN_FORWARDER_KEY in its environment it writes the
# env file (mode 0600; FOREWARN_FORWARDER_DRAIN_COMMAND too when set); without them it keeps the
# env file already there (cloud-init writes it first). --no-enable installs the files only and
# leaves systemd alone (tests, images baked before first boot). Running it again upgrades.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
prefix=/opt/forewarn-forwarder
unit_dir=/etc/systemd/system
env_file=/etc/forewarn-forwarder.env
enable=yes
while [ $# -gt 0 ]; do
  case "$1" in
    --prefix) prefix=$2; shift 2 ;;
    --unit-dir) unit_dir=$2; shift 2 ;;
    --env-file) env_file=$2; shift 2 ;;
    --no-enable) enable=no; shift ;;
    *) echo "install.sh: unknown option $1" >&2; exit 2 ;;
  esac
done

python=$(command -v python3 || true)
if [ -z "$python" ] || ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
  echo "install.sh: the forwarder needs python3 3.11 or newer on the PATH" >&2
  exit 1
fi

# The env file first: a forwarder without its key would only restart in a loop.
if [ -n "${FOREWARN_FORWARDER_APP_URL:-}" ] && [ -n "${FOREWARN_FORWARDER_KEY:-}" ]; then
  mkdir -p "$(dirname "$env_file")"
  # umask before the file exists: the key is never readable by others, not even for a moment.
  (
    umask 077
    {
      printf 'FOREWARN_FORWARDER_APP_URL=%s\n' "$FOREWARN_FORWARDER_APP_URL"
      printf 'FOREWARN_FORWARDER_KEY=%s\n' "$FOREWARN_FORWARDER_KEY"
      if [ -n "${FOREWARN_FORWARDER_DRAIN_COMMAND:-}" ]; then
        printf 'FOREWARN_FORWARDER_DRAIN_COMMAND=%s\n' "$FOREWARN_FORWARDER_DRAIN_COMMAND"
      fi
    } > "$env_file.new"
  )
  chmod 0600 "$env_file.new"
  mv "$env_file.new" "$env_file"
elif [ ! -f "$env_file" ]; then
  echo "install.sh: no $env_file: set FOREWARN_FORWARDER_APP_URL and FOREWARN_FORWARDER_KEY" >&2
  exit 2
fi

# The package beside, then swapped in: a running forwarder never imports half a release.
mkdir -p "$prefix"
rm -rf "$prefix/forwarder.new"
cp -R "$here/forwarder" "$prefix/forwarder.new"
rm -rf "$prefix/forwarder"
mv "$prefix/forwarder.new" "$prefix/forwarder"
cp "$here/VERSION" "$prefix/VERSION"

# The unit names the default places; this install's own are written into it.
mkdir -p "$unit_dir"
sed -e "s|/opt/forewarn-forwarder|$prefix|g" \
    -e "s|/etc/forewarn-forwarder.env|$env_file|g" \
    -e "s|/usr/bin/python3|$python|g" \
    "$here/forwarder/forewarn-forwarder.service" > "$unit_dir/forewarn-forwarder.service"

if [ "$enable" = yes ]; then
  systemctl daemon-reload
  systemctl enable forewarn-forwarder.service
  # restart, not start: an upgrade must run the new files.
  systemctl restart forewarn-forwarder.service
fi
echo "install.sh: forewarn forwarder $(cat "$prefix/VERSION") installed in $prefix"
