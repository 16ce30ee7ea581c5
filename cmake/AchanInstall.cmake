# Install rules: the public headers, the library, the CMake package
# (find_package(achan) -> achan::achan) and the pkg-config file (achan.pc).
# Included by the top-level CMakeLists.txt when ACHAN_INSTALL is ON, after
# every library target is defined. Everything installed is relocatable:
# `cmake --install build --prefix DIR` may pick another prefix than the one
# configured.
include(CMakePackageConfigHelpers)

set(ACHAN_INSTALL_CMAKEDIR "${CMAKE_INSTALL_LIBDIR}/cmake/achan")

# The library targets to install: achan, and each optional adapter that this
# build defines (an adapter's header is installed only with its library,
# because only its users have what it includes).
set(achan_install_targets achan)
set(achan_optional_headers uv.h)
if(TARGET achan_uv)
    list(APPEND achan_install_targets achan_uv)
endif()

install(TARGETS ${achan_install_targets} EXPORT achanTargets
        ARCHIVE DESTINATION "${CMAKE_INSTALL_LIBDIR}"
        LIBRARY DESTINATION "${CMAKE_INSTALL_LIBDIR}"
        RUNTIME DESTINATION "${CMAKE_INSTALL_BINDIR}")

# Every header under include/achan (new ones need no edit here), less the
# adapters' headers, which follow their targets.
set(achan_header_excludes "")
foreach(h IN LISTS achan_optional_headers)
    list(APPEND achan_header_excludes PATTERN "${h}" EXCLUDE)
endforeach()
install(DIRECTORY "${achan_SOURCE_DIR}/include/achan" DESTINATION "${CMAKE_INSTALL_INCLUDEDIR}"
        FILES_MATCHING PATTERN "*.h" ${achan_header_excludes})
if(TARGET achan_uv)
    install(FILES "${achan_SOURCE_DIR}/include/achan/uv.h"
            DESTINATION "${CMAKE_INSTALL_INCLUDEDIR}/achan")
endif()

# CMake package: achanConfig.cmake finds the dependencies, then includes
# achanTargets.cmake, which defines achan::achan (and achan::uv when built).
install(EXPORT achanTargets NAMESPACE achan:: DESTINATION "${ACHAN_INSTALL_CMAKEDIR}")

# What achanConfig.cmake must provide before the targets: a static library
# built on libatomic_ops needs libatomic_ops at link time. A shared one
# carries the dependency itself.
if(ACHAN_ATOMICS STREQUAL "libatomic_ops" AND NOT BUILD_SHARED_LIBS)
    set(ACHAN_CONFIG_NEEDS_ATOMIC_OPS ON)
else()
    set(ACHAN_CONFIG_NEEDS_ATOMIC_OPS OFF)
endif()
if(TARGET achan_uv)
    set(ACHAN_CONFIG_HAS_UV ON)
else()
    set(ACHAN_CONFIG_HAS_UV OFF)
endif()
if(BUILD_SHARED_LIBS)
    set(ACHAN_CONFIG_SHARED ON)
else()
    set(ACHAN_CONFIG_SHARED OFF)
endif()
configure_package_config_file(
    "${CMAKE_CURRENT_LIST_DIR}/achanConfig.cmake.in" "${achan_BINARY_DIR}/achanConfig.cmake"
    INSTALL_DESTINATION "${ACHAN_INSTALL_CMAKEDIR}")
write_basic_package_version_file("${achan_BINARY_DIR}/achanConfigVersion.cmake"
                                 VERSION "${PROJECT_VERSION}" COMPATIBILITY SameMajorVersion)
install(FILES "${achan_BINARY_DIR}/achanConfig.cmake" "${achan_BINARY_DIR}/achanConfigVersion.cmake"
        DESTINATION "${ACHAN_INSTALL_CMAKEDIR}")

# pkg-config. Static linking (`pkg-config --static --libs achan`) needs the
# thread library and, with the libatomic_ops backend, libatomic_ops: through
# its own pkg-config module when it has one, else as a plain -l flag.
set(ACHAN_PC_REQUIRES_PRIVATE "")
set(ACHAN_PC_LIBS_PRIVATE "${CMAKE_THREAD_LIBS_INIT}")
if(ACHAN_PC_LIBS_PRIVATE STREQUAL "" AND CMAKE_USE_PTHREADS_INIT)
    # The C library provides pthreads here; -pthread is still what a static
    # link against achan needs on older systems, and harmless on this one.
    set(ACHAN_PC_LIBS_PRIVATE "-pthread")
endif()
if(ACHAN_ATOMICS STREQUAL "libatomic_ops")
    find_package(PkgConfig QUIET)
    if(PKG_CONFIG_FOUND)
        pkg_check_modules(ACHAN_PC_ATOMIC_OPS QUIET atomic_ops)
    endif()
    if(ACHAN_PC_ATOMIC_OPS_FOUND)
        set(ACHAN_PC_REQUIRES_PRIVATE "atomic_ops")
    else()
        string(PREPEND ACHAN_PC_LIBS_PRIVATE "-latomic_ops ")
    endif()
endif()
set(ACHAN_PC_CFLAGS "")
if(BUILD_SHARED_LIBS)
    set(ACHAN_PC_CFLAGS " -DACHAN_SHARED") # As achan::achan's INTERFACE_COMPILE_DEFINITIONS.
endif()
# Paths relative to the .pc file's own directory (${pcfiledir}) unless the
# install directories were given as absolute paths.
set(achan_pc_dir "${CMAKE_INSTALL_LIBDIR}/pkgconfig")
if(IS_ABSOLUTE "${CMAKE_INSTALL_LIBDIR}" OR IS_ABSOLUTE "${CMAKE_INSTALL_INCLUDEDIR}")
    set(ACHAN_PC_PREFIX "${CMAKE_INSTALL_PREFIX}")
    set(ACHAN_PC_LIBDIR "${CMAKE_INSTALL_FULL_LIBDIR}")
    set(ACHAN_PC_INCLUDEDIR "${CMAKE_INSTALL_FULL_INCLUDEDIR}")
else()
    file(RELATIVE_PATH achan_pc_up "/root/${achan_pc_dir}" "/root")
    string(REGEX REPLACE "/$" "" achan_pc_up "${achan_pc_up}")
    set(ACHAN_PC_PREFIX "\${pcfiledir}/${achan_pc_up}")
    set(ACHAN_PC_LIBDIR "\${prefix}/${CMAKE_INSTALL_LIBDIR}")
    set(ACHAN_PC_INCLUDEDIR "\${prefix}/${CMAKE_INSTALL_INCLUDEDIR}")
endif()
configure_file("${CMAKE_CURRENT_LIST_DIR}/achan.pc.in" "${achan_BINARY_DIR}/achan.pc" @ONLY)
install(FILES "${achan_BINARY_DIR}/achan.pc" DESTINATION "${achan_pc_dir}")
if(TARGET achan_uv)
    configure_file("${CMAKE_CURRENT_LIST_DIR}/achan_uv.pc.in" "${achan_BINARY_DIR}/achan_uv.pc" @ONLY)
    install(FILES "${achan_BINARY_DIR}/achan_uv.pc" DESTINATION "${achan_pc_dir}")
endif()
