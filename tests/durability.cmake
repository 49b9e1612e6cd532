# Durability tests of the SQLite datastore (issue 2 items 5 and 6): crash
# safety under SIGKILL, the disk bound, idle CPU. The full-size versions run
# from bench/crash.sh, bench/disk.sh and bench/idle.sh.
include(${PROJECT_SOURCE_DIR}/bench/durability/workload.cmake)

add_executable(kite_crash_writer crash_writer.cpp)
target_link_libraries(kite_crash_writer PRIVATE kite_datastore Threads::Threads)

kite_test(NAME crash_test SOURCES crash_test.cpp
  DEPS kite_datastore kite::sqlite3 GTest::gtest_main TIMEOUT 300)
if(TARGET crash_test)
  target_compile_definitions(crash_test PRIVATE
    KITE_CRASH_WRITER_PATH="$<TARGET_FILE:kite_crash_writer>")
  add_dependencies(crash_test kite_crash_writer)
endif()

kite_test(NAME disk_bound_test SOURCES disk_bound_test.cpp
  DEPS kite_durability_workload kite_datastore GTest::gtest_main TIMEOUT 300)
kite_test(NAME idle_cpu_test SOURCES idle_cpu_test.cpp
  DEPS kite_durability_workload kite_datastore GTest::gtest_main TIMEOUT 120)
