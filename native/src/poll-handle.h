// PollHandle: a uv_poll_t on the heap, shared by the classes that watch a
// descriptor (Socket, Connector). libuv still owns a closed handle until its
// close callback runs, which is after the owner may be gone (a wrapper
// collected, an environment torn down), so the handle lives apart from its
// owner and frees itself in that callback.
#ifndef IPVS_TS_NATIVE_POLL_HANDLE_H_
#define IPVS_TS_NATIVE_POLL_HANDLE_H_

#include <node_api.h>
#include <uv.h>

namespace ipvs_ts {

struct PollHandle {
  // The watcher. handle.data points at the owner while polling, and is nullptr
  // once the owner let go of it (Close), so that a poll callback already due in
  // this loop turn finds no owner and does nothing.
  uv_poll_t handle;
  // Set by Close(); kept public (like `handle`) so that the struct stays
  // standard-layout and OnClosed may cast the uv_handle_t* back to it.
  napi_async_cleanup_hook_handle finished_hook = nullptr;

  // uv_poll_init on `fd`. On failure returns nullptr and puts libuv's (negative)
  // error in *error; nothing is left to close then.
  static PollHandle* Create(uv_loop_t* loop, int fd, int* error);

  uv_handle_t* AsHandle() { return reinterpret_cast<uv_handle_t*>(&handle); }

  // Stop and close the watcher now (so the owner may close the descriptor right
  // after), and free this memory later, in uv_close's callback. When given,
  // `hook` (the environment's async cleanup hook that asked for the
  // close) is removed there, telling Node.js the handle is really gone.
  // The pointer must not be used after this call.
  void Close(napi_async_cleanup_hook_handle hook = nullptr);

 private:
  PollHandle() = default;
  ~PollHandle() = default;
  static void OnClosed(uv_handle_t* handle);
};

}  // namespace ipvs_ts

#endif  // IPVS_TS_NATIVE_POLL_HANDLE_H_
