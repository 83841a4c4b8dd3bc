# The smallest scenario: proves the VM boots, the disk and /dev/snapshot are there, node runs
# and finds the package at /hk/pkg. Used by the tooling's own test and to measure boot phases.
. /hk/lib.sh

hk_stamp scenario
node -e 'process.exit(0)'
hk_stamp node
snapshot=$(cat /sys/class/misc/snapshot/dev)
vda=$(cat /sys/block/vda/dev 2>/dev/null || echo none)
release=$(uname -r)
disk_modes=$(cat /sys/power/disk)
hk_result "{\"boot\":$HK_BOOT,\"snapshot\":\"$snapshot\",\"vda\":\"$vda\",\"release\":\"$release\",\"diskModes\":\"$disk_modes\"}"
node --input-type=module -e '
  const pkg = JSON.parse((await import("node:fs")).readFileSync("/hk/pkg/package.json", "utf8"));
  console.log(`HK:RESULT ${JSON.stringify({ package: pkg.name, node: process.version })}`);
'
hk_stamp done
