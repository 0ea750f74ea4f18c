// Connector: many non-blocking stream connects at once, their completions read
// through one epoll descriptor watched by one uv_poll. It knows sockets and
// connect(2) only: what the caller does with the outcome is its business.
#ifndef IPVS_TS_NATIVE_CONNECTOR_H_
#define IPVS_TS_NATIVE_CONNECTOR_H_

#include <napi.h>
#include <uv.h>

#include <cstdint>
#include <memory>
#include <vector>

#include "poll-handle.h"

namespace ipvs_ts {

class Connector : public Napi::ObjectWrap<Connector> {
 public:
  // Completions read per epoll_wait(2) at most (also bounded by the results array).
  static constexpr int kMaxEvents = 256;

  // The class's constructor, exported by the addon as `Connector`.
  static Napi::Function Define(Napi::Env env);

  // new Connector(results: Int32Array, onResults: (count) => void)
  explicit Connector(const Napi::CallbackInfo& info);
  ~Connector() override;

 private:
  Napi::Value Connect(const Napi::CallbackInfo& info);
  Napi::Value Cancel(const Napi::CallbackInfo& info);
  Napi::Value GetPending(const Napi::CallbackInfo& info);
  void Close(const Napi::CallbackInfo& info);

  void CloseInternal(bool from_cleanup_hook);
  // Forget `fd` (no longer pending) and close it; keeps the loop's reference in step.
  void Release(int fd);
  void OnEvents();

  static void OnPoll(uv_poll_t* handle, int status, int events);
  static void OnEnvCleanup(napi_async_cleanup_hook_handle hook, void* arg);

  int epoll_fd_ = -1;
  PollHandle* poll_ = nullptr;
  napi_async_cleanup_hook_handle cleanup_hook_ = nullptr;
  // By descriptor: the caller's id of the pending connect on it, or -1.
  std::vector<int64_t> id_by_fd_;
  uint32_t pending_ = 0;
  Napi::Reference<Napi::Int32Array> results_;
  Napi::FunctionReference on_results_;
  std::shared_ptr<Napi::AsyncContext> async_context_;
};

}  // namespace ipvs_ts

#endif  // IPVS_TS_NATIVE_CONNECTOR_H_
