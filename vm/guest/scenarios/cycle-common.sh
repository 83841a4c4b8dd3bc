# Shared by the cycle-* scenarios (sourced after /hk/lib.sh): the state a hibernation must
# keep, the hiberkit CLI calls, and what a refused resume must leave behind. Every fact goes to
# the host as an HK:RESULT line with a "phase"; test/vm/cycle-support.ts reads them.
#
# The state a cycle must keep, checked before and after every cycle:
#   - a file of random data in a tmpfs (/tmp), by its SHA-256;
#   - a separate long-running process (the "holder", a busybox sh) that drew a random value and
#     keeps it in a shell variable only: nothing on any disk or filesystem knows it. It answers
#     through a FIFO with the value and how many questions it has answered, so getting the same
#     value with the next count after a resume proves that very process survived, memory and all.

CYCLE_DATA=/tmp/cycle-data
# Random, so it cannot be compressed away: it reaches the image (or swap) as it is.
CYCLE_DATA_MB=16
HOLDER_ASK=/tmp/cycle-holder-ask
HOLDER_ANSWER=/tmp/cycle-holder-answer
# The passphrases of the encrypted scenarios come from the kernel command line (hk.pass=...).
CYCLE_PASS_FILE=/run/cycle-pass
# What cycle_refused_resume runs: `hiberkit resume`, or hiberkit-resume (the native program).
CYCLE_RESUMER="hiberkit resume"

# cycle_make_state: the data file and the holder process.
cycle_make_state() {
  dd if=/dev/urandom of="$CYCLE_DATA" bs=1M count="$CYCLE_DATA_MB" 2>/dev/null
  mkfifo "$HOLDER_ASK" "$HOLDER_ANSWER"
  # `read < FIFO` reopens the FIFO for each question: it waits for the next asker.
  sh -c '
    value=$(head -c 16 /dev/urandom | md5sum | cut -c1-16)
    answered=0
    while read -r _ < "$1"; do
      answered=$((answered + 1))
      echo "$value $answered" > "$2"
    done' holder "$HOLDER_ASK" "$HOLDER_ANSWER" &
}

# cycle_ask_holder: the holder's "VALUE COUNT" answer, or "none" if it does not answer in 10 s.
cycle_ask_holder() {
  timeout 10 sh -c 'echo ask > "$1" && cat "$2"' ask "$HOLDER_ASK" "$HOLDER_ANSWER" 2>/dev/null || echo none
}

# cycle_report_state PHASE CYCLE: the state now (phase "before" or "after").
cycle_report_state() {
  local sha
  sha=$(sha256sum < "$CYCLE_DATA" | cut -d' ' -f1)
  hk_result "{\"phase\":\"$1\",\"cycle\":$2,\"sha256\":\"$sha\",\"holder\":\"$(cycle_ask_holder)\"}"
}

# cycle_hibernate CYCLE ARGS...: `hiberkit hibernate ARGS`, its output straight on the console
# (the critical section prints its progress there while everything else is frozen). The machine
# powers off inside the call; the call returns in the boot that resumes it, where its exit
# status and the state are reported.
cycle_hibernate() {
  local cycle=$1 status
  shift
  hk_stamp "hibernate-$cycle"
  hiberkit hibernate "$@"
  status=$?
  hk_stamp "returned-$cycle"
  hk_result "{\"phase\":\"hibernate-returned\",\"cycle\":$cycle,\"status\":$status}"
  cycle_report_state after "$cycle"
}

# cycle_resume ARGS...: `hiberkit resume ARGS` in a boot meant to resume an image. Success never
# returns here: the hibernated session continues instead. Returning is the failure reported.
cycle_resume() {
  cycle_resume_with hiberkit resume "$@"
}

# cycle_resume_native ARGS...: the same with hiberkit-resume, the native program of an initramfs.
cycle_resume_native() {
  cycle_resume_with hiberkit-resume "$@"
}

cycle_resume_with() {
  local status
  hk_stamp resume-start
  "$@"
  status=$?
  hk_result "{\"phase\":\"resume-returned\",\"status\":$status}"
  hk_error "$* returned ($status): no image was restored"
  return 1
}

# cycle_signature DEVICE [PAGE]: the 10-byte signature at the end of page PAGE (default 0).
cycle_signature() {
  dd if="$1" bs=4096 skip="${2:-0}" count=1 2>/dev/null | tail -c 10 | tr -d '\000'
}

# cycle_refused_resume NAME DEVICE ARGS...: `$CYCLE_RESUMER --resume-device DEVICE ARGS` where
# the image must be refused; then what the device looks like, and whether swapon takes it.
cycle_refused_resume() {
  local name=$1 device=$2 status signature swapon
  shift 2
  hk_stamp "resume-$name"
  $CYCLE_RESUMER --resume-device "$device" "$@"
  status=$?
  hk_stamp "returned-$name"
  signature=$(cycle_signature "$device")
  if swapon "$device"; then
    swapon=true
    swapoff "$device"
  else
    swapon=false
  fi
  hk_result "{\"phase\":\"refused\",\"name\":\"$name\",\"device\":\"$device\",\"status\":$status,\"signature\":\"$signature\",\"swapon\":$swapon}"
}

# cycle_passphrase_file: the passphrase of hk.pass= in CYCLE_PASS_FILE (hiberkit reads it from there).
cycle_passphrase_file() {
  printf '%s\n' "$HK_PASS" > "$CYCLE_PASS_FILE"
}
