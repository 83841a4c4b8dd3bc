# Shell helpers for guest scenarios (sourced by /init, and by scenarios: `. /hk/lib.sh`).
# They print the console protocol of protocol.ts; node scenarios use report.ts instead.

# hk_export_cmdline_words: every hk.NAME=value word of the kernel command line as HK_NAME
# (hk.boot=2 -> HK_BOOT=2; HK_BOOT is 1 when absent). The kernel keeps dotted words out of
# init's environment, so /init (and the Debian VM's step script) export them themselves.
hk_export_cmdline_words() {
  local word name
  for word in $(cat /proc/cmdline); do
    case "$word" in
      hk.*=*)
        name=${word%%=*}
        name=$(echo "${name#hk.}" | tr 'a-z.-' 'A-Z__')
        export "HK_$name=${word#*=}"
        ;;
    esac
  done
  export HK_BOOT="${HK_BOOT:-1}"
}

# hk_stamp NAME: a phase boundary with the guest's uptime in seconds.
hk_stamp() {
  echo "HK:STAMP $1 $(cut -d' ' -f1 /proc/uptime)"
}

# hk_result JSON: free-form facts or measurements for the host.
hk_result() {
  echo "HK:RESULT $1"
}

# hk_error TEXT: something the scenario could not do; the host shows it in the failure.
hk_error() {
  echo "HK:ERROR $*"
}

# hk_swap_on DEVICE: a fresh swap area on DEVICE, enabled (util-linux mkswap/swapon).
hk_swap_on() {
  mkswap "$1" >/dev/null && swapon "$1"
}

# hk_quiet_console: only warnings and worse from the kernel on the console from now on.
# The kernel writes its messages to the serial port directly and can split a protocol line
# in two; scenarios that print many HK: lines while the kernel is chatty (freeze, snapshot)
# call this first and print the full kernel log with hk_kernel_log at the end.
hk_quiet_console() {
  echo 4 > /proc/sys/kernel/printk
}

# hk_kernel_log: the kernel's message buffer, for the log file (not parsed by the host).
hk_kernel_log() {
  echo "----- kernel log -----"
  dmesg
  echo "----- end of kernel log -----"
}
