#include "errors.h"

#include <errno.h>
#include <string.h>

namespace ipvs_ts {

namespace {

// GNU strerror_r returns char*, XSI returns int; support both without caring which.
[[maybe_unused]] const char* StrerrorResult(char* ret, char* /*buf*/) { return ret; }
[[maybe_unused]] const char* StrerrorResult(int ret, char* buf) { return ret == 0 ? buf : "Unknown error"; }

std::string Describe(int err) {
  char buf[128];
  buf[0] = '\0';
  return StrerrorResult(strerror_r(err, buf, sizeof buf), buf);
}

}  // namespace

const char* ErrnoName(int err) {
  switch (err) {
#define X(name) \
  case name:    \
    return #name;
  X(EPERM)
  X(ENOENT)
  X(ESRCH)
  X(EINTR)
  X(EIO)
  X(ENXIO)
  X(E2BIG)
  X(ENOEXEC)
  X(EBADF)
  X(ECHILD)
  X(EAGAIN)
  X(ENOMEM)
  X(EACCES)
  X(EFAULT)
  X(ENOTBLK)
  X(EBUSY)
  X(EEXIST)
  X(EXDEV)
  X(ENODEV)
  X(ENOTDIR)
  X(EISDIR)
  X(EINVAL)
  X(ENFILE)
  X(EMFILE)
  X(ENOTTY)
  X(ETXTBSY)
  X(EFBIG)
  X(ENOSPC)
  X(ESPIPE)
  X(EROFS)
  X(EMLINK)
  X(EPIPE)
  X(EDOM)
  X(ERANGE)
  X(EDEADLK)
  X(ENAMETOOLONG)
  X(ENOLCK)
  X(ENOSYS)
  X(ENOTEMPTY)
  X(ELOOP)
  X(ENOMSG)
  X(EIDRM)
  X(ECHRNG)
  X(EL2NSYNC)
  X(EL3HLT)
  X(EL3RST)
  X(ELNRNG)
  X(EUNATCH)
  X(ENOCSI)
  X(EL2HLT)
  X(EBADE)
  X(EBADR)
  X(EXFULL)
  X(ENOANO)
  X(EBADRQC)
  X(EBADSLT)
  X(EBFONT)
  X(ENOSTR)
  X(ENODATA)
  X(ETIME)
  X(ENOSR)
  X(ENONET)
  X(ENOPKG)
  X(EREMOTE)
  X(ENOLINK)
  X(EADV)
  X(ESRMNT)
  X(ECOMM)
  X(EPROTO)
  X(EMULTIHOP)
  X(EDOTDOT)
  X(EBADMSG)
  X(EOVERFLOW)
  X(ENOTUNIQ)
  X(EBADFD)
  X(EREMCHG)
  X(ELIBACC)
  X(ELIBBAD)
  X(ELIBSCN)
  X(ELIBMAX)
  X(ELIBEXEC)
  X(EILSEQ)
  X(ERESTART)
  X(ESTRPIPE)
  X(EUSERS)
  X(ENOTSOCK)
  X(EDESTADDRREQ)
  X(EMSGSIZE)
  X(EPROTOTYPE)
  X(ENOPROTOOPT)
  X(EPROTONOSUPPORT)
  X(ESOCKTNOSUPPORT)
  X(EOPNOTSUPP)
  X(EPFNOSUPPORT)
  X(EAFNOSUPPORT)
  X(EADDRINUSE)
  X(EADDRNOTAVAIL)
  X(ENETDOWN)
  X(ENETUNREACH)
  X(ENETRESET)
  X(ECONNABORTED)
  X(ECONNRESET)
  X(ENOBUFS)
  X(EISCONN)
  X(ENOTCONN)
  X(ESHUTDOWN)
  X(ETOOMANYREFS)
  X(ETIMEDOUT)
  X(ECONNREFUSED)
  X(EHOSTDOWN)
  X(EHOSTUNREACH)
  X(EALREADY)
  X(EINPROGRESS)
  X(ESTALE)
  X(EUCLEAN)
  X(ENOTNAM)
  X(ENAVAIL)
  X(EISNAM)
  X(EREMOTEIO)
  X(EDQUOT)
  X(ENOMEDIUM)
  X(EMEDIUMTYPE)
  X(ECANCELED)
  X(ENOKEY)
  X(EKEYEXPIRED)
  X(EKEYREVOKED)
  X(EKEYREJECTED)
  X(EOWNERDEAD)
  X(ENOTRECOVERABLE)
  X(ERFKILL)
  X(EHWPOISON)
#undef X
    default:
      return nullptr;
  }
}

Napi::Error ErrnoError(Napi::Env env, int err, const char* syscall, const std::string& detail,
                       const std::string& suffix) {
  const char* name = ErrnoName(err);
  std::string code = name != nullptr ? name : "Unknown system error " + std::to_string(err);
  std::string message = syscall;
  if (!detail.empty()) message += "(" + detail + ")";
  message += ": " + code + " (" + Describe(err) + ")";
  if (!suffix.empty()) message += ": " + suffix;

  Napi::Error error = Napi::Error::New(env, message);
  Napi::Object obj = error.Value();
  obj.Set("errno", Napi::Number::New(env, err));
  obj.Set("code", Napi::String::New(env, code));
  obj.Set("syscall", Napi::String::New(env, syscall));
  return error;
}

Napi::Error ErrnoError(Napi::Env env, const SysError& e) {
  Napi::Error error = ErrnoError(env, e.err, e.syscall, e.detail);
  if (!e.path.empty()) error.Value().Set("path", Napi::String::New(env, e.path));
  return error;
}

void ThrowErrno(Napi::Env env, int err, const char* syscall, const std::string& detail,
                const std::string& suffix) {
  throw ErrnoError(env, err, syscall, detail, suffix);
}

void ThrowTypeError(Napi::Env env, const std::string& message) {
  Napi::TypeError error = Napi::TypeError::New(env, message);
  error.Value().Set("code", Napi::String::New(env, "ERR_INVALID_ARG_TYPE"));
  throw error;
}

}  // namespace ipvs_ts
