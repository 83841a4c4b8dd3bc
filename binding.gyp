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
            "native/image_invalidate.cc",
            "native/write_queue.cc",
            "native/image_crypto.cc",
            "native/critical_section.cc",
            "native/critical_child.cc",
            "native/critical_sequence.cc",
            "native/restore_sequence.cc",
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
    },
    {
      # hiberkit-resume, the native resume program for the initramfs (native/resume/main.cc):
      # no Node, no N-API; libc and the system libcrypto (Debian: libssl-dev to build it).
      "target_name": "hiberkit-resume",
      "type": "executable",
      "conditions": [
        ["OS=='linux'", {
          "sources": [
            "native/resume/main.cc",
            "native/resume/settings.cc",
            "native/resume/resume_location.cc",
            "native/resume/system_facts.cc",
            "native/resume/storage.cc",
            "native/resume/image_reader.cc",
            "native/resume/restore.cc",
            "native/resume/failure.cc",
            "native/resume/crypto.cc",
            "native/resume/sealed_key.cc",
            "native/resume/key_files.cc",
            "native/resume/image_security.cc",
            "native/resume/image_keys.cc",
            "native/resume/passphrase.cc",
            "native/crc32c.cc",
            "native/lz4.cc",
            "native/write_queue.cc",
            "native/image_invalidate.cc",
            "native/critical_sequence.cc",
            "native/restore_sequence.cc",
            "native/child_memory.cc",
            "native/progress_line.cc"
          ],
          "libraries": ["-lcrypto"],
          # Bind every symbol at start: a lazy binding resolved after the freeze would enter the
          # dynamic loader (and perhaps the disk) with user space frozen.
          "ldflags": ["-Wl,-z,now"]
        }, {
          # Elsewhere there is no /dev/snapshot to resume from: nothing to build.
          "type": "none"
        }]
      ],
      # node-gyp puts node's headers first, and they carry node's own copy of OpenSSL's: the system
      # libcrypto is linked, so its headers (/usr/include/openssl, libssl-dev) must be used.
      "include_dirs!": [
        "<(node_root_dir)/include/node",
        "<(node_root_dir)/deps/openssl/config",
        "<(node_root_dir)/deps/openssl/openssl/include"
      ],
      "defines": ["HIBERKIT_VERSION=\"<!(node -p \"require('./package.json').version\")\""],
      # Failure (native/resume/failure.h) is thrown: exceptions in this target only.
      "cflags_cc": ["-std=c++17", "-O2", "-Wall", "-Wextra"],
      "cflags_cc!": ["-fno-exceptions", "-fno-rtti"]
    }
  ]
}
