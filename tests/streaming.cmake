# pods/log through the API server to a real kubelet API (fake runtime, real
# log files), driven with the real kubectl (docs/streaming.md).
kite_test(NAME streaming_test SOURCES streaming_test.cpp
  DEPS kite_server kite_kubelet kite_cri kite_tls GTest::gtest_main TIMEOUT 240)
# exec and port-forward to a real, private containerd in a netns of its own
# (needs root and the images the default build makes; skipped otherwise).
if(KITE_BUILD_TESTS)
  add_test(NAME streaming_e2e COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/streaming_e2e.sh
    $<TARGET_FILE:streaming_test> ${CMAKE_BINARY_DIR}/images)
  set_tests_properties(streaming_e2e PROPERTIES TIMEOUT 300 SKIP_RETURN_CODE 77)
endif()
