#include "connector.h"

#include <errno.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <string>

#include "errors.h"
#include "netns.h"

namespace ipvs_ts {

namespace {

// A raw socket address argument: pointer and length, checked against sockaddr_storage.
bool GetAddress(Napi::Env env, const Napi::Value& value, const char* what, const sockaddr** address,
                socklen_t* length) {
  if (value.IsUndefined() || value.IsNull()) return false;
  if (!value.IsTypedArray() || value.As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array) {
    ThrowTypeError(env, std::string("The \"") + what + "\" argument must be a Uint8Array or Buffer");
  }
  Napi::Uint8Array array = value.As<Napi::Uint8Array>();
  if (array.ByteLength() < sizeof(sa_family_t) || array.ByteLength() > sizeof(sockaddr_storage)) {
    ThrowErrno(env, EINVAL, "connect", "", std::string(what) + " is not a socket address");
  }
  *address = reinterpret_cast<const sockaddr*>(array.Data());
  *length = static_cast<socklen_t>(array.ByteLength());
  return true;
}

}  // namespace

Napi::Function Connector::Define(Napi::Env env) {
  return DefineClass(env, "NativeConnector",
                     {
                         InstanceMethod<&Connector::Connect>("connect"),
                         InstanceMethod<&Connector::Cancel>("cancel"),
                         InstanceAccessor<&Connector::GetPending>("pending"),
                         InstanceMethod<&Connector::Close>("close"),
                     });
}

Connector::Connector(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Connector>(info) {
  Napi::Env env = info.Env();
  if (!info[0].IsTypedArray() || info[0].As<Napi::TypedArray>().TypedArrayType() != napi_int32_array ||
      info[0].As<Napi::Int32Array>().ElementLength() < 2) {
    ThrowTypeError(env, "The \"results\" argument must be an Int32Array of at least 2 elements");
  }
  if (!info[1].IsFunction()) ThrowTypeError(env, "The \"onResults\" argument must be a function");
  uv_loop_t* loop = nullptr;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok || loop == nullptr) {
    throw Napi::Error::New(env, "napi_get_uv_event_loop failed");
  }
  int epoll_fd = epoll_create1(EPOLL_CLOEXEC);
  if (epoll_fd < 0) ThrowErrno(env, errno, "epoll_create1");
  int r = 0;
  PollHandle* poll = PollHandle::Create(loop, epoll_fd, &r);
  if (poll == nullptr) {
    close(epoll_fd);
    ThrowErrno(env, -r, "uv_poll_init");
  }
  poll->handle.data = this;
  r = uv_poll_start(&poll->handle, UV_READABLE, OnPoll);
  if (r < 0) {
    poll->Close();  // before the descriptor it watches
    close(epoll_fd);
    ThrowErrno(env, -r, "uv_poll_start");
  }
  // Only pending connects keep the loop alive (as their sockets would).
  uv_unref(poll->AsHandle());
  epoll_fd_ = epoll_fd;
  poll_ = poll;
  results_ = Napi::Persistent(info[0].As<Napi::Int32Array>());
  on_results_ = Napi::Persistent(info[1].As<Napi::Function>());
  async_context_ = std::make_shared<Napi::AsyncContext>(env, "IpvsTsNativeConnector", Value());
  if (napi_add_async_cleanup_hook(env, OnEnvCleanup, this, &cleanup_hook_) != napi_ok) {
    cleanup_hook_ = nullptr;
  }
}

Connector::~Connector() { CloseInternal(false); }

// connect(id, address, source?, netns?): a SOCK_STREAM socket of the address's
// family (in `netns` when given), bound to `source` when given, connecting to
// `address` without blocking. Returns its descriptor; the outcome comes later as
// (id, 0 or errno) in the results array. A connect that fails at once (no route,
// source address not local) throws, and nothing is left open.
Napi::Value Connector::Connect(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsNumber()) ThrowTypeError(env, "The \"id\" argument must be a number");
  int64_t id = info[0].As<Napi::Number>().Int64Value();
  if (id < 0 || id > INT32_MAX) ThrowTypeError(env, "The \"id\" argument must be an int32 >= 0");
  const sockaddr* address = nullptr;
  socklen_t address_length = 0;
  if (!GetAddress(env, info[1], "address", &address, &address_length)) {
    ThrowTypeError(env, "The \"address\" argument must be a Uint8Array or Buffer");
  }
  const sockaddr* source = nullptr;
  socklen_t source_length = 0;
  GetAddress(env, info[2], "source", &source, &source_length);
  if (epoll_fd_ < 0) ThrowErrno(env, EBADF, "connect", "", "connector is closed");

  SysError error;
  int fd;
  int domain = address->sa_family;
  if (info.Length() > 3 && info[3].IsString()) {
    fd = CreateSocketInNetns(info[3].As<Napi::String>().Utf8Value(), domain, SOCK_STREAM, 0, &error);
  } else {
    fd = CreateSocket(domain, SOCK_STREAM, 0, &error);
  }
  if (fd < 0) throw ErrnoError(env, error);

