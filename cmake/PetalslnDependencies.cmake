# Every dependency is a Debian bookworm package installed by scripts/install-deps.sh.
find_package(Threads REQUIRED)
find_package(PkgConfig REQUIRED)
find_package(nlohmann_json 3.10 REQUIRED)
find_package(fmt REQUIRED)
pkg_check_modules(PCRE2 REQUIRED IMPORTED_TARGET libpcre2-8)
pkg_check_modules(ICU REQUIRED IMPORTED_TARGET icu-uc)
find_package(Torch REQUIRED)

# The swarm layer: signatures, hashing, the DHT, and the protobuf schema.
find_package(OpenSSL REQUIRED)
pkg_check_modules(SECP256K1 REQUIRED IMPORTED_TARGET libsecp256k1)
# OpenDHT's own CMake config needs PkgConfig targets for its private dependencies; its
# pkg-config file is the dependable way in.
pkg_check_modules(OPENDHT REQUIRED IMPORTED_TARGET opendht)
find_package(Protobuf REQUIRED)
if(TARGET protobuf::protoc)
  set(PETALSLN_PROTOC protobuf::protoc)
else()
  set(PETALSLN_PROTOC ${Protobuf_PROTOC_EXECUTABLE})
endif()

# gRPC (for the rpc layer's service stubs): its CMake config on bookworm, else pkg-config.
find_package(gRPC CONFIG QUIET)
if(TARGET gRPC::grpc++)
  set(PETALSLN_GRPCPP_TARGET gRPC::grpc++)
else()
  pkg_check_modules(GRPCPP IMPORTED_TARGET grpc++)
  if(GRPCPP_FOUND)
    set(PETALSLN_GRPCPP_TARGET PkgConfig::GRPCPP)
  endif()
endif()
if(TARGET gRPC::grpc_cpp_plugin)
  set(PETALSLN_GRPC_CPP_PLUGIN $<TARGET_FILE:gRPC::grpc_cpp_plugin>)
else()
  find_program(PETALSLN_GRPC_CPP_PLUGIN grpc_cpp_plugin)
endif()

include(PetalslnProto)

# The lightning layer's devnet wallet and durable stores: SQLite (WAL, shared by processes).
pkg_check_modules(SQLITE3 REQUIRED IMPORTED_TARGET sqlite3)

# Lightning addresses and the REST wallet backends: HTTPS through libcurl.
find_package(CURL REQUIRED)

# The net layer's WebSocket client: Boost.Beast on Boost.Asio (header-only; Debian's
# libboost-dev, 1.74 on bookworm).
find_package(Boost 1.74 REQUIRED)

# The example programs' command lines (examples/common/cli.hpp; the benchmarks and the wallet
# conformance tool use it too): CLI11, header-only. Debian's libcli11-dev (2.1.2 on bookworm)
# ships a CMake config under /usr/share/cmake; without one, the header alone will do.
if(PETALSLN_BUILD_EXAMPLES OR PETALSLN_BUILD_TESTS OR PETALSLN_BUILD_BENCH)
  find_package(CLI11 2.1 CONFIG QUIET)
  if(NOT TARGET CLI11::CLI11)
    find_path(PETALSLN_CLI11_INCLUDE_DIR CLI/CLI.hpp)
    if(NOT PETALSLN_CLI11_INCLUDE_DIR)
      message(FATAL_ERROR "CLI11 not found: install libcli11-dev (scripts/install-deps.sh)")
    endif()
    add_library(CLI11::CLI11 INTERFACE IMPORTED)
    target_include_directories(CLI11::CLI11 INTERFACE ${PETALSLN_CLI11_INCLUDE_DIR})
  endif()
endif()
