// Errno-style JavaScript errors for the ipvs-ts native socket bridge.
#ifndef IPVS_TS_NATIVE_ERRORS_H_
#define IPVS_TS_NATIVE_ERRORS_H_

#include <napi.h>

#include <string>

namespace ipvs_ts {

// A failed system call, captured where it happened (possibly on another thread)
// and turned into a JavaScript error later on the loop thread.
struct SysError {
  int err = 0;                    // positive errno value
  const char* syscall = nullptr;  // static string: "socket", "setns", ...
  std::string detail;             // shown in parentheses after the syscall name
  std::string path;               // set as `error.path` when non-empty
};

// Symbolic name of a positive errno value ("EPERM"), or nullptr if unknown.
const char* ErrnoName(int err);

// Build `Error` with `errno` (positive), `code` ('EPERM'), `syscall` and the message
// "<syscall>(<detail>): <CODE> (<strerror>)" ("<syscall>: ..." when detail is empty).
// `suffix`, when non-empty, is appended to the message after ": ".
Napi::Error ErrnoError(Napi::Env env, int err, const char* syscall,
                       const std::string& detail = std::string(),
                       const std::string& suffix = std::string());
Napi::Error ErrnoError(Napi::Env env, const SysError& e);

// Throw ErrnoError(...) as a C++ exception (converted to a JS exception by node-addon-api).
[[noreturn]] void ThrowErrno(Napi::Env env, int err, const char* syscall,
                             const std::string& detail = std::string(),
                             const std::string& suffix = std::string());

// Throw a TypeError with code ERR_INVALID_ARG_TYPE.
[[noreturn]] void ThrowTypeError(Napi::Env env, const std::string& message);

}  // namespace ipvs_ts

#endif  // IPVS_TS_NATIVE_ERRORS_H_
