# Checks what a shared libachan exports (the `exports` test):
#
#   cmake -DNM=nm [-DREADELF=readelf] -DLIBRARY=libachan.so.X.Y.Z
#         [-DSONAME=libachan.so.X] -DHEADERS=include/achan -P AchanCheckExports.cmake
#
# Fails unless every dynamic symbol the library defines is public API
# (achan_ followed by a letter or digit: internal achan__ names and helpers
# stay hidden), every function declared ACHAN_API in the public headers
# (less uv.h, which has its own library) is exported, and the SONAME is
# SONAME.
cmake_minimum_required(VERSION 3.21)
foreach(var NM LIBRARY HEADERS)
    if(NOT ${var})
        message(FATAL_ERROR "AchanCheckExports.cmake: -D${var}=... is required")
    endif()
endforeach()

execute_process(COMMAND "${NM}" -D --defined-only "${LIBRARY}" RESULT_VARIABLE rc
                OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT rc EQUAL 0)
    message(FATAL_ERROR "${NM} -D --defined-only ${LIBRARY} failed: ${err}")
endif()
string(REPLACE "\n" ";" lines "${out}")
set(exported "")
set(bad "")
foreach(line IN LISTS lines)
    # "<address> <type> <name>[@@version]"
    if(NOT line MATCHES "^[0-9a-fA-F]* *[A-Za-z] ([^@ ]+)")
        continue()
    endif()
    set(sym "${CMAKE_MATCH_1}")
    list(APPEND exported "${sym}")
    if(NOT sym MATCHES "^achan_[a-z0-9][a-z0-9_]*$")
        list(APPEND bad "${sym}")
    endif()
endforeach()
list(LENGTH exported n_exported)
if(n_exported EQUAL 0)
    message(FATAL_ERROR "${LIBRARY} exports nothing (is it a shared library?)")
endif()
if(bad)
    list(JOIN bad "\n  " bad)
    message(FATAL_ERROR "${LIBRARY} exports symbols other than achan_*:\n  ${bad}\n"
                        "Everything but the public API must be static or hidden.")
endif()

# Every ACHAN_API function of the public headers.
file(GLOB headers "${HEADERS}/*.h")
list(FILTER headers EXCLUDE REGEX "/uv\\.h$")
set(missing "")
set(n_declared 0)
foreach(h IN LISTS headers)
    file(STRINGS "${h}" decls REGEX "^ACHAN_API ")
    foreach(d IN LISTS decls)
        if(NOT d MATCHES "[ *](achan_[a-z0-9_]+)\\(")
            message(FATAL_ERROR "${h}: cannot find the function name in: ${d}")
        endif()
        math(EXPR n_declared "${n_declared} + 1")
        if(NOT CMAKE_MATCH_1 IN_LIST exported)
            list(APPEND missing "${CMAKE_MATCH_1} (${h})")
        endif()
    endforeach()
endforeach()
if(missing)
    list(JOIN missing "\n  " missing)
    message(FATAL_ERROR "${LIBRARY} does not export these ACHAN_API functions:\n  ${missing}")
endif()

if(SONAME AND READELF)
    execute_process(COMMAND "${READELF}" -d "${LIBRARY}" RESULT_VARIABLE rc OUTPUT_VARIABLE out)
    if(NOT rc EQUAL 0 OR NOT out MATCHES "\\(SONAME\\)[^\n]*\\[([^]\n]+)\\]")
        message(FATAL_ERROR "${READELF} -d ${LIBRARY}: no SONAME")
    endif()
    if(NOT CMAKE_MATCH_1 STREQUAL SONAME)
        message(FATAL_ERROR "${LIBRARY}: SONAME is ${CMAKE_MATCH_1}, expected ${SONAME}")
    endif()
endif()
message(STATUS "${LIBRARY}: exports ${n_exported} achan_* symbols, all ${n_declared} "
               "ACHAN_API functions; SONAME ${SONAME}")
