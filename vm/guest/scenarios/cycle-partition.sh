# A hiberkit CLI cycle on a swap partition, /dev/vda, with --resume-device on both sides.
#
# Boot 1: first `hiberkit resume` where there is nothing to resume (the fresh swap area, and no
# resume device named anywhere): both must return 0 about as fast as the CLI starts (timed with
# `hiberkit --help`), and the boot go on. Then swap on,
# the state (cycle-common.sh), and `hiberkit hibernate --power-off platform`; the machine powers off.
# Boot 2: `hiberkit resume --resume-device /dev/vda`; boot 1's session continues from inside
# `hiberkit hibernate` and reports the state again.
. /hk/lib.sh
. /hk/scenarios/cycle-common.sh

if [ "$HK_BOOT" != 1 ]; then
  cycle_resume --resume-device /dev/vda
  exit 1
fi

hk_quiet_console
mkswap /dev/vda > /dev/null || { hk_error "mkswap /dev/vda failed"; exit 1; }
# What starting the CLI costs here (node, every module), to judge "returns at once" by.
hk_stamp cli-start
hiberkit --help > /dev/null
hk_stamp cli-start-returned
for how in device none; do
  hk_stamp "no-image-$how"
  if [ "$how" = device ]; then hiberkit resume --resume-device /dev/vda; else hiberkit resume; fi
  status=$?
  hk_stamp "no-image-$how-returned"
  hk_result "{\"phase\":\"no-image\",\"how\":\"$how\",\"status\":$status,\"signature\":\"$(cycle_signature /dev/vda)\"}"
done

swapon /dev/vda || { hk_error "swapon /dev/vda failed"; exit 1; }
cycle_make_state
cycle_report_state before 1
cycle_hibernate 1 --resume-device /dev/vda --power-off platform
hk_kernel_log
