# PodSyncer (agent/kubelet) against a real `kite server`, checked with the
# real kubectl; the runtime is the in-memory FakeRuntime (issue 6 item 4).
kite_test(NAME kubelet_server_test SOURCES kubelet_server_test.cpp
  DEPS kite_kubelet kite_client GTest::gtest_main TIMEOUT 180)
if(TARGET kubelet_server_test)
  target_compile_definitions(kubelet_server_test PRIVATE KITE_BINARY="$<TARGET_FILE:kite>")
  add_dependencies(kubelet_server_test kite)
endif()
