# cmake --install: headers, the C++ static layers and the C shared library, the CMake package
# (petalsln::petalsln, petalsln::c) and the pkg-config module `petalsln` (the C library). The
# examples install themselves (examples/*/CMakeLists.txt).
include(CMakePackageConfigHelpers)

set(PETALSLN_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/petalsln)

install(DIRECTORY ${PROJECT_SOURCE_DIR}/include/petalsln DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}
        FILES_MATCHING PATTERN "*.hpp")

# Every static library the C++ target reaches goes into the export set (CMake needs them
# to describe petalsln::petalsln's link line).
set(_petalsln_static petalsln_util petalsln_net petalsln_model petalsln_text petalsln_swarm
    petalsln_lightning petalsln_rpc petalsln_server petalsln_client petalsln_gateway petalsln_swarm_proto
    petalsln_blocks_proto)
install(TARGETS petalsln ${_petalsln_static} petalsln_c EXPORT petalslnTargets
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
        LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
        RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR}
        PUBLIC_HEADER DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}
        INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(EXPORT petalslnTargets NAMESPACE petalsln:: DESTINATION ${PETALSLN_CMAKE_DIR})

set(PETALSLN_EXTRA_PC_MODULE "")
if(PETALSLN_GRPCPP_TARGET STREQUAL "PkgConfig::GRPCPP")
  set(PETALSLN_EXTRA_PC_MODULE "GRPCPP=grpc++")
endif()
configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/petalslnConfig.cmake.in
  ${PROJECT_BINARY_DIR}/petalslnConfig.cmake INSTALL_DESTINATION ${PETALSLN_CMAKE_DIR})
write_basic_package_version_file(${PROJECT_BINARY_DIR}/petalslnConfigVersion.cmake
  VERSION ${PROJECT_VERSION} COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/petalslnConfig.cmake ${PROJECT_BINARY_DIR}/petalslnConfigVersion.cmake
        DESTINATION ${PETALSLN_CMAKE_DIR})

# pkg-config finds the prefix from the file's own folder: one ".." per component of
# <libdir>/pkgconfig.
string(REGEX MATCHALL "[^/]+" _pc_parts "${CMAKE_INSTALL_LIBDIR}/pkgconfig")
set(PETALSLN_PC_UP "")
foreach(_p IN LISTS _pc_parts)
  string(APPEND PETALSLN_PC_UP "../")
endforeach()
string(REGEX REPLACE "/$" "" PETALSLN_PC_UP "${PETALSLN_PC_UP}")
configure_file(${PROJECT_SOURCE_DIR}/cmake/petalsln.pc.in ${PROJECT_BINARY_DIR}/petalsln.pc @ONLY)
install(FILES ${PROJECT_BINARY_DIR}/petalsln.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
