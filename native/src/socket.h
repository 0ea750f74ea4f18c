// NativeSocket: a protocol-agnostic, non-blocking datagram socket exposed to JS.
#ifndef IPVS_TS_NATIVE_SOCKET_H_
#define IPVS_TS_NATIVE_SOCKET_H_

#include <napi.h>
#include <uv.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "poll-handle.h"

namespace ipvs_ts {

class Socket : public Napi::ObjectWrap<Socket> {
 public:
  // Datagrams larger than this are reported as EMSGSIZE errors.
  static constexpr size_t kRecvBufferSize = 64 * 1024;
  // At most this many datagrams are read per readable wakeup.
  static constexpr int kRecvBudget = 64;

  // Registers the class for this environment (kept in the env's instance data).
  static void Init(Napi::Env env);
  // Wrap an already-open descriptor; on failure the descriptor is closed.
  static Napi::Object Wrap(Napi::Env env, int fd);

  explicit Socket(const Napi::CallbackInfo& info);
  ~Socket() override;

 private:
  Napi::Value GetFd(const Napi::CallbackInfo& info);
  void Bind(const Napi::CallbackInfo& info);
  Napi::Value GetSockName(const Napi::CallbackInfo& info);
  void SetSockOpt(const Napi::CallbackInfo& info);
  Napi::Value Send(const Napi::CallbackInfo& info);
  Napi::Value Receive(const Napi::CallbackInfo& info);
  Napi::Value ReceiveInto(const Napi::CallbackInfo& info);
  void Start(const Napi::CallbackInfo& info);
  void JsRef(const Napi::CallbackInfo& info);
  void JsUnref(const Napi::CallbackInfo& info);
  void Close(const Napi::CallbackInfo& info);

  // Throws EBADF for `syscall` if the socket is closed.
  void CheckOpen(Napi::Env env, const char* syscall) const;
  // Stop polling, close the handle and the descriptor, drop the JS callbacks.
  // `from_cleanup_hook` is set when the environment is being torn down.
  void CloseInternal(bool from_cleanup_hook);

  static void OnPoll(uv_poll_t* handle, int status, int events);
  static void OnEnvCleanup(napi_async_cleanup_hook_handle hook, void* arg);

  void OnReadable(int status);
  // One non-blocking recvmsg into buffer[0, capacity); sets *truncated when the datagram did not fit.
  ssize_t RecvDatagram(uint8_t* buffer, size_t capacity, bool* truncated);
  // Reads up to kRecvBudget datagrams; returns true if a receive error was delivered.
  bool ReadBatch(Napi::Env env, Napi::Object self);
  void DeliverData(Napi::Env env, Napi::Object self, std::vector<napi_value>* batch);
  void DeliverError(Napi::Env env, Napi::Object self, const Napi::Error& error);
  void CallJs(Napi::Env env, Napi::Object self, const Napi::FunctionReference& callback,
              napi_value arg);

  int fd_ = -1;
  bool want_ref_ = true;     // desired uv_ref state; applied by start()
  bool self_ref_ = false;    // the JS wrapper is held strongly while polling
  PollHandle* poll_ = nullptr;
  napi_async_cleanup_hook_handle cleanup_hook_ = nullptr;
  std::unique_ptr<uint8_t[]> recv_buffer_;
  Napi::FunctionReference on_data_;
  Napi::FunctionReference on_error_;
  std::shared_ptr<Napi::AsyncContext> async_context_;
};

}  // namespace ipvs_ts

#endif  // IPVS_TS_NATIVE_SOCKET_H_
