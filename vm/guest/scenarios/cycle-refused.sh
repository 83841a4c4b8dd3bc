# Resume boots whose images must be refused: `hiberkit resume` on each device of hk.devices=
# (comma separated, e.g. /dev/vda,/dev/vdb), each holding a damaged copy of a hibernated image
# that the host made. Each must fail with a message, put the swap signature back and leave a
# device swapon accepts; the boot goes on to the next one and ends normally. With hk.pass=, the
# passphrase (for encrypted images) is handed to every call.
. /hk/lib.sh
. /hk/scenarios/cycle-common.sh

set --
if [ -n "${HK_PASS:-}" ]; then
  cycle_passphrase_file
  set -- --passphrase-file "$CYCLE_PASS_FILE"
fi
for device in $(echo "$HK_DEVICES" | tr ',' ' '); do
  cycle_refused_resume "${device#/dev/}" "$device" "$@"
done
hk_stamp refused-done
