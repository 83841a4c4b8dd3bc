# Encrypted hiberkit CLI cycles on a swap partition, /dev/vda. The passphrase is hk.pass=; the
# role of a resume boot is hk.role=.
#
# Boot 1: the state, then `hiberkit hibernate --encrypt passphrase --passphrase-file F`.
# Resume boots of that image:
#   role=wrong       a wrong passphrase with --on-bad-passphrase keep: refused, the image stays
#                    (swapon refuses the area), the boot ends normally;
#   role=passphrase  the right passphrase: boot 1's session continues, reports the state, makes a
#                    key pair (`hiberkit keygen`, its private key sealed with the same passphrase),
#                    keeps it on /dev/vdb as a tar archive (the part a real machine keeps in its
#                    initramfs), and hibernates with --encrypt public-key;
#   role=public-key  takes the key pair from /dev/vdb and resumes with --secret-key, through
#                    hiberkit-resume (the native program an initramfs runs).
. /hk/lib.sh
. /hk/scenarios/cycle-common.sh

KEYS_DIR=cycle-keys

case "$HK_BOOT:${HK_ROLE:-}" in
  1:*) ;;
  *:wrong)
    printf 'not the passphrase\n' > /run/cycle-wrong-pass
    cycle_refused_resume wrong-passphrase /dev/vda --passphrase-file /run/cycle-wrong-pass --on-bad-passphrase keep
    exit 0
    ;;
  *:passphrase)
    cycle_passphrase_file
    cycle_resume --resume-device /dev/vda --passphrase-file "$CYCLE_PASS_FILE"
    exit 1
    ;;
  *:public-key)
    tar -xf /dev/vdb -C /run || { hk_error "no key pair on /dev/vdb"; exit 1; }
    cycle_passphrase_file
    cycle_resume_native --resume-device /dev/vda --secret-key "/run/$KEYS_DIR/key" --passphrase-file "$CYCLE_PASS_FILE"
    exit 1
    ;;
  *)
    hk_error "unknown role '${HK_ROLE:-}' for boot $HK_BOOT"
    exit 2
    ;;
esac

hk_quiet_console
hk_swap_on /dev/vda || { hk_error "mkswap/swapon /dev/vda failed"; exit 1; }
cycle_passphrase_file
cycle_make_state
cycle_report_state before 1
cycle_hibernate 1 --resume-device /dev/vda --encrypt passphrase --passphrase-file "$CYCLE_PASS_FILE"

hk_stamp keygen
hiberkit keygen --out "/tmp/$KEYS_DIR" --passphrase-file "$CYCLE_PASS_FILE" || { hk_error "hiberkit keygen failed"; exit 1; }
tar -cf /dev/vdb -C /tmp "$KEYS_DIR" && sync || { hk_error "could not keep the key pair on /dev/vdb"; exit 1; }
cycle_hibernate 2 --resume-device /dev/vda --encrypt public-key --public-key "/tmp/$KEYS_DIR/key.pub"
hk_kernel_log
