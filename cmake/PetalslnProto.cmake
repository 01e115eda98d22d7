# petalsln_proto_library(TARGET name PROTOS files... [GRPC] [DEPENDS proto_targets...]
#                        [PROTO_ROOT dir])
#
# Compiles .proto files at build time with protoc (and grpc_cpp_plugin when GRPC is given) and
# wraps the generated sources in a static, position-independent library named `name`.
#
# - PROTO_ROOT (default: <project>/proto) is the import root: a file proto/petalsln/v1/x.proto
#   generates petalsln/v1/x.pb.{h,cc}, so code includes "petalsln/v1/x.pb.h".
# - Every proto library writes into one shared folder, <build>/generated/proto, which is
#   exposed as a SYSTEM include directory (generated code is not held to our warning set).
# - DEPENDS names other proto libraries whose .proto files these import; their generated
#   headers and sources are reused (linked), never compiled twice.
function(petalsln_proto_library)
  cmake_parse_arguments(ARG "GRPC" "TARGET;PROTO_ROOT" "PROTOS;DEPENDS" ${ARGN})
  if(NOT ARG_TARGET OR NOT ARG_PROTOS)
    message(FATAL_ERROR "petalsln_proto_library: TARGET and PROTOS are required")
  endif()
  if(NOT ARG_PROTO_ROOT)
    set(ARG_PROTO_ROOT "${PROJECT_SOURCE_DIR}/proto")
  endif()
  if(ARG_GRPC AND NOT PETALSLN_GRPC_CPP_PLUGIN)
    message(FATAL_ERROR "petalsln_proto_library(${ARG_TARGET} GRPC): grpc_cpp_plugin was not found")
  endif()
  set(out_dir "${PROJECT_BINARY_DIR}/generated/proto")
  file(MAKE_DIRECTORY "${out_dir}")

  set(generated)
  foreach(proto IN LISTS ARG_PROTOS)
    get_filename_component(proto_abs "${proto}" ABSOLUTE)
    file(RELATIVE_PATH rel "${ARG_PROTO_ROOT}" "${proto_abs}")
    if(rel MATCHES "^\\.\\.")
      message(FATAL_ERROR "petalsln_proto_library: ${proto} is outside ${ARG_PROTO_ROOT}")
    endif()
    string(REGEX REPLACE "\\.proto$" "" stem "${rel}")
    set(outputs "${out_dir}/${stem}.pb.h" "${out_dir}/${stem}.pb.cc")
    set(plugin_args)
    set(plugin_deps)
    if(ARG_GRPC)
      list(APPEND outputs "${out_dir}/${stem}.grpc.pb.h" "${out_dir}/${stem}.grpc.pb.cc")
      set(plugin_args "--grpc_out=${out_dir}" "--plugin=protoc-gen-grpc=${PETALSLN_GRPC_CPP_PLUGIN}")
      set(plugin_deps "${PETALSLN_GRPC_CPP_PLUGIN}")
    endif()
    add_custom_command(
      OUTPUT ${outputs}
      COMMAND ${PETALSLN_PROTOC} "--proto_path=${ARG_PROTO_ROOT}" "--cpp_out=${out_dir}"
              ${plugin_args} "${proto_abs}"
      DEPENDS "${proto_abs}" ${PETALSLN_PROTOC} ${plugin_deps}
      COMMENT "protoc ${rel}"
      VERBATIM)
    list(APPEND generated ${outputs})
  endforeach()

  add_library(${ARG_TARGET} STATIC ${generated})
  set_target_properties(${ARG_TARGET} PROPERTIES POSITION_INDEPENDENT_CODE ON)
  target_include_directories(${ARG_TARGET} SYSTEM PUBLIC "$<BUILD_INTERFACE:${out_dir}>")
  target_link_libraries(${ARG_TARGET} PUBLIC protobuf::libprotobuf ${ARG_DEPENDS})
  if(ARG_GRPC)
    target_link_libraries(${ARG_TARGET} PUBLIC ${PETALSLN_GRPCPP_TARGET})
  endif()
endfunction()
