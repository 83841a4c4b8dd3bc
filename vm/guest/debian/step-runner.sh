#!/bin/bash
# The hk-step service of the Debian test VM (vm/debian/root.ts installs it as
# /usr/local/lib/hk/step-runner). Once the system is up, it runs the step script the host passed
# with qemu's -fw_cfg (vm/debian/boot.ts), prints `HK:EXIT <status>` on the serial console as the
# busybox VM's /init does, and powers the machine off cleanly, which ends qemu.
# A step that hibernates continues in the boot that resumes it, inside this very script.
exec > /dev/ttyS0 2>&1
modprobe qemu_fw_cfg
step=/sys/firmware/qemu_fw_cfg/by_name/opt/hk/scenario/raw
if [ -r "$step" ]; then
  cp "$step" /run/hk-step.sh
  bash /run/hk-step.sh
  status=$?
else
  echo "HK:ERROR no step script from the host ($step is missing)"
  status=127
fi
echo "HK:EXIT $status"
systemctl poweroff
