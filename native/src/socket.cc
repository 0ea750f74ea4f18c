#include "socket.h"

#include <errno.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <string>

#include "errors.h"

namespace ipvs_ts {

namespace {

struct Bytes {
  const uint8_t* data;
  size_t length;
};

// Uint8Array (Buffer is one) → pointer/length view; anything else is a TypeError.
Bytes GetBytes(Napi::Env env, const Napi::Value& value, const char* what) {
  if (!value.IsTypedArray() || value.As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array) {
    ThrowTypeError(env, std::string("The \"") + what + "\" argument must be a Uint8Array or Buffer");
  }
  Napi::Uint8Array array = value.As<Napi::Uint8Array>();
  return Bytes{array.Data(), array.ByteLength()};
}

int GetInt(Napi::Env env, const Napi::Value& value, const char* what) {
  if (!value.IsNumber()) {
    ThrowTypeError(env, std::string("The \"") + what + "\" argument must be a number");
  }
  return value.As<Napi::Number>().Int32Value();
}

// Socket addresses never exceed sockaddr_storage; the kernel says EINVAL for longer ones.
socklen_t AddressLength(Napi::Env env, const Bytes& address, const char* syscall) {
  if (address.length > sizeof(sockaddr_storage)) {
    ThrowErrno(env, EINVAL, syscall, "", "address is longer than sockaddr_storage");
  }
  return static_cast<socklen_t>(address.length);
}

}  // namespace

void Socket::Init(Napi::Env env) {
  Napi::Function ctor = DefineClass(
      env, "NativeSocket",
      {
          InstanceAccessor<&Socket::GetFd>("fd"),
          InstanceMethod<&Socket::Bind>("bind"),
          InstanceMethod<&Socket::GetSockName>("getsockname"),
          InstanceMethod<&Socket::SetSockOpt>("setsockopt"),
          InstanceMethod<&Socket::Send>("send"),
          InstanceMethod<&Socket::Receive>("receive"),
          InstanceMethod<&Socket::ReceiveInto>("receiveInto"),
          InstanceMethod<&Socket::Start>("start"),
          InstanceMethod<&Socket::JsRef>("ref"),
          InstanceMethod<&Socket::JsUnref>("unref"),
          InstanceMethod<&Socket::Close>("close"),
      });
  // Per-environment (main thread, each worker): deleted by node-addon-api at env teardown.
  env.SetInstanceData<Napi::FunctionReference>(new Napi::FunctionReference(Napi::Persistent(ctor)));
}

Napi::Object Socket::Wrap(Napi::Env env, int fd) {
  Napi::Object object;
  try {
    object = env.GetInstanceData<Napi::FunctionReference>()->New({});
  } catch (...) {
    close(fd);
    throw;
  }
  Socket::Unwrap(object)->fd_ = fd;
  return object;
}

// Instances are only made by Wrap() (the class itself is not exported); a bare
// instance has fd -1 and behaves like a closed socket.
Socket::Socket(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Socket>(info) {}

Socket::~Socket() {
  // Reached when the wrapper is garbage-collected (never started, or closed) or when
  // the environment is torn down. The JS reference is going away anyway.
  self_ref_ = false;
  CloseInternal(false);
}

void Socket::CheckOpen(Napi::Env env, const char* syscall) const {
  if (fd_ < 0) ThrowErrno(env, EBADF, syscall, "", "socket is closed");
}

Napi::Value Socket::GetFd(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), fd_);
}

void Socket::Bind(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Bytes address = GetBytes(env, info[0], "address");
  socklen_t length = AddressLength(env, address, "bind");
  CheckOpen(env, "bind");
  if (bind(fd_, reinterpret_cast<const sockaddr*>(address.data), length) != 0) {
    ThrowErrno(env, errno, "bind");
  }
}

