/*
 * roundtrip_sendfile: sends a byte range of a file to a socket with sendfile(2), in the
 * libuv thread pool, so file bytes go from the page cache to the socket without passing
 * through JavaScript buffers.
 *
 * JS API (see src/body/zerocopy.ts, which is the only caller):
 *   sendfile(socketFd, fileFd, offset, length, cancelToken?) -> Promise<number>
 *     Resolves with the bytes the kernel accepted. Like write(2) it may resolve with fewer
 *     than `length` (even 0) when the socket stayed full for MAX_WAIT_MS in all, or after
 *     CALL_BUDGET_MS with some progress: the call gives its thread back to the pool and
 *     the caller calls again. Rejects with an Error whose
 *     `code` is the errno name (EPIPE, ECONNRESET, ...), "ECANCELED" after cancel(), or
 *     "ERR_FILE_SHRANK" when the file ends before `length` bytes. Errors carry
 *     `bytesSent`: what this call sent before failing.
 *   createCancelToken() -> token;  cancel(token) -> undefined
 *   setCork(socketFd, on) -> undefined;  getCork(socketFd) -> boolean
 *     TCP_CORK on a TCP socket (roundtrip-http/server's `tcpCork` option): while it is on, the
 *     kernel sends only full segments, so a response head and the start of its body leave
 *     together; clearing it sends what is held. Synchronous (one setsockopt/getsockopt
 *     call, which does not block). Both throw an Error with the errno name as `code`.
 *
 * Rules this file keeps:
 * - Never blocks the event loop: all I/O happens in execute(), on a pool thread.
 * - Never changes the socket's flags (TCP_CORK, a socket option, is only set when asked,
 *   by setCork). Node keeps it O_NONBLOCK; on EAGAIN we wait with
 *   poll(POLLOUT) and a short timeout, re-reading the cancel flag after every wait, so a
 *   peer that stops reading forever cannot pin a thread past cancel().
 * - Works on private dups of both fds, taken synchronously on the main thread. If the
 *   caller closes its socket or file while a call runs, the fd numbers may be reused by
 *   unrelated files; the dups guarantee we keep writing to the socket we were given.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include <node_api.h>

/* Largest count handed to one sendfile(2) call: bounds the time between two cancel checks
 * on a fast socket. The kernel caps a single call at 0x7ffff000 bytes anyway. */
#define SYSCALL_MAX ((size_t)4 << 20)
/* One poll(2) wait; the cancel flag is re-read after each. */
#define POLL_MS 20
/* Time one call may spend waiting for a full socket, in total, measured (progress in
 * between does not reset it: a slow but steady reader would otherwise hold a pool thread
 * for a whole slice). Past it the call returns what was sent and JavaScript queues the
 * next one, so the thread pool keeps serving other work (fs, dns) while slow peers catch
 * up. */
#define MAX_WAIT_MS 60
/* Time one call may run in all, sending or waiting: past it the call returns what it
 * sent, so JavaScript sees progress at least this often however large the slice it
 * asked for. Returning more often than this costs CPU: each return is a trip through
 * the event loop and the pool, while the socket drains. */
#define CALL_BUDGET_MS 50

/* Sentinel error for "the file ended before length bytes": not an errno. */
#define ERR_FILE_SHRANK (-1)

typedef struct {
  atomic_int cancelled;
} cancel_token;

typedef struct {
  napi_async_work work;
  napi_deferred deferred;
  napi_ref token_ref; /* keeps the token's external alive while execute() reads it */
  cancel_token *token;
  int sock;           /* private dup of the socket fd */
  int file;           /* private dup of the file fd */
  int64_t offset;
  int64_t length;
  int64_t sent;
  int err;            /* 0, an errno, or ERR_FILE_SHRANK */
} job;

/* ---------- helpers for the JS boundary ---------- */

