/*
 * What the zero-copy addon's parts share: the JS-boundary helpers (argument checks,
 * Node-style system errors), the cancel token a pool thread polls, and the clock.
 *
 * The addon has one job per file: sendfile.c (file -> socket, and TCP_CORK), splice.c
 * (socket -> file), common.c (this header's functions), addon.c (the module's exports).
 */
#ifndef ROUNDTRIP_ZEROCOPY_H
#define ROUNDTRIP_ZEROCOPY_H

#include <stdatomic.h>
#include <stdint.h>

#include <node_api.h>

#define CHECK(call)                                                              \
  do {                                                                           \
    if ((call) != napi_ok) {                                                     \
      napi_throw_error(env, NULL, "roundtrip zero-copy: Node-API call failed: " #call); \
      return NULL;                                                               \
    }                                                                            \
  } while (0)

/* One poll(2) wait of a worker; the cancel flag is re-read after each. */
#define POLL_MS 20
/* Time one call may spend waiting on a socket that is not ready, in total, measured
 * (progress in between does not reset it: a slow but steady peer would otherwise hold a
 * pool thread for a whole slice). Past it the call returns what it moved and JavaScript
 * queues the next one, so the thread pool keeps serving other work (fs, dns). */
#define MAX_WAIT_MS 60
/* Time one call may run in all, moving bytes or waiting: past it the call returns what
 * it moved, so JavaScript sees progress at least this often. Returning more often than
 * this costs CPU: each return is a trip through the event loop and the pool. */
#define CALL_BUDGET_MS 50

/* Set from the main thread by cancel(), read by a worker between system calls. */
typedef struct {
  atomic_int cancelled;
} cancel_token;

/* What every job (sendfile.c, splice.c) starts with: the async work, its promise, and the
 * cancel token it polls (kept alive by token_ref while a pool thread reads it). */
typedef struct {
  napi_async_work work;
  napi_deferred deferred;
  napi_ref token_ref;
  cancel_token *token;
} job_base;

/* Creates the job's promise and queues `execute` (pool thread) then `complete` (main
 * thread) with `data`, the job whose first member is `base`. On failure throws and
 * returns 0; the caller frees the job (release_base undoes what was done). */
int queue_job(napi_env env, job_base *base, napi_value token_v, const char *name,
              napi_async_execute_callback execute, napi_async_complete_callback complete, void *data,
              napi_value *promise);

/* Deletes the job's token reference and async work (main thread). */
void release_base(napi_env env, job_base *base);

/* An Error shaped like Node's system errors for errno `err`: code (the errno's name),
 * errno (negative), syscall, and the message "<syscall> [<what> ]<code>: <strerror>".
 * Main thread only. Returns NULL if it cannot. */
napi_value errno_error(napi_env env, int err, const char *syscall, const char *what);

/* An Error with a code that is not an errno (ERR_FILE_SHRANK, ...). NULL if it cannot. */
napi_value coded_error(napi_env env, const char *code, const char *message);

/* Reads a JS number that must be an integer in [0, max]; throws and returns 0 otherwise. */
int get_index(napi_env env, napi_value v, const char *what, double max, int64_t *out);

/* Reads the optional cancel token argument: 1 with *token (NULL when absent), or 0 after
 * throwing when it is not one of createCancelToken()'s. */
int get_optional_token(napi_env env, napi_value v, cancel_token **token);

/* A private close-on-exec dup: the caller's fd number may be reused while a job runs. */
int dup_fd(int fd);

int token_cancelled(const cancel_token *t);

int64_t now_us(void);

/* poll(2) one fd for `events` for at most POLL_MS; 0, or an errno (EBADF for POLLNVAL).
 * POLLERR/POLLHUP also wake it: the next system call then reports the real error. */
int wait_ready(int fd, short events);

napi_value js_create_cancel_token(napi_env env, napi_callback_info info);
napi_value js_cancel(napi_env env, napi_callback_info info);

napi_value js_sendfile(napi_env env, napi_callback_info info);
napi_value js_set_cork(napi_env env, napi_callback_info info);
napi_value js_get_cork(napi_env env, napi_callback_info info);
napi_value js_splice(napi_env env, napi_callback_info info);

#endif