Napi::Value Socket::GetSockName(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  CheckOpen(env, "getsockname");
  sockaddr_storage address;
  std::memset(&address, 0, sizeof address);
  socklen_t length = sizeof address;
  if (getsockname(fd_, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
    ThrowErrno(env, errno, "getsockname");
  }
  return Napi::Buffer<uint8_t>::Copy(env, reinterpret_cast<const uint8_t*>(&address),
                                     std::min<size_t>(length, sizeof address));
}

void Socket::SetSockOpt(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int level = GetInt(env, info[0], "level");
  int name = GetInt(env, info[1], "name");
  int int_value = 0;
  const void* value;
  socklen_t length;
  if (info[2].IsNumber()) {
    int_value = info[2].As<Napi::Number>().Int32Value();
    value = &int_value;
    length = sizeof int_value;
  } else {
    Bytes bytes = GetBytes(env, info[2], "value");
    value = bytes.data;
    length = static_cast<socklen_t>(bytes.length);
  }
  CheckOpen(env, "setsockopt");
  if (setsockopt(fd_, level, name, value, length) != 0) {
    ThrowErrno(env, errno, "setsockopt",
               "level " + std::to_string(level) + ", name " + std::to_string(name));
  }
}

Napi::Value Socket::Send(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Bytes data = GetBytes(env, info[0], "data");
  const sockaddr* address = nullptr;
  socklen_t address_length = 0;
  if (info.Length() > 1 && !info[1].IsUndefined() && !info[1].IsNull()) {
    Bytes bytes = GetBytes(env, info[1], "address");
    address_length = AddressLength(env, bytes, "sendto");
    address = reinterpret_cast<const sockaddr*>(bytes.data);
  }
  CheckOpen(env, "sendto");
  ssize_t sent;
  do {
    sent = sendto(fd_, data.data, data.length, MSG_NOSIGNAL | MSG_DONTWAIT, address, address_length);
  } while (sent < 0 && errno == EINTR);
  if (sent < 0) ThrowErrno(env, errno, "sendto");
  return Napi::Number::New(env, static_cast<double>(sent));
}

// One non-blocking recvmsg into buffer[0, capacity) (EINTR retried). MSG_TRUNC
// makes the kernel return the real datagram length even when it did not fit;
// `truncated` says so. Returns -1 with errno set on failure.
ssize_t Socket::RecvDatagram(uint8_t* buffer, size_t capacity, bool* truncated) {
  iovec iov;
  iov.iov_base = buffer;
  iov.iov_len = capacity;
  msghdr msg;
  std::memset(&msg, 0, sizeof msg);
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  ssize_t n;
  do {
    n = recvmsg(fd_, &msg, MSG_TRUNC | MSG_DONTWAIT);
  } while (n < 0 && errno == EINTR);
  *truncated = n >= 0 && (static_cast<size_t>(n) > capacity || (msg.msg_flags & MSG_TRUNC) != 0);
  return n;
}

// receive(max?): read what is already queued, right now, without waiting for the
// poll: up to max (at most kRecvBudget) datagrams until EAGAIN. The kernel answers most
// netlink requests inside the send() call, so reading straight after a send
// saves a trip through the event loop. A receive error is thrown, carrying the
// datagrams read before it as `datagrams`.
Napi::Value Socket::Receive(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  CheckOpen(env, "recvmsg");
  // receive() may come before start() (or without it): the buffer is made on first use.
  if (!recv_buffer_) recv_buffer_.reset(new uint8_t[kRecvBufferSize]);
  int budget = kRecvBudget;
  if (info.Length() > 0 && info[0].IsNumber()) {
    budget = std::max(1, std::min(kRecvBudget, info[0].As<Napi::Number>().Int32Value()));
  }
  Napi::Array out = Napi::Array::New(env);
  uint32_t count = 0;
  for (int i = 0; i < budget; ++i) {
    bool truncated = false;
    ssize_t n = RecvDatagram(recv_buffer_.get(), kRecvBufferSize, &truncated);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
    if (n < 0 || truncated) {
      Napi::Error error = n < 0 ? ErrnoError(env, errno, "recvmsg")
                                : ErrnoError(env, EMSGSIZE, "recvmsg", "",
                                             "datagram of " + std::to_string(n) + " bytes truncated to the " +
                                                 std::to_string(kRecvBufferSize) + "-byte receive buffer");
      error.Set("datagrams", out);
      throw error;
    }
    out.Set(count++, Napi::Buffer<uint8_t>::Copy(env, recv_buffer_.get(), static_cast<size_t>(n)));
  }
  return out;
}

// receiveInto(buffer): one datagram already queued, read straight into the
// caller's Uint8Array — no allocation, for callers that read thousands of
// datagrams and keep little of them. Returns its length, or -1 when nothing is
// queued. Errors are thrown; a datagram longer than the buffer is lost and
// thrown as EMSGSIZE.
Napi::Value Socket::ReceiveInto(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsTypedArray() ||
      info[0].As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array) {
    ThrowTypeError(env, "The \"buffer\" argument must be a Uint8Array");
  }
  CheckOpen(env, "recvmsg");
  Napi::Uint8Array buffer = info[0].As<Napi::Uint8Array>();
  bool truncated = false;
  ssize_t n = RecvDatagram(buffer.Data(), buffer.ByteLength(), &truncated);
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return Napi::Number::New(env, -1);
  if (n < 0) throw ErrnoError(env, errno, "recvmsg");
  if (truncated) {
    throw ErrnoError(env, EMSGSIZE, "recvmsg", "",
                     "datagram of " + std::to_string(n) + " bytes truncated to the " +
                         std::to_string(buffer.ByteLength()) + "-byte buffer");
  }
  return Napi::Number::New(env, static_cast<double>(n));
}

