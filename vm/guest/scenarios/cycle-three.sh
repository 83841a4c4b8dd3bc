# Three hiberkit CLI cycles in a row on one machine, swap partition /dev/vda:
#   1. defaults (power-off platform, LZ4);
#   2. --power-off shutdown --compress none;
#   3. from a --config file: power-off reboot (qemu -no-reboot ends the boot) and image-size 0,
#      which makes the kernel shrink memory (swapping out) before the snapshot.
# Boot N+1 resumes cycle N; the session continues after each `hiberkit hibernate`, reports the
# state, and starts the next cycle.
. /hk/lib.sh
. /hk/scenarios/cycle-common.sh

if [ "$HK_BOOT" != 1 ]; then
  cycle_resume --resume-device /dev/vda
  exit 1
fi

hk_quiet_console
hk_swap_on /dev/vda || { hk_error "mkswap/swapon /dev/vda failed"; exit 1; }
cycle_make_state
cycle_report_state before 1
cycle_hibernate 1 --resume-device /dev/vda
cycle_hibernate 2 --resume-device /dev/vda --power-off shutdown --compress none
printf 'resume-device = /dev/vda\npower-off = reboot\nimage-size = 0\n' > /tmp/cycle-hiberkit.conf
cycle_hibernate 3 --config /tmp/cycle-hiberkit.conf
hk_kernel_log
