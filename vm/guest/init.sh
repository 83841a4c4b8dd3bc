#!/bin/sh
# /init, PID 1 of the hiberkit test VM (busybox sh). Sets up a minimal system, runs the
# scenario named on the kernel command line (hk.scenario=NAME), reports its exit status on
# the console (protocol.ts) and powers the machine off, which ends qemu.
# A scenario that hibernates never comes back here in this boot; after a resume in a later
# boot, execution continues in this very script (of the first boot) where it was frozen.

export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export HOME=/root
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mount -t tmpfs -o mode=1777 tmpfs /tmp
mount -t tmpfs tmpfs /run

. /hk/lib.sh
hk_stamp init

hk_export_cmdline_words

# busybox insmod does not resolve dependencies: /hk/modules lists them in load order.
while read -r module; do
  insmod "$module" || hk_error "insmod $module failed"
done < /hk/modules
hk_stamp modules

# A script the host passed with -fw_cfg (bootVm's `script` option) wins over a named scenario.
inline=/sys/firmware/qemu_fw_cfg/by_name/opt/hk/scenario/raw
if [ -r "$inline" ]; then
  cp "$inline" /tmp/scenario.sh
  sh /tmp/scenario.sh
  status=$?
elif [ -f "/hk/scenarios/$HK_SCENARIO.sh" ]; then
  sh "/hk/scenarios/$HK_SCENARIO.sh"
  status=$?
elif [ -f "/hk/pkg/dist/vm/guest/scenarios/$HK_SCENARIO.js" ]; then
  node "/hk/pkg/dist/vm/guest/scenarios/$HK_SCENARIO.js"
  status=$?
else
  hk_error "no scenario named '${HK_SCENARIO:-}' (hk.scenario= on the kernel command line)"
  status=127
fi

echo "HK:EXIT $status"
hk_stamp end
sync
poweroff -f
