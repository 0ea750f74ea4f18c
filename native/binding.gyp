# Build with `npm run build:native` (node-gyp rebuild -C native).
# Output: native/build/Release/ipvs_ts_native.node (loaded after a prebuilt in
# native/prebuilds/<platform>-<arch>/, see src/netlink/addon-path.ts).
{
  "targets": [
    {
      "target_name": "ipvs_ts_native",
      "sources": [
        "src/addon.cc",
        "src/connector.cc",
        "src/errors.cc",
        "src/file.cc",
        "src/netns.cc",
        "src/poll-handle.cc",
        "src/socket.cc"
      ],
      "include_dirs": [
        "<!(node -p \"require('node-addon-api').include_dir\")"
      ],
      "defines": [
        # Node-API version 8 only (Node.js >= 12.22, 14.17, 16): the binary calls
        # nothing but napi_* and libuv, so the one prebuilt linux-x64 binary in the
        # package (native/prebuilds/, made by scripts/prepack.mjs) serves every
        # Node.js version the package supports. See docs/native.md.
        "NAPI_VERSION=8",
        # C++ exceptions are enabled: Napi::Error is thrown as a C++ exception and
        # turned into a JavaScript exception at the N-API boundary.
        "NAPI_CPP_EXCEPTIONS",
        "NODE_ADDON_API_DISABLE_DEPRECATED"
      ],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions", "-std=gnu++17"],
      "cflags": ["-fvisibility=hidden", "-Wall", "-Wextra"],
      "cflags_cc": ["-std=c++17", "-fexceptions", "-fvisibility=hidden", "-fvisibility-inlines-hidden"]
    }
  ]
}
