{
  "targets": [
    {
      "target_name": "tsbox",
      "sources": ["native/addon.cc", "native/bpf.cc", "native/datagram.cc"],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=8", "NAPI_DISABLE_CPP_EXCEPTIONS", "NODE_ADDON_API_DISABLE_DEPRECATED"],
      "cflags_cc": ["-std=c++17", "-Wall", "-Wextra", "-Wno-unused-parameter"]
    },
    {
      # The container's init starts as this program: small, static and
      # single-threaded (see native/helper/main.cc for why). Static, so that
      # exec is fast and nothing from the host's library path is loaded into
      # a process that is about to enter the container.
      "target_name": "tsbox-helper",
      "type": "executable",
      "sources": [
        "native/helper/main.cc",
        "native/helper/spawner.cc",
        "native/helper/copyup.cc",
        "native/helper/plan.cc",
        "native/helper/dump.cc",
        "native/helper/procfs.cc",
        "native/helper/rootfs.cc",
        "native/helper/move_root.cc",
        "native/helper/net_devices.cc",
        "native/helper/init.cc",
        "native/helper/passwd.cc",
        "native/helper/process_attrs.cc",
        "native/helper/cpu_affinity.cc",
        "native/helper/time_ns.cc",
        "native/helper/mempolicy.cc",
        "native/helper/seccomp.cc",
        "native/helper/userns.cc"
      ],
      "cflags_cc": ["-std=c++17", "-O2", "-Wall", "-Wextra", "-fno-exceptions", "-fno-rtti"],
      "cflags!": ["-fPIC"],
      "ldflags": ["-static", "-no-pie"],
      # libseccomp (Debian: libseccomp-dev) builds and loads linux.seccomp;
      # -static makes the linker take its archive.
      "libraries": ["-lseccomp"]
    }
  ]
}
