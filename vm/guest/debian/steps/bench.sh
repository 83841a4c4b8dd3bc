# The benchmark's real-system cycle (bench/debian.ts, `npm run bench`): the kernel's own
# hibernation against hiberkit's on the Debian system, the same workload for both.
#   hk.bench=setup   (the hiberkit disk, once) `hiberkit setup --yes`, with the compressed size
#                    of the running kernel's initramfs before (Debian's own) and after it;
#   hk.bench=cycle   the workload, then `systemctl hibernate` (the kernel's path with resume= on
#                    the command line, hiberkit's after setup). The boot that resumes continues
#                    here: once the `post` sleep hook has run, the state is reported and the
#                    machine powers off. A boot 2 that gets here started fresh: nothing resumed.
# The workload: cycle-common.sh's state (random data in a tmpfs, a process holding a value in
# memory only) and BENCH_TEXT_MB of text-like data in a tmpfs, which both methods compress.
BENCH_TEXT=/dev/shm/bench-text
BENCH_TEXT_MB=64

case "$HK_BENCH" in
setup)
  debian_initramfs without-hiberkit
  debian_run setup hiberkit setup --yes || exit 1
  debian_initramfs with-hiberkit
  ;;
cycle)
  if [ "$HK_BOOT" != 1 ]; then
    hk_error "boot $HK_BOOT started fresh: the hibernated session was not resumed"
    exit 1
  fi
  seq 1 100000000 | head -c "${BENCH_TEXT_MB}M" > "$BENCH_TEXT"
  cycle_make_state
  cycle_report_state before 1
  sync
  debian_hibernate 1
  ;;
*)
  hk_error "unknown hk.bench '$HK_BENCH' (setup or cycle)"
  exit 1
  ;;
esac
