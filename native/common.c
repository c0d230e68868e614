/* The JS-boundary helpers, cancel token and clock that sendfile.c and splice.c share
 * (declared and explained in zerocopy.h). */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "zerocopy.h"

static const char *errno_name(int e) {
  switch (e) {
#define NAME(x) \
  case x:       \
    return #x;
    NAME(EPIPE) NAME(ECONNRESET) NAME(ECONNABORTED) NAME(ENOTCONN) NAME(ETIMEDOUT)
    NAME(EHOSTUNREACH) NAME(ENETUNREACH) NAME(ENETDOWN) NAME(ENETRESET) NAME(EBADF)
    NAME(ENOTSOCK) NAME(EINVAL) NAME(ENOSYS) NAME(EOPNOTSUPP) NAME(EOVERFLOW)
    NAME(ESPIPE) NAME(EIO) NAME(ENOMEM) NAME(ENOBUFS) NAME(EFAULT) NAME(ECANCELED)
    NAME(EMFILE) NAME(ENFILE) NAME(ENOSPC) NAME(EDQUOT) NAME(EFBIG) NAME(EROFS)
    NAME(EISDIR) NAME(EPERM) NAME(EACCES)
#undef NAME
    default:
      return NULL;
  }
}

napi_value errno_error(napi_env env, int err, const char *syscall, const char *what) {
  char code_buf[32];
  char msg_buf[160];
  const char *code = errno_name(err);
  if (code == NULL) {
    snprintf(code_buf, sizeof code_buf, "ERRNO_%d", err);
    code = code_buf;
  }
  /* strerror is not thread-safe, but this runs on the main thread only. */
  snprintf(msg_buf, sizeof msg_buf, "%s %s%s%s: %s", syscall, what ? what : "", what ? " " : "", code,
           strerror(err));
  napi_value error, num, syscall_v;
  error = coded_error(env, code, msg_buf);
  if (error == NULL) return NULL;
  napi_create_int32(env, -err, &num);
  napi_set_named_property(env, error, "errno", num);
  napi_create_string_utf8(env, syscall, NAPI_AUTO_LENGTH, &syscall_v);
  napi_set_named_property(env, error, "syscall", syscall_v);
  return error;
}

napi_value coded_error(napi_env env, const char *code, const char *message) {
  napi_value code_v, msg_v, error;
  if (napi_create_string_utf8(env, code, NAPI_AUTO_LENGTH, &code_v) != napi_ok ||
      napi_create_string_utf8(env, message, NAPI_AUTO_LENGTH, &msg_v) != napi_ok ||
      napi_create_error(env, code_v, msg_v, &error) != napi_ok)
    return NULL;
  return error;
}

int get_index(napi_env env, napi_value v, const char *what, double max, int64_t *out) {
  double d;
  if (napi_get_value_double(env, v, &d) != napi_ok) {
    char msg[80];
    snprintf(msg, sizeof msg, "%s must be a number", what);
    napi_throw_type_error(env, NULL, msg);
    return 0;
  }
  if (!(d >= 0 && d <= max) || d != (double)(int64_t)d) {
    char msg[80];
    snprintf(msg, sizeof msg, "%s must be an integer in [0, %.0f]", what, max);
    napi_throw_range_error(env, NULL, msg);
    return 0;
  }
  *out = (int64_t)d;
  return 1;
}

int get_optional_token(napi_env env, napi_value v, cancel_token **token) {
  napi_valuetype type;
  void *ptr = NULL;
  *token = NULL;
  if (napi_typeof(env, v, &type) != napi_ok) return 0;
  if (type == napi_undefined || type == napi_null) return 1;
  if (type == napi_external && napi_get_value_external(env, v, &ptr) == napi_ok && ptr != NULL) {
    *token = ptr;
    return 1;
  }
  napi_throw_type_error(env, NULL, "cancelToken must come from createCancelToken()");
  return 0;
}

int dup_fd(int fd) {
  return fcntl(fd, F_DUPFD_CLOEXEC, 0);
}

int token_cancelled(const cancel_token *t) {
  return t != NULL && atomic_load_explicit(&t->cancelled, memory_order_acquire);
}

int64_t now_us(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (int64_t)t.tv_sec * 1000000 + t.tv_nsec / 1000;
}

int wait_ready(int fd, short events) {
  struct pollfd p = {.fd = fd, .events = events, .revents = 0};
  int r = poll(&p, 1, POLL_MS);
  if (r < 0 && errno != EINTR) return errno;
  if (r > 0 && (p.revents & POLLNVAL)) return EBADF;
  return 0;
}

int queue_job(napi_env env, job_base *base, napi_value token_v, const char *name,
              napi_async_execute_callback execute, napi_async_complete_callback complete, void *data,
              napi_value *promise) {
  napi_value name_v;
  if ((base->token != NULL && napi_create_reference(env, token_v, 1, &base->token_ref) != napi_ok) ||
      napi_create_promise(env, &base->deferred, promise) != napi_ok ||
      napi_create_string_utf8(env, name, NAPI_AUTO_LENGTH, &name_v) != napi_ok ||
      napi_create_async_work(env, NULL, name_v, execute, complete, data, &base->work) != napi_ok ||
      napi_queue_async_work(env, base->work) != napi_ok) {
    /* A deferred that is never settled only leaves an unreachable pending promise. */
    napi_throw_error(env, NULL, "roundtrip zero-copy: cannot queue work");
    return 0;
  }
  return 1;
}

void release_base(napi_env env, job_base *base) {
  if (base->token_ref != NULL) napi_delete_reference(env, base->token_ref);
  if (base->work != NULL) napi_delete_async_work(env, base->work);
}

static void free_token(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  free(data);
}

napi_value js_create_cancel_token(napi_env env, napi_callback_info info) {
  (void)info;
  cancel_token *t = malloc(sizeof *t);
  if (t == NULL) {
    napi_throw_error(env, "ENOMEM", "roundtrip zero-copy: out of memory");
    return NULL;
  }
  atomic_init(&t->cancelled, 0);
  napi_value external;
  if (napi_create_external(env, t, free_token, NULL, &external) != napi_ok) {
    free(t);
    napi_throw_error(env, NULL, "roundtrip zero-copy: cannot create cancel token");
    return NULL;
  }
  return external;
}

napi_value js_cancel(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  cancel_token *t = NULL;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 1 || !get_optional_token(env, argv[0], &t)) {
    if (argc < 1) napi_throw_type_error(env, NULL, "cancel(token)");
    return NULL;
  }
  if (t == NULL) {
    napi_throw_type_error(env, NULL, "cancel(token): token must come from createCancelToken()");
    return NULL;
  }
  atomic_store_explicit(&t->cancelled, 1, memory_order_release);
  return NULL;
}
