# Helpers shared by the CMake consumer projects (find_package,
# add_subdirectory, fetchcontent).

set(ACHAN_CONSUMER_DIR "${CMAKE_CURRENT_LIST_DIR}")

# achan_consumer(name): the consumer program (main.c) linked to achan::achan
# alone (which must bring the thread library with it), compiled as strict
# C11 with warnings as errors, so achan's public headers must be clean too.
function(achan_consumer name)
    add_executable(${name} "${ACHAN_CONSUMER_DIR}/main.c")
    target_link_libraries(${name} PRIVATE achan::achan)
    set_target_properties(${name} PROPERTIES C_STANDARD 11 C_STANDARD_REQUIRED ON C_EXTENSIONS OFF)
    if(CMAKE_C_COMPILER_ID MATCHES "GNU|Clang")
        target_compile_options(${name} PRIVATE -Wall -Wextra -Wpedantic -Wshadow
                                               -Wstrict-prototypes -Werror)
    endif()
endfunction()

# The settings of this directory that vendoring achan must leave alone.
set(ACHAN_CONSUMER_WATCHED_VARIABLES
    CMAKE_C_FLAGS CMAKE_C_FLAGS_DEBUG CMAKE_C_FLAGS_RELEASE CMAKE_C_FLAGS_RELWITHDEBINFO
    CMAKE_EXE_LINKER_FLAGS CMAKE_SHARED_LINKER_FLAGS CMAKE_MODULE_PATH CMAKE_C_STANDARD
    CMAKE_C_EXTENSIONS CMAKE_C_VISIBILITY_PRESET CMAKE_POSITION_INDEPENDENT_CODE
    CMAKE_BUILD_TYPE BUILD_SHARED_LIBS BUILD_TESTING)
set(ACHAN_CONSUMER_WATCHED_PROPERTIES
    COMPILE_OPTIONS COMPILE_DEFINITIONS INCLUDE_DIRECTORIES LINK_OPTIONS LINK_DIRECTORIES)

function(achan_consumer_state out)
    set(state "")
    foreach(v IN LISTS ACHAN_CONSUMER_WATCHED_VARIABLES)
        string(APPEND state "variable ${v} = '${${v}}'\n")
    endforeach()
    foreach(p IN LISTS ACHAN_CONSUMER_WATCHED_PROPERTIES)
        get_directory_property(value ${p})
        string(APPEND state "directory property ${p} = '${value}'\n")
    endforeach()
    set(${out} "${state}" PARENT_SCOPE)
endfunction()

# Call before adding achan.
macro(achan_consumer_snapshot)
    achan_consumer_state(ACHAN_CONSUMER_BEFORE)
    set(ACHAN_CONSUMER_HAD_INSTALL_DIRS OFF)
    if(DEFINED CACHE{CMAKE_INSTALL_LIBDIR})
        set(ACHAN_CONSUMER_HAD_INSTALL_DIRS ON)
    endif()
endmacro()

# Call after adding achan from dir: fails the configure step unless achan
# added nothing but its library and changed none of our settings.
function(achan_consumer_check_vendored dir)
    set(errors "")

    achan_consumer_state(after)
    if(NOT after STREQUAL ACHAN_CONSUMER_BEFORE)
        string(APPEND errors "achan changed the parent's settings:\nbefore:\n"
               "${ACHAN_CONSUMER_BEFORE}after:\n${after}")
    endif()

    # Only the library (and the libuv adapter's, when libuv is found): no
    # tests, examples or benchmarks, no subdirectory.
    get_directory_property(targets DIRECTORY "${dir}" BUILDSYSTEM_TARGETS)
    get_directory_property(subdirs DIRECTORY "${dir}" SUBDIRECTORIES)
    get_directory_property(tests DIRECTORY "${dir}" TESTS)
    list(REMOVE_ITEM targets achan_uv)
    if(NOT targets STREQUAL "achan")
        string(APPEND errors "achan defined targets other than its library: ${targets}\n")
    endif()
    if(subdirs)
        string(APPEND errors "achan added subdirectories: ${subdirs}\n")
    endif()
    if(tests)
        string(APPEND errors "achan registered tests: ${tests}\n")
    endif()

    # Nothing top-level only: no directory-wide options (ACHAN_SANITIZE is
    # set for this configure, and must be ignored), no -Werror.
    foreach(p COMPILE_OPTIONS LINK_OPTIONS)
        get_directory_property(value DIRECTORY "${dir}" ${p})
        if(value)
            string(APPEND errors "achan set directory-wide ${p}: ${value}\n")
        endif()
    endforeach()
    get_target_property(options achan COMPILE_OPTIONS)
    if(options MATCHES "-fsanitize" OR (options MATCHES "-Werror" AND NOT ACHAN_WERROR))
        string(APPEND errors "achan compiles with ${options} when vendored\n")
    endif()

    # Nothing but include paths, the C standard and threads for consumers.
    foreach(p INTERFACE_COMPILE_OPTIONS INTERFACE_LINK_OPTIONS)
        get_target_property(value achan ${p})
        if(value)
            string(APPEND errors "achan::achan passes ${p} to consumers: ${value}\n")
        endif()
    endforeach()

    # Without ACHAN_INSTALL (the default when vendored) not even the cache
    # gains install directories.
    if(NOT ACHAN_INSTALL AND NOT ACHAN_CONSUMER_HAD_INSTALL_DIRS
       AND DEFINED CACHE{CMAKE_INSTALL_LIBDIR})
        string(APPEND errors "achan added CMAKE_INSTALL_LIBDIR ... to the cache\n")
    endif()

    if(errors)
        message(FATAL_ERROR "Vendored achan is not self-contained:\n${errors}")
    endif()
    message(STATUS "Vendored achan from ${dir}: library only, parent settings untouched")
endfunction()
