# End-to-end tests of the real kite binary (the commands a user types).
kite_test(NAME kite_cli_test SOURCES kite_cli_test.cpp DEPS kite_tls kite::json GTest::gtest_main TIMEOUT 120)
if(TARGET kite_cli_test)
  target_compile_definitions(kite_cli_test PRIVATE KITE_BINARY="$<TARGET_FILE:kite>")
  add_dependencies(kite_cli_test kite)
endif()
