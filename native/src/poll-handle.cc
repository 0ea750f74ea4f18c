#include "poll-handle.h"

namespace ipvs_ts {

PollHandle* PollHandle::Create(uv_loop_t* loop, int fd, int* error) {
  auto* poll = new PollHandle();
  int r = uv_poll_init(loop, &poll->handle, fd);
  if (r < 0) {
    delete poll;  // never registered with the loop: plain delete is fine
    *error = r;
    return nullptr;
  }
  poll->handle.data = nullptr;
  return poll;
}

void PollHandle::Close(napi_async_cleanup_hook_handle hook) {
  handle.data = nullptr;
  finished_hook = hook;
  // uv_close stops the watcher at once (uv_poll_stop is implied) and frees
  // nothing itself: the memory goes in OnClosed, on a later loop iteration.
  uv_close(AsHandle(), OnClosed);
}

void PollHandle::OnClosed(uv_handle_t* handle) {
  auto* poll = reinterpret_cast<PollHandle*>(handle);  // handle is the first member
  napi_async_cleanup_hook_handle hook = poll->finished_hook;
  delete poll;
  // Environment teardown waits for this removal (the last step of the close).
  if (hook != nullptr) napi_remove_async_cleanup_hook(hook);
}

}  // namespace ipvs_ts
