/*
 * Test program for src/sandbox/xstate-fix.c (test/unit/sandbox/xstate-fix.test.ts).
 * It traces a child of its own and does to it what user-mode-linux does on a
 * host whose xstate is larger than UML's buffer: a PTRACE_SETREGSET of
 * NT_X86_XSTATE shorter than the host's size. It prints one line of
 * key=value results:
 *   full=<bytes>        the host's xstate size (a GETREGSET with 64 KiB)
 *   short_set=<0|errno> the short SET (576 bytes: legacy area + header)
 *   xmm0=<ok|lost>      whether the XMM0 value written in the short SET is in
 *                       the tracee's state afterwards
 *   tail=<same|changed> whether the bytes past 576 (AVX and later) are as
 *                       they were before the SET
 *   peek=<ok|bad>       PTRACE_PEEKDATA through the C library's variadic
 *                       ptrace() (its return-value convention)
 * Layout facts (Intel SDM vol. 1, 13.4): the legacy FXSAVE area is 512 bytes,
 * XMM0 at offset 160; the XSAVE header is the next 64 bytes.
 */
#define _GNU_SOURCE
#include <elf.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef NT_X86_XSTATE
#define NT_X86_XSTATE 0x202
#endif
#define BIG (64 * 1024)
#define SHORT_LEN 576
#define XMM0 160

static volatile long marker = 0x1badc0ffee0ddf00L;

int main(void)
{
	pid_t pid = fork();
	if (pid == 0) {
		ptrace(PTRACE_TRACEME, 0, NULL, NULL);
		raise(SIGSTOP);
		_exit(0);
	}
	int status;
	waitpid(pid, &status, 0);

	static unsigned char before[BIG], after[BIG], mine[BIG];
	struct iovec iov = { before, BIG };
	if (ptrace(PTRACE_GETREGSET, pid, (void *)NT_X86_XSTATE, &iov) != 0) {
		printf("getregset=%d\n", errno);
		return 2;
	}
	size_t full = iov.iov_len;

	memcpy(mine, before, SHORT_LEN);
	for (int i = 0; i < 16; i++)
		mine[XMM0 + i] = (unsigned char)(0xa0 + i);
	struct iovec shorter = { mine, SHORT_LEN };
	errno = 0;
	long r = ptrace(PTRACE_SETREGSET, pid, (void *)NT_X86_XSTATE, &shorter);
	int set_errno = r == 0 ? 0 : errno;

	struct iovec back = { after, BIG };
	ptrace(PTRACE_GETREGSET, pid, (void *)NT_X86_XSTATE, &back);
	int xmm0_ok = memcmp(after + XMM0, mine + XMM0, 16) == 0;
	int tail_same = back.iov_len == full && memcmp(after + SHORT_LEN, before + SHORT_LEN, full - SHORT_LEN) == 0;

	errno = 0;
	long word = ptrace(PTRACE_PEEKDATA, pid, (void *)&marker, NULL);
	int peek_ok = errno == 0 && word == marker;

	printf("full=%zu short_set=%d xmm0=%s tail=%s peek=%s\n", full, set_errno, xmm0_ok ? "ok" : "lost",
	       tail_same ? "same" : "changed", peek_ok ? "ok" : "bad");
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	return 0;
}
