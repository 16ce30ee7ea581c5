# achan_target_warnings(target): achan's warning flags, on achan's own targets
# only (PRIVATE), so nothing leaks into a project that vendors achan.
function(achan_target_warnings target)
    if(CMAKE_C_COMPILER_ID MATCHES "GNU|Clang")
        target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic -Wshadow
                                                 -Wstrict-prototypes -Wmissing-prototypes)
        if(ACHAN_WERROR)
            target_compile_options(${target} PRIVATE -Werror)
        endif()
    endif()
endfunction()
