/*
 * roundtrip's zero-copy addon (Node-API, C): moves bytes between files and sockets in the
 * kernel, in the libuv thread pool, so they never pass through JavaScript buffers.
 * src/body/zerocopy.ts is its only caller; docs/zerocopy.md says when each path runs.
 *
 * JS API:
 *   sendfile(socketFd, fileFd, offset, length, cancelToken?) -> Promise<number>   (sendfile.c)
 *   splice(socketFd, fileFd, length, cancelToken?) -> Promise<number>            (splice.c)
 *   createCancelToken() -> token;  cancel(token) -> undefined                   (common.c)
 *   setCork(socketFd, on) -> undefined;  getCork(socketFd) -> boolean            (sendfile.c)
 *
 * Rules every part keeps:
 * - Never blocks the event loop: all I/O happens on a pool thread.
 * - Never changes the socket's flags. Node keeps it O_NONBLOCK; on EAGAIN a worker waits
 *   with poll(2) in POLL_MS steps, re-reading the cancel flag after every wait, so a peer
 *   that stalls forever cannot pin a thread past cancel().
 * - Works on private dups of the fds, taken synchronously on the main thread: if the
 *   caller closes its socket or file while a call runs, the fd numbers may be reused by
 *   unrelated files; the dups guarantee we keep using the ones we were given.
 */
#include "zerocopy.h"

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"sendfile", NULL, js_sendfile, NULL, NULL, NULL, napi_enumerable, NULL},
      {"splice", NULL, js_splice, NULL, NULL, NULL, napi_enumerable, NULL},
      {"createCancelToken", NULL, js_create_cancel_token, NULL, NULL, NULL, napi_enumerable, NULL},
      {"cancel", NULL, js_cancel, NULL, NULL, NULL, napi_enumerable, NULL},
      {"setCork", NULL, js_set_cork, NULL, NULL, NULL, napi_enumerable, NULL},
      {"getCork", NULL, js_get_cork, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  CHECK(napi_define_properties(env, exports, sizeof props / sizeof props[0], props));
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
