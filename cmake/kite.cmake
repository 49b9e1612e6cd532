# Helpers that give every folder of DESIGN.md §2 the same shape.
#
# kite_library(NAME <target> DIR <folder> [SOURCES ...] [DEPS ...] [PRIVATE_DEPS ...])
#   A library for one folder. Its headers are reachable as "<folder>/x.h" only
#   by targets that link it: each library publishes an include view of its own
#   (build/inc/<target>/<folder>/x.h -> the source file), never the source
#   root. So an include across a forbidden arrow fails to build.
#   Without SOURCES it is an INTERFACE library (a folder whose code comes later).
#
# kite_test(NAME <binary> SOURCES ... DEPS ...)
#   One GoogleTest binary, registered with ctest.

function(_kite_include_view target dir)
  set(view "${CMAKE_BINARY_DIR}/inc/${target}")
  file(MAKE_DIRECTORY "${view}/${dir}")
  file(GLOB headers CONFIGURE_DEPENDS "${CMAKE_SOURCE_DIR}/${dir}/*.h")
  foreach(h ${headers})
    get_filename_component(name "${h}" NAME)
    file(CREATE_LINK "${h}" "${view}/${dir}/${name}" SYMBOLIC)
  endforeach()
  set(_kite_view "${view}" PARENT_SCOPE)
endfunction()

function(kite_library)
  cmake_parse_arguments(K "" "NAME;DIR" "SOURCES;DEPS;PRIVATE_DEPS" ${ARGN})
  _kite_include_view(${K_NAME} ${K_DIR})
  if(K_SOURCES)
    add_library(${K_NAME} STATIC ${K_SOURCES})
    target_include_directories(${K_NAME} PUBLIC "${_kite_view}")
    target_link_libraries(${K_NAME} PUBLIC ${K_DEPS} PRIVATE ${K_PRIVATE_DEPS})
  else()
    add_library(${K_NAME} INTERFACE)
    target_include_directories(${K_NAME} INTERFACE "${_kite_view}")
    target_link_libraries(${K_NAME} INTERFACE ${K_DEPS})
  endif()
endfunction()

function(kite_test)
  cmake_parse_arguments(K "" "NAME;TIMEOUT" "SOURCES;DEPS" ${ARGN})
  if(NOT KITE_BUILD_TESTS)
    return()
  endif()
  add_executable(${K_NAME} ${K_SOURCES})
  target_link_libraries(${K_NAME} PRIVATE ${K_DEPS} GTest::gtest GTest::gmock Threads::Threads)
  add_test(NAME ${K_NAME} COMMAND ${K_NAME})
  if(K_TIMEOUT)
    set_tests_properties(${K_NAME} PROPERTIES TIMEOUT ${K_TIMEOUT})
  endif()
endfunction()