void Socket::Start(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsFunction()) ThrowTypeError(env, "The \"onData\" argument must be a function");
  if (!info[1].IsFunction()) ThrowTypeError(env, "The \"onError\" argument must be a function");
  CheckOpen(env, "uv_poll_start");
  if (poll_ != nullptr) {
    Napi::Error error = Napi::Error::New(env, "start() was already called on this socket");
    error.Value().Set("code", Napi::String::New(env, "ERR_SOCKET_ALREADY_STARTED"));
    throw error;
  }

  // Everything that can throw comes before the handle exists.
  if (!recv_buffer_) recv_buffer_.reset(new uint8_t[kRecvBufferSize]);
  Napi::FunctionReference on_data = Napi::Persistent(info[0].As<Napi::Function>());
  Napi::FunctionReference on_error = Napi::Persistent(info[1].As<Napi::Function>());
  auto async_context = std::make_shared<Napi::AsyncContext>(env, "IpvsTsNativeSocket", Value());
  uv_loop_t* loop = nullptr;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok || loop == nullptr) {
    throw Napi::Error::New(env, "napi_get_uv_event_loop failed");
  }

  int r = 0;
  PollHandle* poll = PollHandle::Create(loop, fd_, &r);
  if (poll == nullptr) ThrowErrno(env, -r, "uv_poll_init");
  poll->handle.data = this;
  r = uv_poll_start(&poll->handle, UV_READABLE, OnPoll);
  if (r < 0) {
    poll->Close();
    ThrowErrno(env, -r, "uv_poll_start");
  }
  if (!want_ref_) uv_unref(poll->AsHandle());

  poll_ = poll;
  on_data_ = std::move(on_data);
  on_error_ = std::move(on_error);
  async_context_ = std::move(async_context);
  // Close the handle if the environment goes away (worker exit, process end) first.
  if (napi_add_async_cleanup_hook(env, OnEnvCleanup, this, &cleanup_hook_) != napi_ok) {
    cleanup_hook_ = nullptr;
  }
  // An active poll keeps its wrapper alive, like any Node.js handle; close() releases it.
  Napi::ObjectWrap<Socket>::Ref();
  self_ref_ = true;
}

void Socket::JsRef(const Napi::CallbackInfo&) {
  want_ref_ = true;
  if (poll_ != nullptr) uv_ref(poll_->AsHandle());
}

void Socket::JsUnref(const Napi::CallbackInfo&) {
  want_ref_ = false;
  if (poll_ != nullptr) uv_unref(poll_->AsHandle());
}

void Socket::Close(const Napi::CallbackInfo&) {
  CloseInternal(false);
}

void Socket::CloseInternal(bool from_cleanup_hook) {
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
    // Stops the watcher now (before the descriptor is closed below); the memory
    // goes later, in uv_close's callback (poll-handle.cc).
    poll->Close(finished);
  }
  if (hook != nullptr) napi_remove_async_cleanup_hook(hook);
  if (fd_ >= 0) {
    close(fd_);  // on Linux the descriptor is released even if this reports EINTR
    fd_ = -1;
  }
  on_data_.Reset();
  on_error_.Reset();
  async_context_.reset();
  if (self_ref_) {
    self_ref_ = false;
    Napi::ObjectWrap<Socket>::Unref();
  }
}

