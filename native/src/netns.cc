#include "netns.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <sys/socket.h>
#include <unistd.h>

#include <functional>
#include <system_error>
#include <thread>

namespace ipvs_ts {

namespace {

std::string SocketDetail(int domain, int type, int protocol) {
  return std::to_string(domain) + ", " + std::to_string(type) + ", " + std::to_string(protocol);
}

}  // namespace

int CreateSocket(int domain, int type, int protocol, SysError* error) {
  int fd = socket(domain, type | SOCK_NONBLOCK | SOCK_CLOEXEC, protocol);
  if (fd < 0) {
    error->err = errno;
    error->syscall = "socket";
    error->detail = SocketDetail(domain, type, protocol);
  }
  return fd;
}

int RunInNetns(const std::string& netns_path, const std::function<int(SysError*)>& body,
               SysError* error) {
  int ns_fd;
  do {
    ns_fd = open(netns_path.c_str(), O_RDONLY | O_CLOEXEC);
  } while (ns_fd < 0 && errno == EINTR);
  if (ns_fd < 0) {
    error->err = errno;
    error->syscall = "open";
    error->detail = netns_path;
    error->path = netns_path;
    return -1;
  }

  int fd = -1;
  SysError thread_error;
  try {
    // The thread is created, switched into the namespace, and discarded. Only the
    // descriptor escapes it: sockets stay bound to the namespace they were created
    // in, and a /proc/sys/net file to the namespace it was opened in.
    std::thread worker([&]() {
      if (setns(ns_fd, CLONE_NEWNET) != 0) {
        thread_error.err = errno;
        thread_error.syscall = "setns";
        thread_error.detail = netns_path;
        thread_error.path = netns_path;
        return;
      }
      fd = body(&thread_error);
    });
    worker.join();
  } catch (const std::system_error& e) {
    thread_error.err = e.code().value() > 0 ? e.code().value() : EAGAIN;
    thread_error.syscall = "pthread_create";
    thread_error.detail.clear();
  }
  close(ns_fd);

  if (fd < 0) {
    *error = thread_error;
    if (error->err == 0) {  // defensive: never report success without a descriptor
      error->err = EIO;
      error->syscall = "setns";
    }
    return -1;
  }
  return fd;
}

int CreateSocketInNetns(const std::string& netns_path, int domain, int type, int protocol,
                        SysError* error) {
  return RunInNetns(
      netns_path, [&](SysError* e) { return CreateSocket(domain, type, protocol, e); }, error);
}

}  // namespace ipvs_ts
