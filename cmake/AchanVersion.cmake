# achan_check_version(core_h): fails the configure step unless the version
# macros in achan/core.h (ACHAN_VERSION_MAJOR/MINOR/PATCH, which
# achan_version() reports and the single header carries) equal the version
# given to project(). project(VERSION) drives the SONAME, the CMake package
# version and the pkg-config version; this keeps the header from drifting.
function(achan_check_version core_h)
    file(STRINGS "${core_h}" lines REGEX "^#define ACHAN_VERSION_(MAJOR|MINOR|PATCH) ")
    foreach(part MAJOR MINOR PATCH)
        set(value "")
        foreach(line IN LISTS lines)
            if(line MATCHES "^#define ACHAN_VERSION_${part} +([0-9]+)$")
                set(value "${CMAKE_MATCH_1}")
            endif()
        endforeach()
        if(value STREQUAL "")
            message(FATAL_ERROR "${core_h}: no '#define ACHAN_VERSION_${part} <number>'")
        endif()
        list(APPEND header_version "${value}")
    endforeach()
    list(JOIN header_version "." header_version)
    if(NOT header_version STREQUAL PROJECT_VERSION)
        message(FATAL_ERROR "Version mismatch: project(VERSION ${PROJECT_VERSION}) in "
                            "CMakeLists.txt, but ${header_version} in ${core_h}. Change both.")
    endif()
endfunction()