void Socket::OnEnvCleanup(napi_async_cleanup_hook_handle hook, void* arg) {
  auto* self = static_cast<Socket*>(arg);
  if (self->cleanup_hook_ != hook) {
    napi_remove_async_cleanup_hook(hook);
    return;
  }
  self->CloseInternal(true);
}

void Socket::OnPoll(uv_poll_t* handle, int status, int /*events*/) {
  auto* self = static_cast<Socket*>(handle->data);
  if (self != nullptr) self->OnReadable(status);
}

void Socket::OnReadable(int status) {
  Napi::Env env = Env();
  Napi::HandleScope scope(env);
  // A local handle keeps the wrapper (and so `this`) alive even if a callback closes it.
  Napi::Object self = Value();
  bool error_delivered = ReadBatch(env, self);

  // status < 0 means the socket signalled POLLERR (e.g. a netlink overrun sets
  // sk_err = ENOBUFS); libuv has then stopped the watcher. recvmsg reports and
  // clears such errors, so re-arm once it did; otherwise stop rather than spin.
  if (status < 0 && poll_ != nullptr && fd_ >= 0) {
    if (error_delivered) {
      int r = uv_poll_start(&poll_->handle, UV_READABLE, OnPoll);
      if (r < 0) DeliverError(env, self, ErrnoError(env, -r, "uv_poll_start"));
    } else {
      DeliverError(env, self,
                   ErrnoError(env, -status, "poll", "",
                              "socket reported an error condition that recvmsg did not clear; "
                              "receiving stopped"));
    }
  }
}

bool Socket::ReadBatch(Napi::Env env, Napi::Object self) {
  std::vector<napi_value> batch;
  batch.reserve(kRecvBudget);
  bool error_delivered = false;
  for (int i = 0; i < kRecvBudget && fd_ >= 0; ++i) {
    bool truncated = false;
    ssize_t n = RecvDatagram(recv_buffer_.get(), kRecvBufferSize, &truncated);

    if (n < 0) {
      int err = errno;
      if (err == EAGAIN || err == EWOULDBLOCK) break;
      // Keep order: datagrams read before the error are delivered first.
      DeliverData(env, self, &batch);
      if (fd_ >= 0) DeliverError(env, self, ErrnoError(env, err, "recvmsg"));
      error_delivered = true;
      break;  // the poll fires again if more is pending
    }
    if (truncated) {
      DeliverData(env, self, &batch);
      if (fd_ >= 0) {
        DeliverError(env, self,
                     ErrnoError(env, EMSGSIZE, "recvmsg", "",
                                "datagram of " + std::to_string(n) + " bytes truncated to the " +
                                    std::to_string(kRecvBufferSize) + "-byte receive buffer"));
      }
      continue;  // that datagram is gone; go on with the next one
    }
    batch.push_back(Napi::Buffer<uint8_t>::Copy(env, recv_buffer_.get(), static_cast<size_t>(n)));
  }
  DeliverData(env, self, &batch);
  return error_delivered;
}

void Socket::DeliverData(Napi::Env env, Napi::Object self, std::vector<napi_value>* batch) {
  if (batch->empty()) return;  // spurious wakeups deliver nothing
  Napi::Array array = Napi::Array::New(env, batch->size());
  for (size_t i = 0; i < batch->size(); ++i) array.Set(static_cast<uint32_t>(i), (*batch)[i]);
  batch->clear();
  CallJs(env, self, on_data_, array);
}

void Socket::DeliverError(Napi::Env env, Napi::Object self, const Napi::Error& error) {
  CallJs(env, self, on_error_, error.Value());
}

void Socket::CallJs(Napi::Env env, Napi::Object self, const Napi::FunctionReference& callback,
                    napi_value arg) {
  if (callback.IsEmpty() || !async_context_) return;
  // Locals: the callback may close() the socket, which resets the members.
  Napi::Function function = callback.Value();
  std::shared_ptr<Napi::AsyncContext> context = async_context_;
  try {
    // MakeCallback: runs in the socket's async context and drains the
    // nextTick/microtask queues afterwards, like any libuv-driven callback.
    function.MakeCallback(self, {arg}, *context);
  } catch (const Napi::Error& error) {
    // No JS frame above us: report it as an uncaught exception ('uncaughtException'
    // listeners run; without one the process exits with the error).
    napi_fatal_exception(env, error.Value());
  }
}

}  // namespace ipvs_ts
