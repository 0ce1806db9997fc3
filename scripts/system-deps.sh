#!/usr/bin/env sh
# Debian packages the tests use for real parts: a real MQTT broker and a real browser.
# Installs them when missing (as root, or via sudo); otherwise says what to install.
missing=""
command -v mosquitto >/dev/null 2>&1 || [ -x /usr/sbin/mosquitto ] || missing="$missing mosquitto"
command -v chromium >/dev/null 2>&1 || missing="$missing chromium"
[ -z "$missing" ] && exit 0
if [ "$(id -u)" = 0 ]; then SUDO=""; elif command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
  echo "meterfleet tests need:$missing (apt-get install -y$missing)" >&2; exit 1
fi
echo "installing:$missing" >&2
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq >/dev/null && $SUDO apt-get install -y -qq $missing >/dev/null || {
  echo "apt-get install$missing failed" >&2; exit 1; }
