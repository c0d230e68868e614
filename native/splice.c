/*
 * splice(socketFd, fileFd, length, cancelToken?) -> Promise<number>
 *   Moves at most `length` bytes from a socket to a file with splice(2), socket -> pipe ->
 *   file, on a pool thread: the bytes go from the socket's receive queue to the page cache
 *   without passing through JavaScript. They are written at the file's current position,
 *   which advances, as write(2) would. Resolves with:
 *     n > 0  bytes moved (fewer than `length` after CALL_BUDGET_MS: the caller calls again),
 *     0      nothing arrived for MAX_WAIT_MS in all (the caller checks its own stall timer
 *            and calls again),
 *     -1     the peer's FIN came before any byte in this call (end of stream).
 *   Rejects with an Error whose `code` is the errno name: ECONNRESET (a reset), ENOSPC or
 *   EDQUOT (disk full), ECANCELED after cancel(), EINVAL when the socket or the file
 *   cannot be spliced (an O_APPEND file is refused before anything is read, so the caller
 *   can fall back with no byte lost). Errors carry `bytesMoved`: what this call wrote to
 *   the file before failing.
 *
 * The pipe is the job's own, made and closed by it. Every byte read from the socket is
 * written to the file before the call returns: if the file system cannot take a splice,
 * what sits in the pipe is copied with read(2)/write(2).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/types.h>
#include <unistd.h>

#include "zerocopy.h"

/* Pipe capacity asked for: fewer round trips per MiB. The kernel may refuse (over
 * /proc/sys/fs/pipe-max-size, or the user's pipe quota): then the default 64 KiB serves. */
#define PIPE_SIZE (1 << 20)

typedef struct {
  job_base base;      /* first: the work, its promise and the cancel token */
  int sock;           /* private dup of the socket fd */
  int file;           /* private dup of the file fd */
  int pipe_r, pipe_w; /* this job's pipe */
  size_t pipe_cap;
  int64_t length;
  int64_t moved;      /* bytes written to the file */
  int eof;
  int err;
} job;

/* Writes the `n` bytes that sit in the pipe with read(2)/write(2): for files whose file
 * system has no splice_write. Returns 0 or an errno. */
static int copy_pipe(job *j, size_t n) {
  char buf[16384];
  while (n > 0) {
    ssize_t r = read(j->pipe_r, buf, n < sizeof buf ? n : sizeof buf);
    if (r < 0) {
      if (errno == EINTR) continue;
      return errno;
    }
    if (r == 0) return EIO; /* cannot happen: the pipe holds n bytes */
    size_t off = 0;
    while (off < (size_t)r) {
      ssize_t w = write(j->file, buf + off, (size_t)r - off);
      if (w < 0) {
        if (errno == EINTR) continue;
        return errno;
      }
      off += (size_t)w;
      j->moved += w;
    }
    n -= (size_t)r;
  }
  return 0;
}

/* Moves the `n` bytes in the pipe to the file. Returns 0 or an errno. */
static int drain_pipe(job *j, size_t n) {
  while (n > 0) {
    ssize_t m = splice(j->pipe_r, NULL, j->file, NULL, n, SPLICE_F_MOVE);
    if (m > 0) {
      n -= (size_t)m;
      j->moved += m;
      continue;
    }
    if (m < 0 && errno == EINTR) continue;
    if (m < 0 && (errno == EINVAL || errno == ENOSYS || errno == EOPNOTSUPP)) return copy_pipe(j, n);
    return m == 0 ? EIO : errno;
  }
  return 0;
}

static void execute(napi_env env, void *data) {
  (void)env; /* no Node-API calls are allowed on a pool thread */
  job *j = data;
  int64_t started = now_us();
  int64_t waited_us = 0;
  while (j->moved < j->length) {
    if (token_cancelled(j->base.token)) {
      j->err = ECANCELED;
      return;
    }
    int64_t left = j->length - j->moved;
    size_t want = left > (int64_t)j->pipe_cap ? j->pipe_cap : (size_t)left;
    /* The pipe is empty here (every turn drains it), so this never blocks on the pipe;
     * the socket is O_NONBLOCK (Node's). */
    ssize_t n = splice(j->sock, NULL, j->pipe_w, NULL, want, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
    if (n > 0) {
      int derr = drain_pipe(j, (size_t)n);
      if (derr != 0) {
        j->err = derr;
        return;
      }
      if (now_us() - started >= CALL_BUDGET_MS * 1000) return; /* report progress */
      continue;
    }
    if (n == 0) {
      /* FIN. Bytes already moved are reported first; the next call sees it again. */
      if (j->moved == 0) j->eof = 1;
      return;
    }
    if (errno == EINTR) continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK) {
      j->err = errno;
      return;
    }
    if (j->moved > 0 || waited_us >= MAX_WAIT_MS * 1000) return; /* report; caller goes on */
    int64_t before = now_us();
    int werr = wait_ready(j->sock, POLLIN);
    if (werr != 0) {
      j->err = werr;
      return;
    }
    waited_us += now_us() - before;
  }
}

