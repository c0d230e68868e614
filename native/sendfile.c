/*
 * sendfile(socketFd, fileFd, offset, length, cancelToken?) -> Promise<number>
 *   Sends a byte range of a file to a socket with sendfile(2) on a pool thread, so file
 *   bytes go from the page cache to the socket without passing through JavaScript.
 *   Resolves with the bytes the kernel accepted. Like write(2) it may resolve with fewer
 *   than `length` (even 0) when the socket stayed full for MAX_WAIT_MS in all, or after
 *   CALL_BUDGET_MS with some progress: the call gives its thread back to the pool and the
 *   caller calls again. Rejects with an Error whose `code` is the errno name (EPIPE,
 *   ECONNRESET, ...), "ECANCELED" after cancel(), or "ERR_FILE_SHRANK" when the file ends
 *   before `length` bytes. Errors carry `bytesSent`: what this call sent before failing.
 *
 * setCork(socketFd, on) -> undefined;  getCork(socketFd) -> boolean
 *   TCP_CORK on a TCP socket (roundtrip-http/server's `tcpCork` option): while it is on, the
 *   kernel sends only full segments, so a response head and the start of its body leave
 *   together; clearing it sends what is held. Synchronous (one setsockopt/getsockopt call,
 *   which does not block). Both throw an Error with the errno name as `code`. The only
 *   socket option the addon ever touches, and only when asked.
 */
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <unistd.h>

#include "zerocopy.h"

/* Largest count handed to one sendfile(2) call: bounds the time between two cancel checks
 * on a fast socket. The kernel caps a single call at 0x7ffff000 bytes anyway. */
#define SYSCALL_MAX ((size_t)4 << 20)

/* Sentinel error for "the file ended before length bytes": not an errno. */
#define ERR_FILE_SHRANK (-1)

typedef struct {
  job_base base;      /* first: the work, its promise and the cancel token */
  int sock;           /* private dup of the socket fd */
  int file;           /* private dup of the file fd */
  int64_t offset;
  int64_t length;
  int64_t sent;
  int err;            /* 0, an errno, or ERR_FILE_SHRANK */
} job;

/* The Error a sendfile job rejects with: errno_error's, or ERR_FILE_SHRANK, plus bytesSent. */
static napi_value make_error(napi_env env, int err, int64_t bytes_sent) {
  napi_value error, num;
  if (err == ERR_FILE_SHRANK) {
    error = coded_error(env, "ERR_FILE_SHRANK",
                        "file shrank: sendfile reached end of file before the requested length");
  } else {
    error = errno_error(env, err, "sendfile", NULL);
  }
  if (error == NULL) return NULL;
  napi_create_int64(env, bytes_sent, &num);
  napi_set_named_property(env, error, "bytesSent", num);
  return error;
}

/* ---------- the transfer, on a pool thread ---------- */

static void execute(napi_env env, void *data) {
  (void)env; /* no Node-API calls are allowed on a pool thread */
  job *j = data;
  int64_t started = now_us();
  int64_t waited_us = 0;
  while (j->sent < j->length) {
    if (token_cancelled(j->base.token)) {
      j->err = ECANCELED;
      return;
    }
    int64_t left = j->length - j->sent;
    size_t count = left > (int64_t)SYSCALL_MAX ? SYSCALL_MAX : (size_t)left;
    off_t pos = (off_t)(j->offset + j->sent); /* 64-bit: built with _FILE_OFFSET_BITS=64 */
    ssize_t n = sendfile(j->sock, j->file, &pos, count);
    if (n > 0) {
      /* Short counts are normal (socket buffer filled up): just go round again. */
      j->sent += n;
      if (now_us() - started >= CALL_BUDGET_MS * 1000) return; /* report progress; caller goes on */
      continue;
    }
    if (n == 0) {
      j->err = ERR_FILE_SHRANK; /* EOF before length: the file is shorter than promised */
      return;
    }
    if (errno == EINTR) continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK) {
      j->err = errno;
      return;
    }
    if (waited_us >= MAX_WAIT_MS * 1000) return; /* resolve with a short count; caller retries */
    int64_t before = now_us();
    int werr = wait_ready(j->sock, POLLOUT);
    if (werr != 0) {
      j->err = werr;
      return;
    }
    /* The time really waited: a poll that returns at once (space freed) costs nothing. */
    waited_us += now_us() - before;
  }
}

