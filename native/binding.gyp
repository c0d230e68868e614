# Builds the optional zero-copy addon (see ../docs/zerocopy.md). Run through
# ../scripts/build-native.mjs, which never fails `npm install`.
{
  "targets": [
    {
      "target_name": "roundtrip_sendfile",
      "sources": ["addon.c", "common.c", "sendfile.c", "splice.c"],
      # _FILE_OFFSET_BITS=64: off_t and sendfile(2) take 64-bit offsets even on 32-bit
      # builds, so ranges past 4 GiB are sent correctly.
      "defines": ["NAPI_VERSION=8", "_GNU_SOURCE", "_FILE_OFFSET_BITS=64"],
      "cflags_c": ["-std=gnu11", "-Wall", "-Wextra", "-Werror=implicit-function-declaration"],
    }
  ]
}
