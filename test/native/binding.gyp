# The test addon: N-API entries only tests use (the C++ image writer on memory, the image cipher
# on its own, the CRC32C table path, the compiled-in ioctl and errno tables), built next to the
# production addon by `npm run build:native` into test/native/build/ and never shipped or
# prebuilt. It compiles the production sources it exercises from ../../native/.
{
  "targets": [
    {
      "target_name": "hiberkit_test",
      "sources": [
        "test_addon.cc",
        "image_writer_entries.cc",
        "codec_entries.cc",
        "device_table_entries.cc",
        "../../native/errors.cc",
        "../../native/crc32c.cc",
        "../../native/lz4.cc",
        "../../native/image_writer.cc",
        "../../native/image_invalidate.cc",
        "../../native/write_queue.cc",
        "../../native/image_crypto.cc"
      ],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=8", "NAPI_DISABLE_CPP_EXCEPTIONS", "NODE_ADDON_API_DISABLE_DEPRECATED"],
      "cflags_cc": ["-std=c++17", "-O2", "-Wall", "-Wextra", "-fno-exceptions"],
      "cflags_cc!": ["-fno-rtti"]
    },
    {
      # hiberkit-resume's key handling (native/resume/) in a program of its own, linked like
      # hiberkit-resume with the system libcrypto (keys_probe.cc says why not in the addon above).
      "target_name": "hiberkit_keys_probe",
      "type": "executable",
      "sources": [
        "keys_probe.cc",
        "../../native/resume/failure.cc",
        "../../native/resume/crypto.cc",
        "../../native/resume/sealed_key.cc",
        "../../native/resume/key_files.cc",
        "../../native/resume/image_security.cc",
        "../../native/resume/image_keys.cc",
        "../../native/resume/passphrase.cc"
      ],
      # node-gyp puts node's headers first, and they carry node's own copy of OpenSSL's: the
      # system libcrypto is linked, so its headers (/usr/include/openssl, libssl-dev) must be used.
      "include_dirs!": [
        "<(node_root_dir)/include/node",
        "<(node_root_dir)/deps/openssl/config",
        "<(node_root_dir)/deps/openssl/openssl/include"
      ],
      "libraries": ["-lcrypto"],
      "cflags_cc": ["-std=c++17", "-O2", "-Wall", "-Wextra"],
      "cflags_cc!": ["-fno-exceptions", "-fno-rtti"]
    }
  ]
}
