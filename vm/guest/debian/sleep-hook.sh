#!/bin/sh
# A systemd sleep hook (/usr/lib/systemd/system-sleep/hk-report in the Debian test VM): shows on
# the console that the hooks ran around a hibernation (`pre hibernate`, `post hibernate`), which
# systemd-sleep does for the kernel's own path and hiberkit must do in its place. `post` also
# tells a waiting step that the machine is back (guest/debian/lib.sh debian_hibernate).
echo "HK:STAMP sleep-$1-$2 $(cut -d' ' -f1 /proc/uptime)" > /dev/ttyS0
if [ "$1" = post ]; then touch /run/hk-sleep-post; fi
exit 0
