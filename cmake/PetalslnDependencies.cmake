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
