# pods/log through the API server to a real kubelet API (fake runtime, real
# log files), driven with the real kubectl (docs/streaming.md).
kite_test(NAME streaming_test SOURCES streaming_test.cpp
  DEPS kite_server kite_kubelet kite_cri kite_tls GTest::gtest_main TIMEOUT 240)
