# The service proxy's iptables mode end to end (docs/proxy.md): kite server
# --proxy-mode iptables with its agent on a real containerd inside a network
# namespace of the test's own; ClusterIP by name from a pod, NodePort,
# scale-down, --proxy-cleanup. Skipped (77) without root, kubectl,
# containerd, iptables-nft or the busybox image.
if(KITE_BUILD_TESTS)
  add_test(NAME proxy_iptables_e2e
    COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/proxy_iptables_e2e.sh $<TARGET_FILE:kite>
      ${CMAKE_BINARY_DIR}/images)
  set_tests_properties(proxy_iptables_e2e PROPERTIES TIMEOUT 300 SKIP_RETURN_CODE 77 LABELS e2e)
endif()
