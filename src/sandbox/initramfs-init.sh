#!/bin/sh
# /init of the qemu sandbox's initramfs (built by src/sandbox/qemu.mjs from
# busybox-static and the guest kernel's virtio/9p modules listed in
# /modules/load.list). Mounts the host's root filesystem over virtio-9p
# (mount tag hostroot) and switch_roots into <control dir>/init.sh, the same
# PID 1 as in user-mode-linux. Kernel parameters: ipvs_ts.ctl=<control dir>,
# ipvs_ts.9p_cache=<9p cache mode, default loose>, or ipvs_ts.probe=1 (print
# a marker and power off: the KVM probe).
export PATH=/bin
/bin/busybox --install -s /bin
mkdir -p /proc /sys /dev /newroot
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev

fail() {
	echo "[sandbox:init] $*"
	poweroff -f
	sleep 1000000
}

CTL= PROBE= CACHE=loose
for arg in $(cat /proc/cmdline); do
	case "$arg" in
	ipvs_ts.ctl=*) CTL=${arg#ipvs_ts.ctl=} ;;
	ipvs_ts.probe=1) PROBE=1 ;;
	ipvs_ts.9p_cache=*) CACHE=${arg#ipvs_ts.9p_cache=} ;;
	esac
done

for m in $(cat /modules/load.list); do
	insmod "/modules/$m" || fail "insmod $m failed"
done

if [ -n "$PROBE" ]; then
	echo "ipvs-ts-probe-ok $(uname -r)"
	poweroff -f
	sleep 1000000
fi

[ -n "$CTL" ] || fail "no ipvs_ts.ctl= on the kernel command line"
mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000,cache=$CACHE hostroot /newroot ||
	fail "cannot mount the host's root filesystem over virtio-9p"
[ -r "/newroot$CTL/init.sh" ] || fail "$CTL/init.sh is not visible over virtio-9p"
umount /proc /sys
mount --move /dev /newroot/dev || fail "cannot move /dev"
exec switch_root /newroot /bin/sh "$CTL/init.sh"
