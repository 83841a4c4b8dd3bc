# Resume boots whose images must be refused: `hiberkit resume` on each device of hk.devices=
# (comma separated, e.g. /dev/vda,/dev/vdb), each holding a damaged, forged or replayed image
# that the host made. Each must fail with a message, put the swap signature back and leave a
# device swapon accepts; the boot goes on to the next one and ends normally. With hk.pass=, the
# passphrase (for encrypted images) is handed to every call. A device written DEV:public-key is
# resumed with the private key from the tar archive on hk.keys= (as cycle-encrypted.sh keeps it).
# The devices of hk.native= (comma separated) are resumed by hiberkit-resume instead.
. /hk/lib.sh
. /hk/scenarios/cycle-common.sh

KEYS_DIR=cycle-keys

set --
if [ -n "${HK_PASS:-}" ]; then
  cycle_passphrase_file
  set -- --passphrase-file "$CYCLE_PASS_FILE"
fi
if [ -n "${HK_KEYS:-}" ]; then
  tar -xf "$HK_KEYS" -C /run || { hk_error "no key pair on $HK_KEYS"; exit 1; }
fi
for entry in $(echo "$HK_DEVICES" | tr ',' ' '); do
  device=${entry%%:*}
  case ",${HK_NATIVE:-}," in
    *",$device,"*) CYCLE_RESUMER=hiberkit-resume ;;
    *) CYCLE_RESUMER="hiberkit resume" ;;
  esac
  case "$entry" in
    *:public-key) cycle_refused_resume "${device#/dev/}" "$device" "$@" --secret-key "/run/$KEYS_DIR/key" ;;
    *) cycle_refused_resume "${device#/dev/}" "$device" "$@" ;;
  esac
done
hk_stamp refused-done
