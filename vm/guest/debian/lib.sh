# Helpers of the Debian test VM's step scripts (vm/debian/boot.ts puts them after /hk/lib.sh's
# and cycle-common.sh's in every step script). The state a cycle must keep is cycle-common.sh's:
# a tmpfs file and the holder process.

# /dev/shm is a tmpfs on every Debian (/tmp is one only from Debian 13 on).
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