static void release_job(napi_env env, job *j) {
  if (j->sock >= 0) close(j->sock);
  if (j->file >= 0) close(j->file);
  if (j->pipe_r >= 0) close(j->pipe_r);
  if (j->pipe_w >= 0) close(j->pipe_w);
  release_base(env, &j->base);
  free(j);
}

static napi_value make_error(napi_env env, int err, int64_t moved) {
  napi_value error = errno_error(env, err, "splice", NULL);
  if (error == NULL) return NULL;
  napi_value num;
  napi_create_int64(env, moved, &num);
  napi_set_named_property(env, error, "bytesMoved", num);
  return error;
}

static void complete(napi_env env, napi_status status, void *data) {
  job *j = data;
  napi_value result;
  if (status == napi_cancelled) j->err = ECANCELED;
  if (j->err == 0) {
    napi_create_int64(env, j->eof ? -1 : j->moved, &result);
    napi_resolve_deferred(env, j->base.deferred, result);
  } else {
    result = make_error(env, j->err, j->moved);
    if (result == NULL) napi_get_undefined(env, &result);
    napi_reject_deferred(env, j->base.deferred, result);
  }
  release_job(env, j);
}

/* Throws the system error for errno `err` and frees the job. */
static napi_value fail_start(napi_env env, job *j, int err) {
  napi_value error = make_error(env, err, 0);
  release_job(env, j);
  if (error != NULL) napi_throw(env, error);
  return NULL;
}

napi_value js_splice(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4], promise;
  int64_t sock, file, length;
  cancel_token *token = NULL;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 3) {
    napi_throw_type_error(env, NULL, "splice(socketFd, fileFd, length, cancelToken?)");
    return NULL;
  }
  const double max_safe = 9007199254740991.0;
  if (!get_index(env, argv[0], "socketFd", INT_MAX, &sock) ||
      !get_index(env, argv[1], "fileFd", INT_MAX, &file) ||
      !get_index(env, argv[2], "length", max_safe, &length) ||
      (argc >= 4 && !get_optional_token(env, argv[3], &token)))
    return NULL;

  job *j = calloc(1, sizeof *j);
  if (j == NULL) {
    napi_throw_error(env, "ENOMEM", "roundtrip zero-copy: out of memory");
    return NULL;
  }
  j->sock = j->file = j->pipe_r = j->pipe_w = -1;
  j->length = length;
  j->base.token = token;
  /* splice(2) refuses a target opened with O_APPEND, but only after the bytes have left
   * the socket: refuse before reading anything, so the caller's fallback loses nothing. */
  int fl = fcntl((int)file, F_GETFL);
  if (fl < 0) return fail_start(env, j, errno);
  if (fl & O_APPEND) return fail_start(env, j, EINVAL);
  j->sock = dup_fd((int)sock);
  if (j->sock < 0) return fail_start(env, j, errno);
  j->file = dup_fd((int)file);
  if (j->file < 0) return fail_start(env, j, errno);
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) return fail_start(env, j, errno);
  j->pipe_r = fds[0];
  j->pipe_w = fds[1];
  fcntl(j->pipe_w, F_SETPIPE_SZ, PIPE_SIZE); /* best effort */
  int cap = fcntl(j->pipe_w, F_GETPIPE_SZ);
  j->pipe_cap = cap > 0 ? (size_t)cap : 65536;

  if (!queue_job(env, &j->base, argv[3], "roundtrip.splice", execute, complete, j, &promise)) {
    release_job(env, j);
    return NULL;
  }
  return promise;
}
