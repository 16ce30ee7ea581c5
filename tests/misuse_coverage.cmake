# misuse_coverage.cmake - fails when a public function (ACHAN_API, or an
# inline helper: `static inline` at the start of a line, in include/achan/*.h)
# is not called by tests/test_misuse.c, so the misuse test keeps up with the
# headers.
#
#   cmake -DINC=<include/achan> -DTEST=<tests/test_misuse.c> -P misuse_coverage.cmake
file(GLOB headers "${INC}/*.h")
file(READ "${TEST}" test_src)
set(missing "")
set(count 0)
foreach(h IN LISTS headers)
    # ACHAN_API functions, and the inline helpers (waker.h, timer.h) whose
    # preconditions are debug-build asserts.
    file(STRINGS "${h}" lines REGEX "^(ACHAN_API|static inline) ")
    foreach(line IN LISTS lines)
        # The name is the identifier right before the first '(' on the line.
        if(NOT line MATCHES "([a-z_][a-z0-9_]*)[ ]*\\(")
            message(FATAL_ERROR "misuse_coverage: cannot parse '${line}' in ${h}")
        endif()
        set(name "${CMAKE_MATCH_1}")
        math(EXPR count "${count} + 1")
        string(REGEX MATCH "[^a-z0-9_]${name}\\(" found "${test_src}")
        if(NOT found)
            get_filename_component(hname "${h}" NAME)
            list(APPEND missing "${name} (${hname})")
        endif()
    endforeach()
endforeach()
if(count LESS 100)
    message(FATAL_ERROR "misuse_coverage: only ${count} ACHAN_API functions found in ${INC}")
endif()
if(missing)
    list(JOIN missing "\n  " text)
    message(FATAL_ERROR "test_misuse.c does not call these public functions:\n  ${text}")
endif()
message(STATUS "misuse_coverage: all ${count} public functions are called by test_misuse.c")
