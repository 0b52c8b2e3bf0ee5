{
  "targets": [
    {
      "target_name": "tfjs_backend_torch",
      "sources": ["src/addon.cc"],
      "include_dirs": [
        "<!(node -p \"require('node-addon-api').include_dir\")",
        "<!(node -p \"process.env.TORCH_INCLUDE || '/usr/include'\")"
      ],
      "library_dirs": ["<!(node -p \"process.env.TORCH_LIB || '/usr/lib/x86_64-linux-gnu'\")"],
      "libraries": ["-ltorch_cpu", "-lc10"],
      "defines": ["NAPI_VERSION=8", "NAPI_CPP_EXCEPTIONS"],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions", "-fno-rtti", "-std=gnu++17"],
      "cflags_cc": ["-std=c++17", "-O2", "-ffp-contract=off", "-fexceptions", "-frtti", "-Wno-unused-parameter"]
    }
  ]
}
