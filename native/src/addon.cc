// ipvs-ts native addon: a thin, protocol-agnostic socket bridge.
//
// Exports open(domain, type, protocol, netns?) → NativeSocket, openSocketFd(...) →
// descriptor, Connector (many non-blocking stream connects, see connector.h), and
// openFile (see socket.h, file.h and
// src/netlink/binding.ts). No protocol is parsed here.
#include <napi.h>

#include <string>

#include "connector.h"
#include "errors.h"
#include "file.h"
#include "netns.h"
#include "socket.h"

namespace ipvs_ts {

namespace {

int GetIntArg(const Napi::CallbackInfo& info, size_t index, const char* what) {
  if (!info[index].IsNumber()) {
    ThrowTypeError(info.Env(), std::string("The \"") + what + "\" argument must be a number");
  }
  return info[index].As<Napi::Number>().Int32Value();
}

// The descriptor of a new SOCK_NONBLOCK | SOCK_CLOEXEC socket from the
// arguments (domain, type, protocol, netns?), created inside the network
// namespace file `netns` when given; throws on failure.
int OpenFromArgs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int domain = GetIntArg(info, 0, "domain");
  int type = GetIntArg(info, 1, "type");
  int protocol = GetIntArg(info, 2, "protocol");

  SysError error;
  int fd;
  if (info.Length() > 3 && !info[3].IsUndefined() && !info[3].IsNull()) {
    if (!info[3].IsString()) ThrowTypeError(env, "The \"netns\" argument must be a string");
    fd = CreateSocketInNetns(info[3].As<Napi::String>().Utf8Value(), domain, type, protocol, &error);
  } else {
    fd = CreateSocket(domain, type, protocol, &error);
  }
  if (fd < 0) throw ErrnoError(env, error);
  return fd;
}

// open(domain, type, protocol, netns?): the socket, wrapped.
Napi::Value Open(const Napi::CallbackInfo& info) {
  return Socket::Wrap(info.Env(), OpenFromArgs(info));
}

// openSocketFd(domain, type, protocol, netns?): like open(), but returns the bare
// descriptor, owned by the caller (for handing a stream socket created in another
// network namespace to node:net, which can wrap a descriptor).
Napi::Value OpenSocketFd(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), OpenFromArgs(info));
}

}  // namespace

}  // namespace ipvs_ts

static Napi::Object InitAddon(Napi::Env env, Napi::Object exports) {
  ipvs_ts::Socket::Init(env);
  exports.Set("open", Napi::Function::New<ipvs_ts::Open>(env, "open"));
  exports.Set("openSocketFd", Napi::Function::New<ipvs_ts::OpenSocketFd>(env, "openSocketFd"));
  exports.Set("Connector", ipvs_ts::Connector::Define(env));
  exports.Set("openFile", Napi::Function::New<ipvs_ts::OpenFile>(env, "openFile"));
  return exports;
}

NODE_API_MODULE(ipvs_ts_native, InitAddon)
