{
  "targets": [
    {
      "target_name": "hiberkit",
      "conditions": [
        ["OS=='linux'", {
          "sources": [
            "native/addon.cc",
            "native/errors.cc",
            "native/snapshot_device.cc",
            "native/block_device.cc",
            "native/system.cc",
            "native/crc32c.cc",
            "native/lz4.cc",
            "native/codec.cc",
            "native/image_writer.cc",
            "native/write_queue.cc",
            "native/image_crypto.cc",
            "native/critical_section.cc",
            "native/critical_child.cc",
            "native/child_memory.cc",
            "native/progress_line.cc"
          ],
          # Bind every symbol at load time: with lazy binding, the first call of a libc function
          # from the critical-section child (after the freeze) would enter the dynamic loader.
          "ldflags": ["-Wl,-z,now"]
        }, {
          "sources": ["native/unsupported.cc"]
        }]
      ],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=8", "NAPI_DISABLE_CPP_EXCEPTIONS", "NODE_ADDON_API_DISABLE_DEPRECATED"],
      "cflags_cc": ["-std=c++17", "-O2", "-Wall", "-Wextra", "-fno-exceptions"],
      "cflags_cc!": ["-fno-rtti"]
    }
  ]
}
