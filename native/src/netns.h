// Socket creation, and running a descriptor-returning system call inside another
// network namespace.
#ifndef IPVS_TS_NATIVE_NETNS_H_
#define IPVS_TS_NATIVE_NETNS_H_

#include <functional>
#include <string>

#include "errors.h"

namespace ipvs_ts {

// socket(domain, type | SOCK_NONBLOCK | SOCK_CLOEXEC, protocol) in the calling
// thread's network namespace. Returns the fd, or -1 with *error filled in.
int CreateSocket(int domain, int type, int protocol, SysError* error);

// Run `body` on a short-lived std::thread that first calls setns(CLONE_NEWNET) into
// the namespace file `netns_path` (/run/netns/NAME, /proc/PID/ns/net, ...), and
// return what it returns: a descriptor, or -1 with the SysError it filled in. The
// namespace file is opened on the calling thread; the thread is joined before
// returning, so the calling thread never changes namespace.
int RunInNetns(const std::string& netns_path, const std::function<int(SysError*)>& body,
               SysError* error);

// Same as CreateSocket, but inside the network namespace named by `netns_path`
// (/run/netns/NAME, /proc/PID/ns/net, ...), through RunInNetns. The namespace file is opened on the calling thread; the
// setns(2) + socket(2) pair runs on a short-lived std::thread that is joined before
// returning, so the calling thread never changes namespace. A socket keeps the
// namespace it was created in for its whole life.
int CreateSocketInNetns(const std::string& netns_path, int domain, int type, int protocol,
                        SysError* error);

}  // namespace ipvs_ts

#endif  // IPVS_TS_NATIVE_NETNS_H_
