# A hiberkit CLI cycle on a swap file on ext4, on the second disk (/dev/vdb; /dev/vda is a blank
# disk that must be left alone).
#
# Boot 1: mkfs.ext4 and mount /dev/vdb, a swap file (fallocate, mkswap, swapon), its resume
# offset from `hiberkit swap-offset`, the state, then `hiberkit hibernate` with no flags: it picks
# the only active swap area, the file, and the default power-off (platform).
# Boot 2: the host boots with `resume=/dev/vdb resume_offset=N`, N read from boot 1's report;
# hiberkit-resume, the native program an initramfs runs, takes both from there without flags,
# and /dev/vdb is never mounted.
# Back in boot 1's session: the state, and the swap file swaps off and on again.
. /hk/lib.sh
. /hk/scenarios/cycle-common.sh

SWAPFS=/mnt/swapfs
SWAPFILE=$SWAPFS/swapfile
# Room for the image of a 1024 MB guest (about 100 MiB with LZ4) and the swap-out before it.
SWAPFILE_MB=512

if [ "$HK_BOOT" != 1 ]; then
  hk_result "{\"phase\":\"resume-boot\",\"vdbMounts\":$(grep -c '^/dev/vdb ' /proc/mounts)}"
  cycle_resume_native
  exit 1
fi

hk_quiet_console
mkfs.ext4 -q /dev/vdb || { hk_error "mkfs.ext4 /dev/vdb failed"; exit 1; }
mkdir -p "$SWAPFS"
mount -t ext4 /dev/vdb "$SWAPFS" || { hk_error "mount /dev/vdb failed"; exit 1; }
fallocate -l $((SWAPFILE_MB * 1024 * 1024)) "$SWAPFILE" && chmod 600 "$SWAPFILE" &&
  mkswap "$SWAPFILE" > /dev/null && swapon "$SWAPFILE" || { hk_error "making the swap file failed"; exit 1; }
hk_stamp swap-offset
offset_output=$(hiberkit swap-offset "$SWAPFILE") || { hk_error "hiberkit swap-offset failed"; exit 1; }
echo "$offset_output"
offset=$(echo "$offset_output" | grep -o '[0-9][0-9]*' | tail -n 1)
hk_result "{\"phase\":\"swap-file\",\"offset\":$offset,\"signature\":\"$(cycle_signature /dev/vdb "$offset")\"}"

cycle_make_state
cycle_report_state before 1
cycle_hibernate 1

# The header page was put back before the restore: raw on the device, and as swapon sees it.
signature=$(cycle_signature /dev/vdb "$offset")
if swapoff "$SWAPFILE" && swapon "$SWAPFILE"; then swap_cycle=true; else swap_cycle=false; fi
echo still-writable > "$SWAPFS/after-resume" && sync && written=$(cat "$SWAPFS/after-resume")
hk_result "{\"phase\":\"swap-file-after\",\"signature\":\"$signature\",\"swapCycle\":$swap_cycle,\"filesystem\":\"${written:-}\"}"
hk_kernel_log
