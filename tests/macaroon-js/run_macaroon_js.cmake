# Runs the macaroon cross-check with node. Invoked by CTest as:
#   cmake -DNODE=... -DJS_DIR=... -DSCRIPT=... -DHELPER=... -P this file
if(NOT EXISTS "${JS_DIR}/node_modules/macaroon/macaroon.js")
  message(FATAL_ERROR "${JS_DIR}/node_modules is missing or incomplete (no macaroon package): run scripts/install-js-deps.sh")
endif()
if(NOT NODE)
  message(FATAL_ERROR "node was not found when configuring: run scripts/install-deps.sh, then re-run cmake")
endif()

execute_process(COMMAND "${NODE}" "${SCRIPT}" "${HELPER}" RESULT_VARIABLE node_rc)
if(NOT node_rc EQUAL 0)
  message(FATAL_ERROR "petalsln's macaroons disagree with the npm macaroon package (see above)")
endif()
