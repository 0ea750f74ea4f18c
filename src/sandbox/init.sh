#!/bin/sh
# PID 1 of the user-mode-linux (uml) and qemu sandboxes. See docs/testing.md.
#
# src/sandbox/cli.mjs copies this file into a fresh control directory
# (/var/tmp/ipvs-ts-sandbox.XXXXXX) next to
#   guest.conf - generated: BACKEND, DESCRIPTION, MODULES_SRC, OUT_TTY, ERR_TTY
#   run.sh     - generated: exports the caller's environment, cd's, execs the command
#   expose     - host directories under /tmp to keep visible (one per line)
# and boots a kernel with the host's root filesystem mounted read-write as its
# root: `linux.uml ... init=<control dir>/init.sh` over hostfs, or qemu, whose
# initramfs (initramfs-init.sh) mounts it over virtio-9p and switch_roots here.
# Channels:
#   /dev/console -> host fd 1 (kernel/boot log; the sandbox keeps it for errors)
#   $OUT_TTY     -> host fd 3 (the command's stdout; uml ttyS0, qemu ttyS1)
#   $ERR_TTY     -> host fd 4 (the command's stderr; uml ttyS1, qemu ttyS2)
# This script writes <control dir>/kernel (uname -r) once the kernel is ready
# and <control dir>/rc (the command's exit code) at the end. The control dir is
# under /var/tmp because /tmp and /run become private tmpfs mounts in here.

CTL=${0%/*}
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
umask 022
BACKEND=uml DESCRIPTION=user-mode-linux MODULES_SRC=/usr/lib/uml/modules OUT_TTY=/dev/ttyS0 ERR_TTY=/dev/ttyS1
[ -r "$CTL/guest.conf" ] && . "$CTL/guest.conf"

halt_now() {
	sync
	poweroff -f 2>/dev/null
	halt -f -p 2>/dev/null
	echo o > /proc/sysrq-trigger 2>/dev/null
	sleep 1000000
}

fail() {
	echo "[sandbox:init] $*"
	echo "$*" > "$CTL/init-error"
	halt_now
}

mount -t proc proc /proc || fail "cannot mount /proc"
mount -t sysfs sysfs /sys || fail "cannot mount /sys"
dmesg -n 1 2>/dev/null

# Private /run and /tmp: otherwise `ip netns add` & co. write to the host's.
mount -t tmpfs -o mode=0755,nosuid,nodev run /run || fail "cannot mount tmpfs on /run"
mkdir -p /run/.ipvs-ts-host-tmp
mount --bind /tmp /run/.ipvs-ts-host-tmp || fail "cannot bind-mount the host's /tmp"
mount -t tmpfs -o mode=1777,nosuid,nodev tmp /tmp || fail "cannot mount tmpfs on /tmp"
# Keep host directories that live under /tmp (e.g. the project itself) visible.
if [ -s "$CTL/expose" ]; then
	while IFS= read -r dir; do
		[ -n "$dir" ] || continue
		mkdir -p "$dir"
		mount --bind "/run/.ipvs-ts-host-tmp/${dir#/tmp/}" "$dir" ||
			fail "cannot expose host directory $dir"
	done < "$CTL/expose"
fi
umount /run/.ipvs-ts-host-tmp && rmdir /run/.ipvs-ts-host-tmp

mkdir -p /dev/shm /dev/pts
mount -t tmpfs -o mode=1777,nosuid,nodev shm /dev/shm
mount -t devpts -o gid=5,mode=620,ptmxmode=666 devpts /dev/pts 2>/dev/null
[ -e /dev/ptmx ] || ln -s pts/ptmx /dev/ptmx

# The guest kernel's modules live in $MODULES_SRC/<release> (uml:
# /usr/lib/uml/modules; qemu: the unpacked kernel package in the cache);
# modprobe (and the kernel's own request_module) look in /lib/modules. Note:
# this creates an empty /lib/modules on the host if it does not exist there.
mkdir -p /lib/modules || fail "cannot create /lib/modules"
mount --bind "$MODULES_SRC" /lib/modules || fail "cannot bind-mount $MODULES_SRC on /lib/modules"

hostname ipvs-ts-sandbox 2>/dev/null
ip link set lo up || fail "cannot bring up lo"
command -v modprobe >/dev/null || fail "modprobe not found: install the Debian package kmod"
modprobe ip_vs || fail "modprobe ip_vs failed (is the module tree $MODULES_SRC/$(uname -r) intact?)"
[ -e /proc/net/ip_vs ] || fail "/proc/net/ip_vs is missing after modprobe ip_vs"

KERNEL=$(uname -r)
echo "$KERNEL" > "$CTL/kernel"

# Output channels: raw mode so "\n" is not turned into "\r\n".
stty -F "$OUT_TTY" raw -echo 2>/dev/null || fail "cannot configure $OUT_TTY (stdout channel)"
stty -F "$ERR_TTY" raw -echo 2>/dev/null || fail "cannot configure $ERR_TTY (stderr channel)"
exec 3>"$OUT_TTY" 4>"$ERR_TTY"

echo "[sandbox] backend=$BACKEND kernel=$KERNEL ($DESCRIPTION)" >&4

# The command gets pipes, not ttys, for stdout/stderr (like under CI).
mkfifo /run/.ipvs-ts-stdout /run/.ipvs-ts-stderr || fail "mkfifo failed"
cat /run/.ipvs-ts-stdout >&3 &
OUT_PID=$!
cat /run/.ipvs-ts-stderr >&4 &
ERR_PID=$!

sh "$CTL/run.sh" </dev/null >/run/.ipvs-ts-stdout 2>/run/.ipvs-ts-stderr 3>&- 4>&-
RC=$?

# Let the output drain; a leftover background process that keeps the pipes
# open must not hang the sandbox, so give up waiting after 10 s.
( sleep 10; kill $OUT_PID $ERR_PID 2>/dev/null ) >/dev/null 2>&1 &
KILLER=$!
wait $OUT_PID $ERR_PID
kill $KILLER 2>/dev/null

echo "$RC" > "$CTL/rc.tmp" && mv "$CTL/rc.tmp" "$CTL/rc"
# Closing the ttys waits for their output buffers to reach the host.
exec 3>&- 4>&-
halt_now
