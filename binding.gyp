{
  "targets": [
    {
      "target_name": "bsd_sockets",
      "sources": [
        "native/addon.cc",
        "native/async_call.cc",
        "native/calls.cc",
        "native/cmsg.cc",
        "native/constants.cc",
        "native/epoll.cc",
        "native/fd_registry.cc",
        "native/sanitizer.cc",
        "native/sockaddr.cc",
        "native/sockopt.cc",
        "native/trace.cc",
        "native/watch.cc"
      ],
      "dependencies": [
        "<!(node -p \"require('node-addon-api').targets\"):node_addon_api_except"
      ],
      "defines": ["NAPI_VERSION=8", "NODE_ADDON_API_DISABLE_DEPRECATED"],
      "cflags_cc!": ["-std=gnu++17"],
      "cflags_cc": ["-std=c++17", "-Wall", "-Wextra", "-Werror"],
      "xcode_settings": {
        "CLANG_CXX_LANGUAGE_STANDARD": "c++17",
        "GCC_ENABLE_CPP_EXCEPTIONS": "YES",
        "OTHER_CPLUSPLUSFLAGS": ["-Wall", "-Wextra"]
      },
      "conditions": [
        ["OS==\"mac\"", {
          "defines": ["__APPLE_USE_RFC_3542"]
        }]
      ]
    }
  ]
}
