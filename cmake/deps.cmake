# Third-party libraries: Debian's static archives (DESIGN.md §3), the same
# names on the host and in a cross sysroot. Each becomes an imported target
# kite::<name>. cpp-httplib is header-only from Debian's source package,
# unpacked into .deps/ by scripts/deps.sh.

find_package(Threads REQUIRED)

function(kite_static_dep target lib header)
  find_library(KITE_LIB_${target} NAMES lib${lib}.a REQUIRED)
  add_library(kite::${target} STATIC IMPORTED GLOBAL)
  set_target_properties(kite::${target} PROPERTIES IMPORTED_LOCATION "${KITE_LIB_${target}}")
endfunction()

kite_static_dep(sqlite3 sqlite3 sqlite3.h)
target_link_libraries(kite::sqlite3 INTERFACE Threads::Threads ${CMAKE_DL_LIBS} m)
kite_static_dep(mbedcrypto mbedcrypto mbedtls/aes.h)
kite_static_dep(mbedx509 mbedx509 mbedtls/x509.h)
kite_static_dep(mbedtls mbedtls mbedtls/ssl.h)
target_link_libraries(kite::mbedx509 INTERFACE kite::mbedcrypto)
target_link_libraries(kite::mbedtls INTERFACE kite::mbedx509)
kite_static_dep(yamlcpp yaml-cpp yaml-cpp/yaml.h)
kite_static_dep(uv uv_a uv.h)
target_link_libraries(kite::uv INTERFACE Threads::Threads ${CMAKE_DL_LIBS})
kite_static_dep(nghttp2 nghttp2 nghttp2/nghttp2.h)
kite_static_dep(zlib z zlib.h)

# nlohmann-json is header-only.
find_path(KITE_NLOHMANN_INCLUDE nlohmann/json.hpp REQUIRED)
add_library(kite::json INTERFACE IMPORTED GLOBAL)
target_include_directories(kite::json SYSTEM INTERFACE "${KITE_NLOHMANN_INCLUDE}")

set(KITE_HTTPLIB_DIR "${CMAKE_SOURCE_DIR}/.deps/cpp-httplib" CACHE PATH "cpp-httplib source (scripts/deps.sh)")
if(NOT EXISTS "${KITE_HTTPLIB_DIR}/httplib.h")
  message(FATAL_ERROR "cpp-httplib not found in ${KITE_HTTPLIB_DIR}: run scripts/deps.sh")
endif()
add_library(kite::httplib INTERFACE IMPORTED GLOBAL)
target_include_directories(kite::httplib SYSTEM INTERFACE "${KITE_HTTPLIB_DIR}")
target_compile_definitions(kite::httplib INTERFACE CPPHTTPLIB_USE_POLL)
target_link_libraries(kite::httplib INTERFACE Threads::Threads)

if(KITE_BUILD_TESTS)
  find_package(GTest REQUIRED)
endif()
