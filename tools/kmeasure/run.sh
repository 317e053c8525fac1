#!/bin/bash
# Runs measure under the probe lock. measure restores the THP knobs itself
# (normal exit, errors, SIGINT/SIGTERM/SIGHUP/SIGQUIT); this trap also covers
# a crash or SIGKILL of measure, using the state file it leaves behind.
set -u
here=$(cd "$(dirname "$0")" && pwd)
bin=$here/build/measure
restore() {
	if [ -e /run/foliolab-kmeasure.knobs ]; then "$bin" --restore; fi
}
trap restore EXIT
trap 'exit 130' INT TERM HUP
flock /run/foliolab-probe.lock "$bin" "$@"
