// openFile(path, flags, netns?): open(2) a file, optionally inside another network
// namespace. Used for /proc/sys/net/..., whose entries resolve to the network
// namespace of the thread that opens them.
#ifndef IPVS_TS_NATIVE_FILE_H_
#define IPVS_TS_NATIVE_FILE_H_

#include <napi.h>

namespace ipvs_ts {

// JS: openFile(path: string, flags: number, netns?: string) → descriptor number.
// open(path, flags | O_CLOEXEC, 0666); with `netns`, on a short-lived thread after
// setns(CLONE_NEWNET) (RunInNetns in netns.h). Errors: Error with errno/code/
// syscall ('open' or 'setns') and path, like the socket calls.
Napi::Value OpenFile(const Napi::CallbackInfo& info);

}  // namespace ipvs_ts

#endif  // IPVS_TS_NATIVE_FILE_H_
