# The /dev/snapshot conformance cases against the real kernel (guest/conformance-runner.ts):
# swap on the first disk, then the runner as root under node --single-threaded.
. /hk/lib.sh

# Cases freeze and snapshot the machine many times; the kernel's messages about it would cut
# through the HK:CASE lines. They are printed whole at the end instead.
hk_quiet_console
hk_swap_on /dev/vda || { hk_error "mkswap/swapon /dev/vda failed"; exit 1; }
hk_stamp conformance
node --single-threaded /hk/pkg/dist/vm/guest/conformance-runner.js
status=$?
hk_stamp conformance-end
hk_kernel_log
exit $status