/* ---------- back on the main thread ---------- */

static void release_job(napi_env env, job *j) {
  if (j->sock >= 0) close(j->sock);
  if (j->file >= 0) close(j->file);
  release_base(env, &j->base);
  free(j);
}

static void complete(napi_env env, napi_status status, void *data) {
  job *j = data;
  napi_value result;
  if (status == napi_cancelled) j->err = ECANCELED;
  if (j->err == 0) {
    napi_create_int64(env, j->sent, &result);
    napi_resolve_deferred(env, j->base.deferred, result);
  } else {
    result = make_error(env, j->err, j->sent);
    /* Rejecting with undefined beats a promise that never settles. */
    if (result == NULL) napi_get_undefined(env, &result);
    napi_reject_deferred(env, j->base.deferred, result);
  }
  release_job(env, j);
}

napi_value js_sendfile(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5], promise;
  int64_t sock, file, offset, length;
  cancel_token *token = NULL;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 4) {
    napi_throw_type_error(env, NULL, "sendfile(socketFd, fileFd, offset, length, cancelToken?)");
    return NULL;
  }
  /* JS numbers are exact up to 2^53, which also keeps offset + length below INT64_MAX. */
  const double max_safe = 9007199254740991.0;
  if (!get_index(env, argv[0], "socketFd", INT_MAX, &sock) ||
      !get_index(env, argv[1], "fileFd", INT_MAX, &file) ||
      !get_index(env, argv[2], "offset", max_safe, &offset) ||
      !get_index(env, argv[3], "length", max_safe, &length) ||
      (argc >= 5 && !get_optional_token(env, argv[4], &token)))
    return NULL;

  job *j = calloc(1, sizeof *j);
  if (j == NULL) {
    napi_throw_error(env, "ENOMEM", "roundtrip zero-copy: out of memory");
    return NULL;
  }
  j->offset = offset;
  j->length = length;
  j->base.token = token;
  /* Dup now, on the caller's thread, while the caller's fds are known to be valid. */
  j->sock = dup_fd((int)sock);
  j->file = j->sock < 0 ? -1 : dup_fd((int)file);
  if (j->sock < 0 || j->file < 0) {
    napi_value err = make_error(env, errno, 0);
    release_job(env, j);
    if (err != NULL) napi_throw(env, err);
    return NULL;
  }
  if (!queue_job(env, &j->base, argv[4], "roundtrip.sendfile", execute, complete, j, &promise)) {
    release_job(env, j);
    return NULL;
  }
  return promise;
}

/* ---------- TCP_CORK ---------- */

/* Throws the system Error for a failed TCP_CORK call (`call`: setsockopt or getsockopt). */
static void throw_sockopt_error(napi_env env, int err, const char *call) {
  napi_value error = errno_error(env, err, call, "TCP_CORK");
  if (error == NULL) napi_throw_error(env, NULL, "roundtrip zero-copy: cannot create error");
  else napi_throw(env, error);
}

napi_value js_set_cork(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  int64_t sock;
  bool on = false;
  napi_valuetype type;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 2 || napi_typeof(env, argv[1], &type) != napi_ok || type != napi_boolean) {
    napi_throw_type_error(env, NULL, "setCork(socketFd, on: boolean)");
    return NULL;
  }
  if (!get_index(env, argv[0], "socketFd", INT_MAX, &sock)) return NULL;
  CHECK(napi_get_value_bool(env, argv[1], &on));
  int value = on ? 1 : 0;
  if (setsockopt((int)sock, IPPROTO_TCP, TCP_CORK, &value, sizeof value) != 0) {
    throw_sockopt_error(env, errno, "setsockopt");
  }
  return NULL;
}

napi_value js_get_cork(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], result;
  int64_t sock;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 1) {
    napi_throw_type_error(env, NULL, "getCork(socketFd)");
    return NULL;
  }
  if (!get_index(env, argv[0], "socketFd", INT_MAX, &sock)) return NULL;
  int value = 0;
  socklen_t len = sizeof value;
  if (getsockopt((int)sock, IPPROTO_TCP, TCP_CORK, &value, &len) != 0) {
    throw_sockopt_error(env, errno, "getsockopt");
    return NULL;
  }
  CHECK(napi_get_boolean(env, value != 0, &result));
  return result;
}
