# The kernel's own hibernation on the Debian system, no hiberkit involved: the baseline of the
# benchmark and the proof of the harness. The host boots both boots with
# `resume=/dev/vda resume_offset=N` (N: the swap file's first block), as a user of the kernel's
# path configures it; Debian's initramfs resume step restores the image in boot 2.
#
# Boot 1: the facts (the swap file is active, logind allows hibernation), the state,
# `systemctl hibernate`. Boot 2 never gets here when the resume works: boot 1's step continues.
if [ "$HK_BOOT" != 1 ]; then
  hk_error "boot $HK_BOOT started fresh: the kernel did not resume the image"
  exit 1
fi
debian_facts
cycle_make_state
cycle_report_state before 1
debian_hibernate 1
debian_facts
