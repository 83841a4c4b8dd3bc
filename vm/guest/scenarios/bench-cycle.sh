# One hibernate/resume cycle of one benchmark contender (bench/, `npm run bench`), over two boots
# on the same swap disk. The host times the phases from when console lines arrive (guest uptime
# does not survive a resume), so this script prints a line at each boundary it owns and nothing
# in between.
#   hk.method=kernel|hiberkit  who hibernates: the kernel (echo disk > /sys/power/state, then
#                              /sys/power/resume in boot 2) or the hiberkit CLI
#   hk.compress=lz4|none       hiberkit's --compress (the kernel's follows hibernate=nocompress)
#   hk.resumer=native|node     who resumes hiberkit's image in boot 2: hiberkit-resume (the native
#                              program an installed system's initramfs runs) or `hiberkit resume`
#   hk.textmb, hk.randommb     the memory load, see bench-data.ts
. /hk/lib.sh

# Swap in use, in KiB: pages the kernel swapped out to make room for the image land on the same
# disk, and count in what the host sees written there.
swap_used_kib() {
  awk '/^SwapTotal:/ { total = $2 } /^SwapFree:/ { free = $2 } END { print total - free }' /proc/meminfo
}

if [ "$HK_BOOT" = 1 ]; then
  hk_swap_on /dev/vda || { hk_error "mkswap/swapon /dev/vda failed"; exit 1; }
  node /hk/pkg/dist/vm/guest/scenarios/bench-data.js /tmp/bench "$HK_TEXTMB" "$HK_RANDOMMB" || { hk_error "writing the benchmark data failed"; exit 1; }
  # Both methods power off through ACPI S4, what hiberkit chooses where the platform offers it.
  echo platform > /sys/power/disk
  # The same starting point for every run: nothing dirty, no page cache left from the set-up.
  sync
  echo 3 > /proc/sys/vm/drop_caches
  hk_result "{\"phase\":\"before\",\"swapUsedKiB\":$(swap_used_kib)}"
  hk_stamp trigger
  case "$HK_METHOD" in
    kernel) echo disk > /sys/power/state ;;
    hiberkit) hiberkit hibernate --resume-device /dev/vda --compress "$HK_COMPRESS" --power-off platform ;;
    *) hk_error "unknown hk.method '$HK_METHOD'"; exit 1 ;;
  esac || { hk_error "$HK_METHOD hibernation failed"; exit 1; }
  # Running again: the boundary the host measures resume against.
  hk_stamp resumed
  hk_result "{\"phase\":\"after\",\"swapUsedKiB\":$(swap_used_kib),\"textBytes\":$(wc -c < /tmp/bench/text),\"randomBytes\":$(wc -c < /tmp/bench/random)}"
else
  hk_stamp resume-start
  case "$HK_METHOD" in
    kernel) echo 254:0 > /sys/power/resume ;;
    hiberkit)
      case "$HK_RESUMER" in
        native) hiberkit-resume --resume-device /dev/vda ;;
        node) hiberkit resume --resume-device /dev/vda ;;
        *) hk_error "unknown hk.resumer '$HK_RESUMER'"; exit 1 ;;
      esac ;;
  esac
  # Only reached when nothing was restored.
  hk_error "no image was resumed from /dev/vda by $HK_METHOD${HK_RESUMER:+ ($HK_RESUMER)}"
  exit 1
fi
