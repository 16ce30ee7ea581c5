# Runs the compiler on typed_compile_fail.c for each case: case 0 (correct
# types) must compile, cases 1..6 (wrong types) must fail with a diagnostic
# about incompatible types. So the check fails both if typed.h stops
# catching wrong types and if the file fails to compile for another reason.
#   cmake -DCC=<compiler> -DSRC=<file> -DINC=<include dir> -P typed_compile_fail.cmake
foreach(case RANGE 0 6)
    execute_process(COMMAND ${CC} -std=c11 -Wall -Werror -fsyntax-only -I${INC}
                            -DTYPED_CASE=${case} ${SRC}
                    RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
    if(case EQUAL 0)
        if(NOT rc EQUAL 0)
            message(FATAL_ERROR "case 0 (correct types) does not compile:\n${err}")
        endif()
    else()
        if(rc EQUAL 0)
            message(FATAL_ERROR "case ${case} (a wrong type) compiled")
        endif()
        if(NOT err MATCHES "incompatible")
            message(FATAL_ERROR "case ${case} failed, but not for a type mismatch:\n${err}")
        endif()
    endif()
endforeach()
message(STATUS "typed.h: the correct case compiles, all 6 wrong-type cases are rejected")
