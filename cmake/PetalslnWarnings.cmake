# Warnings applied to every petalsln target (not to third-party code).
function(petalsln_set_warnings target)
  target_compile_options(${target} PRIVATE
    -Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor -Wold-style-cast -Wcast-align
    -Woverloaded-virtual -Wconversion -Wsign-conversion -Wnull-dereference
    -Wdouble-promotion -Wformat=2 -Wimplicit-fallthrough)
  if(PETALSLN_WERROR)
    target_compile_options(${target} PRIVATE -Werror)
  endif()
endfunction()

# Warnings for code that includes libtorch: its headers trip -Wshadow/-Wconversion and
# friends, so keep the strict set off for these translation units but everything else on.
function(petalsln_set_torch_warnings target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wno-unused-parameter)
  if(PETALSLN_WERROR)
    target_compile_options(${target} PRIVATE -Werror)
  endif()
endfunction()