#define CHECK(call)                                                              \
  do {                                                                           \
    if ((call) != napi_ok) {                                                     \
      napi_throw_error(env, NULL, "roundtrip_sendfile: Node-API call failed: " #call); \
      return NULL;                                                               \
    }                                                                            \
  } while (0)

static const char *errno_name(int e) {
  switch (e) {
#define NAME(x) \
  case x:       \
    return #x;
    NAME(EPIPE) NAME(ECONNRESET) NAME(ECONNABORTED) NAME(ENOTCONN) NAME(ETIMEDOUT)
    NAME(EHOSTUNREACH) NAME(ENETUNREACH) NAME(ENETDOWN) NAME(ENETRESET) NAME(EBADF)
    NAME(ENOTSOCK) NAME(EINVAL) NAME(ENOSYS) NAME(EOPNOTSUPP) NAME(EOVERFLOW)
    NAME(ESPIPE) NAME(EIO) NAME(ENOMEM) NAME(ENOBUFS) NAME(EFAULT) NAME(ECANCELED)
    NAME(EMFILE) NAME(ENFILE)
#undef NAME
    default:
      return NULL;
  }
}

/* Builds an Error shaped like Node's system errors for errno `err`: code (the errno's
 * name), errno (negative), syscall, and the message "<syscall> [<what> ]<code>: <strerror>".
 * Returns NULL if it cannot. */
static napi_value errno_error(napi_env env, int err, const char *syscall, const char *what) {
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
  napi_value code_v, msg_v, error, num, syscall_v;
  if (napi_create_string_utf8(env, code, NAPI_AUTO_LENGTH, &code_v) != napi_ok) return NULL;
  if (napi_create_string_utf8(env, msg_buf, NAPI_AUTO_LENGTH, &msg_v) != napi_ok) return NULL;
  if (napi_create_error(env, code_v, msg_v, &error) != napi_ok) return NULL;
  napi_create_int32(env, -err, &num);
  napi_set_named_property(env, error, "errno", num);
  napi_create_string_utf8(env, syscall, NAPI_AUTO_LENGTH, &syscall_v);
  napi_set_named_property(env, error, "syscall", syscall_v);
  return error;
}

/* The Error a sendfile job rejects with: errno_error's, or ERR_FILE_SHRANK, plus bytesSent. */
static napi_value make_error(napi_env env, int err, int64_t bytes_sent) {
  napi_value error, num;
  if (err == ERR_FILE_SHRANK) {
    napi_value code_v, msg_v;
    if (napi_create_string_utf8(env, "ERR_FILE_SHRANK", NAPI_AUTO_LENGTH, &code_v) != napi_ok ||
        napi_create_string_utf8(env, "file shrank: sendfile reached end of file before the requested length",
                                NAPI_AUTO_LENGTH, &msg_v) != napi_ok ||
        napi_create_error(env, code_v, msg_v, &error) != napi_ok)
      return NULL;
  } else {
    error = errno_error(env, err, "sendfile", NULL);
    if (error == NULL) return NULL;
  }
  napi_create_int64(env, bytes_sent, &num);
  napi_set_named_property(env, error, "bytesSent", num);
  return error;
}

/* Reads a JS number that must be an integer in [0, max]; throws RangeError otherwise. */
static int get_index(napi_env env, napi_value v, const char *what, double max, int64_t *out) {
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

static int dup_fd(int fd) {
  return fcntl(fd, F_DUPFD_CLOEXEC, 0);
}

/* ---------- the transfer, on a pool thread ---------- */

static int is_cancelled(const job *j) {
  return j->token != NULL && atomic_load_explicit(&j->token->cancelled, memory_order_acquire);
}

/* Waits until the socket is writable, cancelled, or POLL_MS passes. Returns 0 or an errno.
 * POLLERR/POLLHUP also wake us: the next sendfile(2) then reports the real error. */
static int wait_writable(int sock) {
  struct pollfd p = {.fd = sock, .events = POLLOUT, .revents = 0};
  int r = poll(&p, 1, POLL_MS);
  if (r < 0 && errno != EINTR) return errno;
  if (r > 0 && (p.revents & POLLNVAL)) return EBADF;
  return 0;
}

static int64_t now_us(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (int64_t)t.tv_sec * 1000000 + t.tv_nsec / 1000;
}

static void execute(napi_env env, void *data) {
  (void)env; /* no Node-API calls are allowed on a pool thread */
  job *j = data;
  int64_t started = now_us();
  int64_t waited_us = 0;
  while (j->sent < j->length) {
    if (is_cancelled(j)) {
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
    int werr = wait_writable(j->sock);
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
  if (j->token_ref != NULL) napi_delete_reference(env, j->token_ref);
  if (j->work != NULL) napi_delete_async_work(env, j->work);
  free(j);
}

static void complete(napi_env env, napi_status status, void *data) {
  job *j = data;
  napi_value result;
  if (status == napi_cancelled) j->err = ECANCELED;
  if (j->err == 0) {
    napi_create_int64(env, j->sent, &result);
    napi_resolve_deferred(env, j->deferred, result);
  } else {
    result = make_error(env, j->err, j->sent);
    /* Rejecting with undefined beats a promise that never settles. */
    if (result == NULL) napi_get_undefined(env, &result);
    napi_reject_deferred(env, j->deferred, result);
  }
  release_job(env, j);
}

static cancel_token *get_token(napi_env env, napi_value v) {
  napi_valuetype type;
  void *ptr = NULL;
  if (napi_typeof(env, v, &type) != napi_ok || type != napi_external) return NULL;
  if (napi_get_value_external(env, v, &ptr) != napi_ok) return NULL;
  return ptr;
}

typedef struct {
  int64_t sock, file, offset, length;
  cancel_token *token;
  napi_value token_v; /* NULL when no token was given */
} args;

/* Validates the JS arguments; returns 0 after throwing when they are wrong. */
static int parse_args(napi_env env, napi_value *argv, size_t argc, args *a) {
  if (argc < 4) {
    napi_throw_type_error(env, NULL, "sendfile(socketFd, fileFd, offset, length, cancelToken?)");
    return 0;
  }
  /* JS numbers are exact up to 2^53, which also keeps offset + length below INT64_MAX. */
  const double max_safe = 9007199254740991.0;
  if (!get_index(env, argv[0], "socketFd", INT_MAX, &a->sock)) return 0;
  if (!get_index(env, argv[1], "fileFd", INT_MAX, &a->file)) return 0;
  if (!get_index(env, argv[2], "offset", max_safe, &a->offset)) return 0;
  if (!get_index(env, argv[3], "length", max_safe, &a->length)) return 0;
  a->token = NULL;
  a->token_v = NULL;
  if (argc < 5) return 1;
  napi_valuetype type;
  if (napi_typeof(env, argv[4], &type) != napi_ok || type == napi_undefined || type == napi_null) return 1;
  a->token = get_token(env, argv[4]);
  if (a->token == NULL) {
    napi_throw_type_error(env, NULL, "cancelToken must come from createCancelToken()");
    return 0;
  }
  a->token_v = argv[4];
  return 1;
}

/* Dups the fds and queues the work; returns NULL after throwing on failure. */
static job *start_job(napi_env env, const args *a, napi_value *promise) {
  job *j = calloc(1, sizeof *j);
  if (j == NULL) {
    napi_throw_error(env, "ENOMEM", "roundtrip_sendfile: out of memory");
    return NULL;
  }
  j->offset = a->offset;
  j->length = a->length;
  j->token = a->token;
  /* Dup now, on the caller's thread, while the caller's fds are known to be valid. */
  j->sock = dup_fd((int)a->sock);
  j->file = j->sock < 0 ? -1 : dup_fd((int)a->file);
  if (j->sock < 0 || j->file < 0) {
    napi_value err = make_error(env, errno, 0);
    release_job(env, j);
    if (err != NULL) napi_throw(env, err);
    return NULL;
  }
  napi_value name;
  if ((a->token_v != NULL && napi_create_reference(env, a->token_v, 1, &j->token_ref) != napi_ok) ||
      napi_create_promise(env, &j->deferred, promise) != napi_ok ||
      napi_create_string_utf8(env, "roundtrip.sendfile", NAPI_AUTO_LENGTH, &name) != napi_ok ||
      napi_create_async_work(env, NULL, name, execute, complete, j, &j->work) != napi_ok ||
      napi_queue_async_work(env, j->work) != napi_ok) {
    /* A deferred that is never settled only leaves an unreachable pending promise. */
    release_job(env, j);
    napi_throw_error(env, NULL, "roundtrip_sendfile: cannot queue work");
    return NULL;
  }
  return j;
}

static napi_value js_sendfile(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5], promise;
  args a;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (!parse_args(env, argv, argc, &a)) return NULL;
  if (start_job(env, &a, &promise) == NULL) return NULL;
  return promise;
}

static void free_token(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  free(data);
}

static napi_value js_create_cancel_token(napi_env env, napi_callback_info info) {
  (void)info;
  cancel_token *t = malloc(sizeof *t);
  if (t == NULL) {
    napi_throw_error(env, "ENOMEM", "roundtrip_sendfile: out of memory");
    return NULL;
  }
  atomic_init(&t->cancelled, 0);
  napi_value external;
  if (napi_create_external(env, t, free_token, NULL, &external) != napi_ok) {
    free(t);
    napi_throw_error(env, NULL, "roundtrip_sendfile: cannot create cancel token");
    return NULL;
  }
  return external;
}

static napi_value js_cancel(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  cancel_token *t = argc >= 1 ? get_token(env, argv[0]) : NULL;
  if (t == NULL) {
    napi_throw_type_error(env, NULL, "cancel(token): token must come from createCancelToken()");
    return NULL;
  }
  atomic_store_explicit(&t->cancelled, 1, memory_order_release);
  return NULL;
}

/* Throws the system Error for a failed TCP_CORK call (`call`: setsockopt or getsockopt). */
static void throw_sockopt_error(napi_env env, int err, const char *call) {
  napi_value error = errno_error(env, err, call, "TCP_CORK");
  if (error == NULL) napi_throw_error(env, NULL, "roundtrip_sendfile: cannot create error");
  else napi_throw(env, error);
}

static napi_value js_set_cork(napi_env env, napi_callback_info info) {
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

static napi_value js_get_cork(napi_env env, napi_callback_info info) {
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

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"sendfile", NULL, js_sendfile, NULL, NULL, NULL, napi_enumerable, NULL},
      {"createCancelToken", NULL, js_create_cancel_token, NULL, NULL, NULL, napi_enumerable, NULL},
      {"cancel", NULL, js_cancel, NULL, NULL, NULL, napi_enumerable, NULL},
      {"setCork", NULL, js_set_cork, NULL, NULL, NULL, napi_enumerable, NULL},
      {"getCork", NULL, js_get_cork, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  CHECK(napi_define_properties(env, exports, sizeof props / sizeof props[0], props));
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
