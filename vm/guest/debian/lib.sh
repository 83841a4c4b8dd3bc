# Helpers of the Debian test VM's step scripts (vm/debian/boot.ts puts them after /hk/lib.sh's
# and cycle-common.sh's in every step script). The state a cycle must keep is cycle-common.sh's:
# a tmpfs file and the holder process.

# /dev/shm is a tmpfs on every Debian (/tmp is one only from Debian 13 on).
# shellcheck disable=SC2034 # cycle-common.sh's functions read it
CYCLE_DATA=/dev/shm/cycle-data
# Set by the sleep hook (sleep-hook.sh) when systemd-sleep, or hiberkit in its place, runs the
# `post` hooks: the machine is back from the hibernation.
SLEEP_POST_MARKER=/run/hk-sleep-post
# From `systemctl hibernate` to the machine powered off takes under a minute under TCG; the
# step reports a hibernation that never happened instead of waiting for ever.
HIBERNATE_WAIT_S=300

# debian_facts: what the system is: systemd's version, the kernel, the active swap areas,
# where the kernel would resume from, and logind's answer to CanHibernate.
debian_facts() {
  local systemd kernel swaps resume can
  systemd=$(systemctl --version | head -n 1 | cut -d' ' -f2)
  kernel=$(uname -r)
  swaps=$(swapon --noheadings --raw --show=NAME | tr '\n' ' ' | sed 's/ $//')
  resume="$(cat /sys/power/resume) $(cat /sys/power/resume_offset 2>/dev/null || echo none)"
  can=$(busctl call org.freedesktop.login1 /org/freedesktop/login1 org.freedesktop.login1.Manager CanHibernate | cut -d'"' -f2)
  hk_result "{\"phase\":\"facts\",\"systemd\":\"$systemd\",\"kernel\":\"$kernel\",\"swaps\":\"$swaps\",\"resume\":\"$resume\",\"canHibernate\":\"$can\"}"
}

# debian_hibernate CYCLE: `systemctl hibernate`, as a user would. It only queues the job with
# logind; the machine powers off a few seconds later and this step continues, in the boot that
# resumed it, when the `post` sleep hook has run. Then the state is reported (phase "after").
debian_hibernate() {
  local cycle=$1 status post waited=0
  rm -f "$SLEEP_POST_MARKER"
  hk_stamp "hibernate-$cycle"
  systemctl hibernate
  status=$?
  while [ "$status" = 0 ] && [ ! -e "$SLEEP_POST_MARKER" ] && [ "$waited" -lt "$HIBERNATE_WAIT_S" ]; do
    sleep 1
    waited=$((waited + 1))
  done
  hk_stamp "returned-$cycle"
  if [ -e "$SLEEP_POST_MARKER" ]; then post=true; else post=false; fi
  hk_result "{\"phase\":\"hibernate-returned\",\"cycle\":$cycle,\"status\":$status,\"postHook\":$post}"
  cycle_report_state after "$cycle"
}

# debian_initramfs: the running kernel's initramfs: its compressed size in bytes and whether
# hiberkit's resume step and its private key are in it (lsinitramfs for initramfs-tools,
# lsinitrd for dracut).
debian_initramfs() {
  local image size lister listing program key
  image=/boot/initrd.img-$(uname -r)
  size=$(stat -c %s "$image")
  if command -v lsinitramfs > /dev/null; then lister=lsinitramfs; else lister=lsinitrd; fi
  listing=$("$lister" "$image")
  program=$(printf '%s\n' "$listing" | grep -c 'hiberkit-resume$')
  key=$(printf '%s\n' "$listing" | grep -c 'etc/hiberkit/key$')
  hk_result "{\"phase\":\"initramfs\",\"label\":\"$1\",\"bytes\":$size,\"hiberkitResume\":$program,\"key\":$key}"
}

# debian_run NAME COMMAND...: runs the command with its output on the console and reports its
# exit status (phase "command").
debian_run() {
  local name=$1 status
  shift
  hk_stamp "$name"
  "$@"
  status=$?
  hk_result "{\"phase\":\"command\",\"name\":\"$name\",\"status\":$status}"
  return "$status"
}

# debian_swap_state NAME DEVICE PAGE: the 10-byte signature at page PAGE of DEVICE (what the
# kernel's and hiberkit's images replace and give back) and the active swap areas.
debian_swap_state() {
  local swaps
  swaps=$(swapon --noheadings --raw --show=NAME | tr '\n' ' ' | sed 's/ $//')
  hk_result "{\"phase\":\"swap\",\"name\":\"$1\",\"signature\":\"$(cycle_signature "$2" "$3")\",\"swaps\":\"$swaps\"}"
}

# debian_hibernated_by: whether systemd-hibernate.service's run in this boot was hiberkit's: how
# many lines of the service's journal are hiberkit's ("hiberkit: ..."; none when the kernel's own
# path ran). The journal is on the console too, for the log. journald was frozen with everything
# else: it may take a moment to catch up after the resume.
debian_hibernated_by() {
  local lines waited=0
  while :; do
    lines=$(journalctl --boot --unit=systemd-hibernate.service --output=cat | grep -c '^hiberkit: ')
    if [ "$lines" != 0 ] || [ "$waited" -ge 5 ]; then break; fi
    sleep 1
    waited=$((waited + 1))
  done
  journalctl --boot --unit=systemd-hibernate.service --output=short-monotonic --no-pager | tail -n 30
  hk_result "{\"phase\":\"hibernated-by\",\"hiberkitLines\":$lines}"
}

# debian_cycle NAME DEVICE PAGE: one hibernation cycle: the state, `systemctl hibernate`, and once
# resumed, who hibernated and the swap signature at page PAGE of DEVICE (swap report NAME).
debian_cycle() {
  cycle_make_state
  cycle_report_state before 1
  debian_hibernate 1
  debian_hibernated_by
  debian_swap_state "$1" "$2" "$3"
}
