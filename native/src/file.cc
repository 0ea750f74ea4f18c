#include "file.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include <string>

#include "errors.h"
#include "netns.h"

namespace ipvs_ts {

namespace {

int OpenPath(const std::string& path, int flags, SysError* error) {
  int fd;
  do {
    fd = open(path.c_str(), flags | O_CLOEXEC, 0666);
  } while (fd < 0 && errno == EINTR);
  if (fd < 0) {
    error->err = errno;
    error->syscall = "open";
    error->detail = path;
    error->path = path;
  }
  return fd;
}

}  // namespace

Napi::Value OpenFile(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsString()) ThrowTypeError(env, "The \"path\" argument must be a string");
  if (!info[1].IsNumber()) ThrowTypeError(env, "The \"flags\" argument must be a number");
  std::string path = info[0].As<Napi::String>().Utf8Value();
  int flags = info[1].As<Napi::Number>().Int32Value();

  SysError error;
  int fd;
  if (info.Length() > 2 && !info[2].IsUndefined() && !info[2].IsNull()) {
    if (!info[2].IsString()) ThrowTypeError(env, "The \"netns\" argument must be a string");
    fd = RunInNetns(
        info[2].As<Napi::String>().Utf8Value(),
        [&](SysError* e) { return OpenPath(path, flags, e); }, &error);
  } else {
    fd = OpenPath(path, flags, &error);
  }
  if (fd < 0) throw ErrnoError(env, error);
  return Napi::Number::New(env, fd);
}

}  // namespace ipvs_ts
