# Packaging checks that run with the test suite (ctest label "packaging").
# Included by the top-level CMakeLists.txt when tests are built.
#
#   consumer_single_header  tests/consumers/main.c built on the single header
#                           that scripts/amalgamate.sh generates from this
#                           tree, with this build's compiler, flags,
#                           sanitizers, atomics backend and parker. The
#                           generation fails the build when two sources
#                           define the same file-local name.
#   exports                 shared builds only: the library exports nothing
#                           but achan_* symbols, every ACHAN_API function of
#                           the public headers, and has the right SONAME.
#
# tests/consumers/run.sh covers the rest (installed and vendored builds).

if(UNIX)
    set(achan_single_dir "${achan_BINARY_DIR}/single_header")
    file(GLOB achan_amalgamation_inputs CONFIGURE_DEPENDS "${achan_SOURCE_DIR}/include/achan/*.h"
         "${achan_SOURCE_DIR}/src/*.h" "${achan_SOURCE_DIR}/src/*.c")
    add_custom_command(
        OUTPUT "${achan_single_dir}/achan.h"
        COMMAND sh "${achan_SOURCE_DIR}/scripts/amalgamate.sh" -o "${achan_single_dir}/achan.h"
        DEPENDS "${achan_SOURCE_DIR}/scripts/amalgamate.sh" "${achan_SOURCE_DIR}/CMakeLists.txt"
                "${achan_SOURCE_DIR}/LICENSE" ${achan_amalgamation_inputs}
        COMMENT "Generating the single header achan.h"
        VERBATIM)
    add_executable(consumer_single_header
                   "${achan_SOURCE_DIR}/tests/consumers/main.c"
                   "${achan_SOURCE_DIR}/tests/consumers/single_impl.c" "${achan_single_dir}/achan.h")
    target_include_directories(consumer_single_header PRIVATE "${achan_single_dir}")
    target_compile_definitions(consumer_single_header PRIVATE ACHAN_CONSUMER_SINGLE_HEADER
                               ACHAN_CONSUMER_EXPECT_VERSION="${PROJECT_VERSION}")
    # Strict ISO C (no GNU extensions): the single header must set up its
    # own feature-test macros.
    set_target_properties(consumer_single_header PROPERTIES C_EXTENSIONS OFF)
    if(NOT DEFINED CMAKE_C_STANDARD)
        set_target_properties(consumer_single_header PROPERTIES C_STANDARD 11)
    endif()
    target_link_libraries(consumer_single_header PRIVATE Threads::Threads)
    if(ACHAN_ATOMICS STREQUAL "libatomic_ops")
        target_compile_definitions(consumer_single_header PRIVATE ACHAN_ATOMICS_LIBATOMIC_OPS)
        target_include_directories(consumer_single_header PRIVATE ${ACHAN_ATOMIC_OPS_INCLUDE_DIR})
        target_link_libraries(consumer_single_header PRIVATE ${ACHAN_ATOMIC_OPS_LIBRARY})
    endif()
    if(ACHAN_PARKER STREQUAL "futex")
        target_compile_definitions(consumer_single_header PRIVATE ACHAN_PARKER_FUTEX)
    elseif(ACHAN_PARKER STREQUAL "condvar")
        target_compile_definitions(consumer_single_header PRIVATE ACHAN_PARKER_CONDVAR)
    endif()
    achan_target_warnings(consumer_single_header)
    add_test(NAME consumer_single_header COMMAND consumer_single_header "single header")
    set_tests_properties(consumer_single_header PROPERTIES LABELS packaging TIMEOUT 120)
endif()

if(BUILD_SHARED_LIBS)
    add_test(NAME exports
             COMMAND "${CMAKE_COMMAND}" "-DNM=${CMAKE_NM}" "-DREADELF=${CMAKE_READELF}"
                     "-DLIBRARY=$<TARGET_FILE:achan>" "-DSONAME=$<TARGET_SONAME_FILE_NAME:achan>"
                     "-DHEADERS=${achan_SOURCE_DIR}/include/achan"
                     -P "${achan_SOURCE_DIR}/cmake/AchanCheckExports.cmake")
    set_tests_properties(exports PROPERTIES LABELS packaging TIMEOUT 60)
endif()
