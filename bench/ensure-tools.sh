#!/bin/sh
# Installs what the benchmark measures against: Debian's wrk (the load generator) and nginx
# (the static-file baseline). Only when missing; only as root, with apt-get. nginx is only
# installed here: the benchmark runs its own instance, with a config in a temp dir, and
# stops it at the end (on Debian images that ship a policy-rc.d, the package's service is
# not started either).
set -eu

missing=""
command -v wrk >/dev/null 2>&1 || missing="$missing wrk"
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || missing="$missing nginx"
[ -z "$missing" ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
    echo "bench: missing:$missing. Install them (Debian: sudo apt-get install$missing) and run again," >&2
    echo "bench: or run the benchmark with --load python --static python (slower, not the real baselines)." >&2
    exit 1
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "bench: missing:$missing, and there is no apt-get to install them with; install them by hand." >&2
    exit 1
fi
echo "bench: installing$missing with apt-get" >&2
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing >/dev/null
