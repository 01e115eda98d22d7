# The layer check (docs/DESIGN.md, "The layer matrix"): every build runs
# scripts/check_layers.py over src/, include/, capi/ and examples/, so an include that crosses
# the matrix fails `cmake --build`; CTest runs the same check as two named tests.
find_package(Python3 REQUIRED COMPONENTS Interpreter)
file(GLOB_RECURSE _petalsln_checked_sources CONFIGURE_DEPENDS
  ${PROJECT_SOURCE_DIR}/src/*.hpp ${PROJECT_SOURCE_DIR}/src/*.cpp
  ${PROJECT_SOURCE_DIR}/include/*.hpp
  ${PROJECT_SOURCE_DIR}/capi/*.h ${PROJECT_SOURCE_DIR}/capi/*.hpp ${PROJECT_SOURCE_DIR}/capi/*.cpp
  ${PROJECT_SOURCE_DIR}/examples/*.hpp ${PROJECT_SOURCE_DIR}/examples/*.cpp)
set(_petalsln_layer_stamp ${PROJECT_BINARY_DIR}/petalsln-layer-check.stamp)
add_custom_command(OUTPUT ${_petalsln_layer_stamp}
  COMMAND Python3::Interpreter ${PROJECT_SOURCE_DIR}/scripts/check_layers.py --stamp ${_petalsln_layer_stamp}
          ${PROJECT_SOURCE_DIR}
  DEPENDS ${PROJECT_SOURCE_DIR}/scripts/check_layers.py ${PROJECT_SOURCE_DIR}/docs/DESIGN.md
          ${_petalsln_checked_sources}
  COMMENT "Checking includes against the layer matrix (docs/DESIGN.md)"
  VERBATIM)
add_custom_target(petalsln_layer_check ALL DEPENDS ${_petalsln_layer_stamp})
# Every layer's library waits for the check, so a forbidden include stops the build early.
foreach(_layer util net model text swarm lightning rpc server client gateway)
  add_dependencies(petalsln_${_layer} petalsln_layer_check)
endforeach()
