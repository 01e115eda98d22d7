# Runs the BOLT11 cross-check: petalsln creates invoices, npm bolt11 decodes them and signs
# its own, petalsln decodes those. Invoked by CTest as:
#   cmake -DNODE=... -DJS_DIR=... -DWORK_DIR=... -DHELPER=... -P this file
if(NOT EXISTS "${JS_DIR}/node_modules/bolt11/payreq.js")
  message(FATAL_ERROR "${JS_DIR}/node_modules is missing or incomplete: run scripts/install-js-deps.sh")
endif()
if(NOT NODE)
  message(FATAL_ERROR "node was not found when configuring: run scripts/install-deps.sh, then re-run cmake")
endif()

set(created "${WORK_DIR}/bolt11-petalsln.json")
set(signed "${WORK_DIR}/bolt11-npm.json")
string(RANDOM LENGTH 9 ALPHABET 0123456789 seed)
message(STATUS "seed ${seed} (rerun a failure with: ${HELPER} create 300 ${seed} OUT.json)")

execute_process(COMMAND "${HELPER}" create 300 ${seed} "${created}" RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "petalsln-bolt11-js-helper create failed (${rc})")
endif()
execute_process(COMMAND "${NODE}" "${JS_DIR}/check_bolt11.js" "${created}" "${signed}" 150
                WORKING_DIRECTORY "${JS_DIR}" RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "npm bolt11 disagrees with petalsln's invoices (see above)")
endif()
execute_process(COMMAND "${HELPER}" check "${signed}" RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "petalsln disagrees with npm bolt11's invoices (see above)")
endif()
