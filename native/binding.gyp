# Build with `npm run build:native` (node-gyp rebuild -C native).
# Output: native/build/Release/ipvs_ts_native.node
{
  "targets": [
    {
      "target_name": "ipvs_ts_native",
      "sources": [
        "src/addon.cc",
        "src/errors.cc",
        "src/file.cc",
        "src/netns.cc",
        "src/socket.cc"
      ],
      "include_dirs": [
        "<!(node -p \"require('node-addon-api').include_dir\")"
      ],
      "defines": [
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
