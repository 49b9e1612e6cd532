# The agent end to end (issue 6 items 6 and 7): kite server with its agent on
# a real containerd inside a network namespace of the test's own, the shared
# acceptance script at level `workload` (all of it), Services through the
# proxy, kite agent adopting running containers, offline survival.
# Skipped (77) without root, kubectl, containerd, ../shared or the images.
if(KITE_BUILD_TESTS)
  add_test(NAME agent_e2e
    COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/agent_e2e.sh $<TARGET_FILE:kite>
      ${CMAKE_SOURCE_DIR}/../shared/acceptance/kubectl-smoke.sh ${CMAKE_BINARY_DIR}/images)
  set_tests_properties(agent_e2e PROPERTIES TIMEOUT 420 SKIP_RETURN_CODE 77 LABELS e2e)
endif()
