/*
 * LD_PRELOAD library for user-mode-linux (linux.uml) on hosts whose xstate
 * (the XSAVE area: FPU, SSE, AVX, ... and AMX tile data) is larger than the
 * buffer UML uses. See docs/testing.md, "AMX hosts".
 *
 * UML saves and restores the FP state of its processes with
 * ptrace(PTRACE_GETREGSET/PTRACE_SETREGSET, pid, NT_X86_XSTATE, &iov), with
 * iov_len sized for its own xstate struct. The host kernel truncates a short
 * GET silently but refuses a SET whose length is not the full host xstate size
 * with EFAULT, and UML then panics ("ptrace set fp regs failed, errno = 14").
 *
 * This library interposes ptrace(). For PTRACE_SETREGSET of NT_X86_XSTATE with
 * a length shorter than the host's, it reads the tracee's full state, overlays
 * the bytes it was given and writes the full length. Everything else goes to
 * the C library's ptrace() unchanged (it handles PTRACE_PEEK* return values).
 *
 * Environment (read once):
 *   IPVS_TS_XSTATE_FIX_ALWAYS=1   take the read-overlay-write path for every
 *                                 NT_X86_XSTATE SET, also a full-length or
 *                                 longer one (whose first host-size bytes
 *                                 are what the kernel would use anyway): shows
 *                                 the path is harmless on hosts without AMX
 *   IPVS_TS_XSTATE_FIX_LOG=<file> append one line per path taken the first
 *                                 time, and the counts at exit
 *
 * Built by src/sandbox/xstate-fix.mjs: cc -shared -fPIC -O2 -o x.so x.c -ldl
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

/* From the Linux UAPI (include/uapi/linux/elf.h): the x86 extended state note. */
#ifndef NT_X86_XSTATE
#define NT_X86_XSTATE 0x202
#endif
/* Larger than any x86 XSAVE area so far (AMX: about 11 KiB). */
#define PROBE_LEN (64 * 1024)

typedef long (*ptrace_fn)(int, pid_t, void *, void *);

static ptrace_fn real_ptrace;
static size_t host_len;       /* full xstate size, learnt from a GETREGSET */
static int always = -1;       /* IPVS_TS_XSTATE_FIX_ALWAYS */
static unsigned long n_padded, n_overlaid_full, n_passed;
static int logged_padded, logged_full;

static void note(const char *fmt, ...)
{
	const char *path = getenv("IPVS_TS_XSTATE_FIX_LOG");
	if (path == NULL || *path == '\0')
		return;
	FILE *f = fopen(path, "a");
	if (f == NULL)
		return;
	va_list ap;
	va_start(ap, fmt);
	fprintf(f, "xstate-fix[%d]: ", (int)getpid());
	vfprintf(f, fmt, ap);
	fputc('\n', f);
	va_end(ap);
	fclose(f);
}

static void report(void)
{
	if (n_padded || n_overlaid_full || n_passed)
		note("exit: %lu short SETs padded, %lu full SETs overlaid, %lu passed through, host xstate %zu bytes",
		     n_padded, n_overlaid_full, n_passed, host_len);
}

static void init_once(void)
{
	if (real_ptrace != NULL)
		return;
	real_ptrace = (ptrace_fn)dlsym(RTLD_NEXT, "ptrace");
	const char *a = getenv("IPVS_TS_XSTATE_FIX_ALWAYS");
	always = a != NULL && strcmp(a, "1") == 0;
	atexit(report);
}

/* Full host xstate size: the kernel truncates iov_len of a GET to it. */
static size_t learn_host_len(pid_t pid, void *buf)
{
	struct iovec probe = { buf, PROBE_LEN };
	if (real_ptrace(PTRACE_GETREGSET, pid, (void *)(long)NT_X86_XSTATE, &probe) != 0)
		return 0;
	return probe.iov_len;
}

static long set_xstate(pid_t pid, void *addr, struct iovec *iov)
{
	static __thread char *buf;
	int saved = errno;
	if (buf == NULL && (buf = malloc(PROBE_LEN)) == NULL)
		return real_ptrace(PTRACE_SETREGSET, pid, addr, iov);
	int have_state = 0;
	if (host_len == 0) {
		host_len = learn_host_len(pid, buf);
		have_state = host_len != 0;
	}
	if (host_len == 0 || (iov->iov_len >= host_len && !always)) {
		/* Nothing to fix (or we cannot tell): the kernel decides. */
		errno = saved;
		if (!n_passed++)
			note("passed a %zu-byte NT_X86_XSTATE SET through (host xstate %zu bytes)",
			     iov->iov_len, host_len);
		return real_ptrace(PTRACE_SETREGSET, pid, addr, iov);
	}
	size_t full = host_len;
	if (!have_state && learn_host_len(pid, buf) != full) {
		errno = saved;
		n_passed++;
		return real_ptrace(PTRACE_SETREGSET, pid, addr, iov);
	}
	/* A longer SET is cut to the host's size by the kernel; do the same. */
	size_t given = iov->iov_len < full ? iov->iov_len : full;
	memcpy(buf, iov->iov_base, given);
	struct iovec whole = { buf, full };
	long r = real_ptrace(PTRACE_SETREGSET, pid, addr, &whole);
	int err = errno;
	if (iov->iov_len < full) {
		n_padded++;
		if (!logged_padded++)
			note("padded a %zu-byte NT_X86_XSTATE SET to the host's %zu bytes: %s",
			     iov->iov_len, full, r == 0 ? "ok" : strerror(err));
	} else {
		n_overlaid_full++;
		if (!logged_full++)
			note("overlaid a %zu-byte NT_X86_XSTATE SET on the host's %zu bytes (IPVS_TS_XSTATE_FIX_ALWAYS=1): %s",
			     iov->iov_len, full, r == 0 ? "ok" : strerror(err));
	}
	errno = r == 0 ? saved : err;
	return r;
}

long ptrace(enum __ptrace_request request, ...)
{
	va_list ap;
	va_start(ap, request);
	pid_t pid = va_arg(ap, pid_t);
	void *addr = va_arg(ap, void *);
	void *data = va_arg(ap, void *);
	va_end(ap);

	init_once();
	if (real_ptrace == NULL) {
		errno = ENOSYS;
		return -1;
	}
	if ((int)request == PTRACE_SETREGSET && (long)addr == NT_X86_XSTATE && data != NULL)
		return set_xstate(pid, addr, (struct iovec *)data);
	return real_ptrace((int)request, pid, addr, data);
}
