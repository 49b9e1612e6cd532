# The durability workloads (workload.h) as a library, shared by the benchmarks
# here and by their short versions in tests/. Included from both places;
# whichever comes first defines it, so it exists whether or not the
# benchmarks are built.
if(NOT TARGET kite_durability_workload)
  kite_library(NAME kite_durability_workload DIR bench/durability
    SOURCES ${PROJECT_SOURCE_DIR}/bench/durability/workload.cpp
    DEPS kite_datastore kite_common PRIVATE_DEPS Threads::Threads)
endif()
