# -DPETALSLN_SANITIZE=address,undefined builds everything with those sanitizers.
if(PETALSLN_SANITIZE)
  string(REPLACE "," ";" _pln_sanitizers "${PETALSLN_SANITIZE}")
  foreach(_s IN LISTS _pln_sanitizers)
    if(NOT _s MATCHES "^(address|undefined|leak|thread)$")
      message(FATAL_ERROR "PETALSLN_SANITIZE: unknown sanitizer '${_s}'")
    endif()
  endforeach()
  string(REPLACE ";" "," _pln_flag "${_pln_sanitizers}")
  add_compile_options(-fsanitize=${_pln_flag} -fno-omit-frame-pointer -fno-sanitize-recover=undefined)
  add_link_options(-fsanitize=${_pln_flag})
  set(PETALSLN_SANITIZE_FLAGS "-fsanitize=${_pln_flag} -fno-omit-frame-pointer")
  # A program that is not built with the sanitizer (python3, a consumer built by a test) can
  # load our instrumented shared library only with the ASan runtime preloaded. Tests that start
  # such programs put this in LD_PRELOAD (see tests/python, tests/install).
  # libstdc++ is preloaded too: ASan intercepts __cxa_throw when it starts, and finds nothing
  # to forward to if libstdc++ only arrives later with our library (then every throw aborts).
  if(_pln_sanitizers MATCHES "address")
    execute_process(COMMAND ${CMAKE_CXX_COMPILER} -print-file-name=libasan.so
                    OUTPUT_VARIABLE _pln_asan OUTPUT_STRIP_TRAILING_WHITESPACE)
    execute_process(COMMAND ${CMAKE_CXX_COMPILER} -print-file-name=libstdc++.so
                    OUTPUT_VARIABLE _pln_stdcxx OUTPUT_STRIP_TRAILING_WHITESPACE)
    set(PETALSLN_ASAN_RUNTIME "${_pln_asan}:${_pln_stdcxx}")
  endif()
endif()
