# hiberkit with public-key encryption (`hiberkit keygen`) on a swap partition (/dev/vdb1, a GPT
# partition the host made), set up with `hiberkit setup --yes`; the passphrase of the private key
# is typed on the serial console when the initramfs resumes (by the host: hk.pass=PASSPHRASE).
#
# Boot 1: the swap file gives way to the partition (mkswap, fstab by PARTUUID, as an installer
#   would have set it up), keygen, setup, the state, `systemctl hibernate`. Boot 2's initramfs
#   asks for the passphrase, restores the session, and boot 1's step continues here.
if [ "$HK_BOOT" != 1 ]; then
  hk_error "boot $HK_BOOT started fresh: the hibernated session was not resumed"
  exit 1
fi
partition=/dev/vdb1
mkswap "$partition" > /dev/null || { hk_error "mkswap $partition failed"; exit 1; }
partuuid=$(blkid --match-tag PARTUUID --output value "$partition")
swapoff /swapfile
sed -i "s|^/swapfile .*|PARTUUID=$partuuid none swap sw 0 0|" /etc/fstab
swapon "$partition" || { hk_error "swapon $partition failed"; exit 1; }
printf '%s\n' "$HK_PASS" > "$CYCLE_PASS_FILE"
# The key is sealed at a lower scrypt cost than the default 2^18, which takes half a minute for
# each try under emulation; the file records its cost and hiberkit-resume opens it as it says.
debian_run keygen env HIBERKIT_TEST_SCRYPT_LOG_N=14 hiberkit keygen --passphrase-file "$CYCLE_PASS_FILE" || exit 1
rm -f "$CYCLE_PASS_FILE"
debian_run setup hiberkit setup --yes || exit 1
debian_initramfs after-setup
debian_facts
debian_cycle after-resume "$partition" 0
