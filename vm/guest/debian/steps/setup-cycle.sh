# hiberkit installed on the Debian system with `hiberkit setup`, then hibernating and resuming
# through it, with no resume= on the kernel command line; later `setup --undo` and the kernel's
# own hibernation again. The resume area (hk.area=DEVICE, hk.area_page=PAGE: where its swap
# signature is) is the swap file on the root ext4, or a swap partition (/dev/vdb).
#
# Boot 1: the facts, `hiberkit setup --yes` (the initramfs regenerated), the state,
#   `systemctl hibernate` (through hiberkit). The next boot's initramfs (the host extracts it, as a
#   boot loader would read it) holds hiberkit-resume, which restores the session: boot 1's step
#   continues here, checks the state, the swap signature, the journal, and powers off.
# Boot 3 (no image): a normal boot through hiberkit's resume step; `hiberkit doctor`; logind allows
#   hibernation without resume=; then `hiberkit setup --undo --yes`, the state, and the kernel's
#   own `systemctl hibernate`. Boot 4 (the host adds resume= and resume_offset=, as the user of the
#   kernel's path had them) resumes it with Debian's own resume step; boot 3's step continues.
case $HK_BOOT in
1)
  debian_facts
  debian_initramfs before-setup
  debian_run setup hiberkit setup --yes || exit 1
  debian_initramfs after-setup
  debian_facts
  debian_cycle after-resume "$HK_AREA" "$HK_AREA_PAGE"
  ;;
3)
  debian_facts
  debian_swap_state no-image "$HK_AREA" "$HK_AREA_PAGE"
  debian_run doctor hiberkit doctor
  debian_run undo hiberkit setup --undo --yes || exit 1
  debian_initramfs after-undo
  debian_cycle after-kernel-resume "$HK_AREA" "$HK_AREA_PAGE"
  ;;
*)
  hk_error "boot $HK_BOOT started fresh: the hibernated session was not resumed"
  exit 1
  ;;
esac