  if (source != nullptr && bind(fd, source, source_length) != 0) {
    int err = errno;
    close(fd);
    ThrowErrno(env, err, "bind");
  }
  if (connect(fd, address, address_length) != 0 && errno != EINPROGRESS && errno != EINTR) {
    int err = errno;
    close(fd);
    ThrowErrno(env, err, "connect");
  }
  // Even a connect that completed at once is reported through epoll (writable at once).
  epoll_event event{};
  event.events = EPOLLOUT;
  event.data.fd = fd;
  if (epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &event) != 0) {
    int err = errno;
    close(fd);
    ThrowErrno(env, err, "epoll_ctl");
  }
  if (static_cast<size_t>(fd) >= id_by_fd_.size()) id_by_fd_.resize(static_cast<size_t>(fd) * 2 + 64, -1);
  id_by_fd_[fd] = id;
  if (pending_++ == 0) uv_ref(poll_->AsHandle());
  return Napi::Number::New(env, fd);
}

// cancel(fd): close a pending connect (its outcome is never reported). Returns
// false when `fd` is not a pending connect of this connector.
Napi::Value Connector::Cancel(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsNumber()) ThrowTypeError(env, "The \"fd\" argument must be a number");
  int fd = info[0].As<Napi::Number>().Int32Value();
  if (fd < 0 || static_cast<size_t>(fd) >= id_by_fd_.size() || id_by_fd_[fd] < 0) {
    return Napi::Boolean::New(env, false);
  }
  Release(fd);
  return Napi::Boolean::New(env, true);
}

Napi::Value Connector::GetPending(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), pending_);
}

void Connector::Close(const Napi::CallbackInfo&) { CloseInternal(false); }

void Connector::Release(int fd) {
  id_by_fd_[fd] = -1;
  close(fd);  // also takes it out of the epoll set (the only reference to the file)
  if (--pending_ == 0 && poll_ != nullptr) uv_unref(poll_->AsHandle());
}

void Connector::CloseInternal(bool from_cleanup_hook) {
  napi_async_cleanup_hook_handle hook = cleanup_hook_;
  cleanup_hook_ = nullptr;
  if (poll_ != nullptr) {
    PollHandle* poll = poll_;
    poll_ = nullptr;
    napi_async_cleanup_hook_handle finished = nullptr;
    if (from_cleanup_hook) {
      // Environment teardown waits until the handle is really closed.
      finished = hook;
      hook = nullptr;
    }
    poll->Close(finished);  // stops the watcher before the epoll descriptor is closed below
  }
  if (hook != nullptr) napi_remove_async_cleanup_hook(hook);
  for (size_t fd = 0; fd < id_by_fd_.size(); ++fd) {
    if (id_by_fd_[fd] >= 0) close(static_cast<int>(fd));
  }
  id_by_fd_.clear();
  pending_ = 0;
  if (epoll_fd_ >= 0) {
    close(epoll_fd_);
    epoll_fd_ = -1;
  }
  results_.Reset();
  on_results_.Reset();
  async_context_.reset();
}

void Connector::OnEnvCleanup(napi_async_cleanup_hook_handle hook, void* arg) {
  auto* self = static_cast<Connector*>(arg);
  if (self->cleanup_hook_ != hook) {
    napi_remove_async_cleanup_hook(hook);
    return;
  }
  self->CloseInternal(true);
}

void Connector::OnPoll(uv_poll_t* handle, int /*status*/, int /*events*/) {
  auto* self = static_cast<Connector*>(handle->data);
  if (self != nullptr) self->OnEvents();
}

// Reads completions in rounds of at most min(kMaxEvents, results/2): each round
// takes SO_ERROR of every ready socket and closes it before any JavaScript runs
// (so a descriptor number reused by a connect made in the callback is never
// confused with an old event), then hands the round to onResults(count).
void Connector::OnEvents() {
  Napi::Env env = Env();
  Napi::HandleScope scope(env);
  Napi::Object self = Value();  // keeps the wrapper alive if the callback closes it
  epoll_event events[kMaxEvents];
  for (;;) {
    if (epoll_fd_ < 0 || results_.IsEmpty()) return;
    Napi::Int32Array results = results_.Value();
    int32_t* out = results.Data();
    int capacity = static_cast<int>(std::min<size_t>(kMaxEvents, results.ElementLength() / 2));
    int n;
    do {
      n = epoll_wait(epoll_fd_, events, capacity, 0);
    } while (n < 0 && errno == EINTR);
    if (n <= 0) return;
    int count = 0;
    for (int i = 0; i < n; ++i) {
      int fd = events[i].data.fd;
      if (fd < 0 || static_cast<size_t>(fd) >= id_by_fd_.size() || id_by_fd_[fd] < 0) continue;
      int err = 0;
      socklen_t length = sizeof err;
      if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &length) != 0) err = errno;
      // Writable without a pending error means connected; hang-up without one cannot be a connection.
      if (err == 0 && (events[i].events & EPOLLOUT) == 0) err = ECONNRESET;
      out[2 * count] = static_cast<int32_t>(id_by_fd_[fd]);
      out[2 * count + 1] = err;
      ++count;
      Release(fd);
    }
    if (count > 0 && !on_results_.IsEmpty() && async_context_) {
      Napi::Function function = on_results_.Value();
      std::shared_ptr<Napi::AsyncContext> context = async_context_;
      try {
        function.MakeCallback(self, {Napi::Number::New(env, count)}, *context);
      } catch (const Napi::Error& error) {
        napi_fatal_exception(env, error.Value());
      }
    }
    if (n < capacity) return;
  }
}

}  // namespace ipvs_ts
