// Unit tests of kite_cri without a runtime: the runtime.v1 codec against
// byte strings derived by hand from api.proto's field numbers (tag byte =
// field << 3 | wire type), response decoding, endpoint parsing, and the
// client's errors when nothing listens. The test against a real containerd
// is in cri_containerd_test.cpp.
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>

#include "agent/cri/cri_client.h"
#include "agent/cri/cri_proto.h"

namespace kite::cri {
namespace {

std::string Hex(std::string_view s) {
  static const char* d = "0123456789abcdef";
  std::string r;
  for (unsigned char c : s) {
    r.push_back(d[c >> 4]);
    r.push_back(d[c & 15]);
  }
  return r;
}

// Hex digits to bytes; spaces are ignored so byte strings can be grouped by
// field. Quoted runs ('...') are taken literally.
std::string Bytes(std::string_view spec) {
  std::string out;
  for (size_t i = 0; i < spec.size();) {
    char c = spec[i];
    if (c == ' ') {
      ++i;
    } else if (c == '\'') {
      size_t end = spec.find('\'', i + 1);
      out.append(spec.substr(i + 1, end - i - 1));
      i = end + 1;
    } else {
      out.push_back(static_cast<char>(
          std::stoi(std::string(spec.substr(i, 2)), nullptr, 16)));
      i += 2;
    }
  }
  return out;
}

// ------------------------------------------------------------ requests

TEST(CriProtoTest, VersionAndStatusRequests) {
  // VersionRequest{version(1) = "0.1.0"}: 0a = field 1, length-delimited.
  EXPECT_EQ(Hex(EncodeVersionRequest(kCriApiVersion)),
            Hex(Bytes("0a 05 '0.1.0'")));
  // StatusRequest{verbose(1) = true}: 08 = field 1, varint.
  EXPECT_EQ(Hex(EncodeStatusRequest(true)), "0801");
  EXPECT_EQ(EncodeStatusRequest(false), "");
}

TEST(CriProtoTest, IdRequests) {
  EXPECT_EQ(Hex(EncodePodSandboxIdRequest("abc")), Hex(Bytes("0a 03 'abc'")));
  // PodSandboxStatusRequest{pod_sandbox_id(1), verbose(2)}.
  EXPECT_EQ(Hex(EncodePodSandboxStatusRequest("abc", true)),
            Hex(Bytes("0a 03 'abc' 10 01")));
  // StopContainerRequest{container_id(1), timeout(2) = 30 (0x1e)}.
  EXPECT_EQ(Hex(EncodeStopContainerRequest("abc", 30)),
            Hex(Bytes("0a 03 'abc' 10 1e")));
  // timeout 0 (kill at once) is the proto3 default: not written.
  EXPECT_EQ(Hex(EncodeStopContainerRequest("abc", 0)),
            Hex(Bytes("0a 03 'abc'")));
  EXPECT_EQ(Hex(EncodeContainerStatusRequest("c1", false)),
            Hex(Bytes("0a 02 'c1'")));
}

TEST(CriProtoTest, RunPodSandboxRequest) {
  PodSandboxConfig c;
  c.metadata = {"n", "u", "d", 1};
  // RunPodSandboxRequest{config(1): PodSandboxConfig{
  //   metadata(1): {name(1) "n", uid(2) "u", namespace(3) "d", attempt(4) 1},
  //   linux(8): LinuxPodSandboxConfig{security_context(2):
  //     LinuxSandboxSecurityContext{namespace_options(1): {pid(2) = 1}}}}}
  // The linux config is sent even though only pid = CONTAINER is set.
  EXPECT_EQ(Hex(EncodeRunPodSandboxRequest(c)),
            Hex(Bytes("0a 15"
                      " 0a 0b 0a 01 'n' 12 01 'u' 1a 01 'd' 20 01"
                      " 42 06 12 04 0a 02 10 01")));

  // run_as_user = 0 (root) is an Int64Value present but empty: 1a 00.
  c.run_as_user = 0;
  c.cgroup_parent = "/p";
  c.hostname = "h";
  c.log_directory = "/l";
  c.labels = {{"b", "2"}, {"a", "1"}};  // map entries in key order
  c.dns_config.servers = {"1.1.1.1"};
  c.port_mappings = {{Protocol::kUdp, 53, 5353, ""}};
  EXPECT_EQ(
      Hex(EncodePodSandboxConfig(c)),
      Hex(Bytes("0a 0b 0a 01 'n' 12 01 'u' 1a 01 'd' 20 01"
                " 12 01 'h'"                   // hostname(2)
                " 1a 02 '/l'"                  // log_directory(3)
                " 22 09 0a 07 '1.1.1.1'"       // dns_config(4){servers(1)}
                " 2a 07 08 01 10 35 18 e9 29"  // port_mappings(5): UDP 53 5353
                " 32 06 0a 01 'a' 12 01 '1'"   // labels(6) "a"
                " 32 06 0a 01 'b' 12 01 '2'"   // labels(6) "b"
                // linux(8){cgroup_parent(1), security_context(2){
                //   namespace_options(1){pid 1}, run_as_user(3){}}}
                " 42 0c 0a 02 '/p' 12 06 0a 02 10 01 1a 00")));
}

TEST(CriProtoTest, CreateContainerRequest) {
  ContainerConfig c;
  c.name = "c";
  c.image = "img";
  c.command = {"sh"};
  c.labels = {{"k", "v"}};
  c.log_path = "c/0.log";
  // ContainerConfig{metadata(1){name(1)}, image(2){image(1)}, command(3),
  //   labels(9), log_path(11), linux(15){security_context(2){
  //   namespace_options(3){pid(2) = 1}}}}; field 15 -> tag 0x7a.
  const std::string container =
      "0a 03 0a 01 'c'"
      " 12 05 0a 03 'img'"
      " 1a 02 'sh'"
      " 4a 06 0a 01 'k' 12 01 'v'"
      " 5a 07 'c/0.log'"
      " 7a 06 12 04 1a 02 10 01";
  EXPECT_EQ(Hex(EncodeContainerConfig(c)), Hex(Bytes(container)));

  PodSandboxConfig sandbox;
  sandbox.metadata = {"n", "u", "d", 0};
  // CreateContainerRequest{pod_sandbox_id(1), config(2), sandbox_config(3)}:
  // sandbox_config is always sent (containerd 1.6 dereferences it).
  EXPECT_EQ(Hex(EncodeCreateContainerRequest("s", c, sandbox)),
            Hex(Bytes("0a 01 's' 12 29 " + container +
                      " 1a 13 0a 09 0a 01 'n' 12 01 'u' 1a 01 'd'"
                      " 42 06 12 04 0a 02 10 01")));
}

TEST(CriProtoTest, ContainerConfigLinuxFields) {
  ContainerConfig c;
  c.name = "x";
  c.image = "i";
  c.envs = {{"A", "1"}};
  c.mounts = {{"/c", "/h", true, MountPropagation::kHostToContainer}};
  c.resources.cpu_quota = 50000;
  c.resources.memory_limit_in_bytes = 1 << 20;
  ContainerSecurityContext& s = c.security_context;
  s.add_capabilities = {"NET_ADMIN"};
  s.drop_capabilities = {"ALL"};
  s.run_as_user = 1000;
  s.run_as_group = 0;
  s.readonly_rootfs = true;
  s.supplemental_groups = {1, 300};
  s.no_new_privs = true;
  EXPECT_EQ(
      Hex(EncodeContainerConfig(c)),
      Hex(Bytes("0a 03 0a 01 'x'"
                " 12 03 0a 01 'i'"
                " 32 06 0a 01 'A' 12 01 '1'"  // envs(6): KeyValue
                // mounts(7): container_path, host_path, readonly(3),
                // propagation(5) = HOST_TO_CONTAINER
                " 3a 0c 0a 02 '/c' 12 02 '/h' 18 01 28 01"
                // linux(15) = 50 bytes
                " 7a 32"
                // resources(1): cpu_quota(2) 50000, memory_limit(4) 2^20
                "  0a 08 10 d0 86 03 20 80 80 40"
                // security_context(2) = 38 bytes
                "  12 26"
                "   0a 10 0a 09 'NET_ADMIN' 12 03 'ALL'"  // capabilities(1)
                "   1a 02 10 01"     // namespace_options(3): pid CONTAINER
                "   2a 03 08 e8 07"  // run_as_user(5): Int64Value 1000
                "   38 01"           // readonly_rootfs(7)
                "   42 03 01 ac 02"  // supplemental_groups(8), packed
                "   58 01"           // no_new_privs(11)
                "   62 00")));       // run_as_group(12): Int64Value 0
}

TEST(CriProtoTest, ListFilters) {
  // No filter at all: an empty request.
  EXPECT_EQ(EncodeListPodSandboxRequest({}), "");
  EXPECT_EQ(EncodeListContainersRequest({}), "");
  // PodSandboxFilter{state(2): PodSandboxStateValue{} (READY = 0, so the
  // wrapper is empty but present), label_selector(3): {a: b}}.
  PodSandboxFilter pf;
  pf.state = SandboxState::kReady;
  pf.label_selector = {{"a", "b"}};
  EXPECT_EQ(Hex(EncodeListPodSandboxRequest(pf)),
            Hex(Bytes("0a 0a 12 00 1a 06 0a 01 'a' 12 01 'b'")));
  // ContainerFilter{state(2){state(1) EXITED}, pod_sandbox_id(3),
  // label_selector(4)}.
  ContainerFilter cf;
  cf.state = ContainerState::kExited;
  cf.pod_sandbox_id = "s";
  cf.label_selector = {{"a", "b"}};
  EXPECT_EQ(
      Hex(EncodeListContainersRequest(cf)),
      Hex(Bytes("0a 0f 12 02 08 02 1a 01 's' 22 06 0a 01 'a' 12 01 'b'")));
}

TEST(CriProtoTest, ExecAndStreamingRequests) {
  // ExecSyncRequest{container_id(1), cmd(2) repeated, timeout(3)}.
  EXPECT_EQ(Hex(EncodeExecSyncRequest("c", {"ls", "-l"}, 5)),
            Hex(Bytes("0a 01 'c' 12 02 'ls' 12 02 '-l' 18 05")));
  // ExecRequest{container_id, cmd, tty(3), stdin(4), stdout(5), stderr(6)}.
  ExecRequest exec;
  exec.container_id = "c";
  exec.cmd = {"sh"};
  exec.tty = true;
  exec.use_stdin = true;
  exec.use_stderr = false;
  EXPECT_EQ(Hex(EncodeExecRequest(exec)),
            Hex(Bytes("0a 01 'c' 12 02 'sh' 18 01 20 01 28 01")));
  // AttachRequest{container_id, stdin(2), tty(3), stdout(4), stderr(5)}.
  AttachRequest attach;
  attach.container_id = "c";
  EXPECT_EQ(Hex(EncodeAttachRequest(attach)),
            Hex(Bytes("0a 01 'c' 20 01 28 01")));
  // PortForwardRequest{pod_sandbox_id, port(2) packed int32: 80 = 50,
  // 8080 = 90 3f}.
  EXPECT_EQ(Hex(EncodePortForwardRequest("p", {80, 8080})),
            Hex(Bytes("0a 01 'p' 12 03 50 90 3f")));
}

TEST(CriProtoTest, ImageRequests) {
  // ImageStatusRequest / RemoveImageRequest{image(1): ImageSpec{image(1)}}.
  EXPECT_EQ(Hex(EncodeImageSpecRequest("busybox:1")),
            Hex(Bytes("0a 0b 0a 09 'busybox:1'")));
  EXPECT_EQ(EncodeListImagesRequest(), "");
}

// ------------------------------------------------------------ responses

TEST(CriProtoTest, DecodeVersionAndStatus) {
  auto v = DecodeVersionResponse(
      Bytes("0a 05 '0.1.0' 12 0a 'containerd' 1a 0a '1.6.20~ds1' 22 02 'v1'"));
  ASSERT_TRUE(v.ok()) << v.status().ToString();
  EXPECT_EQ(v->version, "0.1.0");
  EXPECT_EQ(v->runtime_name, "containerd");
  EXPECT_EQ(v->runtime_version, "1.6.20~ds1");
  EXPECT_EQ(v->runtime_api_version, "v1");

  // StatusResponse{status(1): RuntimeStatus{conditions(1) x2}, info(2)}.
  auto conditions =
      DecodeStatusResponse(Bytes("0a 12"
                                 " 0a 05 0a 01 'R' 10 01"
                                 " 0a 09 0a 01 'N' 1a 01 'r' 22 01 'm'"
                                 " 12 06 0a 01 'k' 12 01 'v'"));
  ASSERT_TRUE(conditions.ok()) << conditions.status().ToString();
  ASSERT_EQ(conditions->size(), 2u);
  EXPECT_EQ((*conditions)[0].type, "R");
  EXPECT_TRUE((*conditions)[0].status);
  EXPECT_EQ((*conditions)[1].type, "N");
  EXPECT_FALSE((*conditions)[1].status);
  EXPECT_EQ((*conditions)[1].reason, "r");
  EXPECT_EQ((*conditions)[1].message, "m");
}

TEST(CriProtoTest, DecodePodSandboxStatus) {
  auto s = DecodePodSandboxStatusResponse(
      Bytes("0a 34"
            " 0a 01 's'"
            " 12 03 0a 01 'n'"
            " 18 01"  // state NOTREADY
            " 20 05"  // created_at
            // network(5){ip(1), additional_ips(2): PodIP{ip(1)}}
            " 2a 13 0a 08 '10.0.0.2' 12 07 0a 05 'fd::2'"
            // linux(6){namespaces(1){options(2){network(1) NODE}}}
            " 32 06 0a 04 12 02 08 02"
            " 3a 06 0a 01 'a' 12 01 'b'"      // labels(7)
            " 4a 01 'x'"                      // runtime_handler(9): skipped
            " 12 0a 0a 04 'info' 12 02 '{}'"  // info(2)
            " 20 07"));                       // timestamp(4): skipped
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(s->id, "s");
  EXPECT_EQ(s->metadata.name, "n");
  EXPECT_EQ(s->state, SandboxState::kNotReady);
  EXPECT_EQ(s->created_at, 5);
  EXPECT_EQ(s->ip, "10.0.0.2");
  EXPECT_EQ(s->additional_ips, std::vector<std::string>{"fd::2"});
  EXPECT_EQ(s->namespace_options.network, NamespaceMode::kNode);
  EXPECT_EQ(s->namespace_options.pid, NamespaceMode::kPod);  // absent = POD
  EXPECT_EQ(s->labels, (Labels{{"a", "b"}}));
  EXPECT_EQ(s->info, (std::map<std::string, std::string>{{"info", "{}"}}));
}

TEST(CriProtoTest, DecodeListPodSandbox) {
  auto items = DecodeListPodSandboxResponse(
      Bytes("0a 22 0a 01 's' 12 0b 0a 01 'n' 12 01 'u' 1a 01 'd' 20 01"
            " 20 01 2a 06 0a 01 'a' 12 01 'b' 32 06 0a 01 'c' 12 01 'd'"
            " 0a 03 0a 01 't'"));
  ASSERT_TRUE(items.ok()) << items.status().ToString();
  ASSERT_EQ(items->size(), 2u);
  const PodSandbox& p = (*items)[0];
  EXPECT_EQ(p.id, "s");
  EXPECT_EQ(p.metadata.name, "n");
  EXPECT_EQ(p.metadata.uid, "u");
  EXPECT_EQ(p.metadata.namespace_, "d");
  EXPECT_EQ(p.metadata.attempt, 1u);
  EXPECT_EQ(p.state, SandboxState::kReady);  // absent = READY (0)
  EXPECT_EQ(p.created_at, 1);
  EXPECT_EQ(p.labels, (Labels{{"a", "b"}}));
  EXPECT_EQ(p.annotations, (Labels{{"c", "d"}}));
  EXPECT_EQ((*items)[1].id, "t");
}

TEST(CriProtoTest, DecodeContainers) {
  auto items = DecodeListContainersResponse(
      Bytes("0a 22 0a 01 'c' 12 01 's' 1a 03 0a 01 'x' 22 03 0a 01 'i'"
            " 2a 01 'r' 30 01 38 03 42 06 0a 01 'a' 12 01 'b'"
            " 52 01 'q'"  // image_id(10): skipped
            " 0a 03 0a 01 'd'"));
  ASSERT_TRUE(items.ok()) << items.status().ToString();
  ASSERT_EQ(items->size(), 2u);
  EXPECT_EQ((*items)[1].id, "d");
  EXPECT_EQ((*items)[1].state, ContainerState::kCreated);  // absent = 0
  const Container& c = (*items)[0];
  EXPECT_EQ(c.id, "c");
  EXPECT_EQ(c.pod_sandbox_id, "s");
  EXPECT_EQ(c.name, "x");
  EXPECT_EQ(c.image, "i");
  EXPECT_EQ(c.image_ref, "r");
  EXPECT_EQ(c.state, ContainerState::kRunning);
  EXPECT_EQ(c.created_at, 3);
  EXPECT_EQ(c.labels, (Labels{{"a", "b"}}));

  // ContainerStatusResponse; exit_code -1 is a 10-byte varint (int32).
  auto st = DecodeContainerStatusResponse(
      Bytes("0a 3b 0a 01 'c' 12 05 0a 01 'x' 10 02 18 02 30 09"
            " 38 ff ff ff ff ff ff ff ff ff 01"
            " 42 03 0a 01 'i' 4a 08 'sha256:1' 52 05 'Error'"
            " 7a 0a '/l/x/0.log'"));
  ASSERT_TRUE(st.ok()) << st.status().ToString();
  EXPECT_EQ(st->id, "c");
  EXPECT_EQ(st->name, "x");
  EXPECT_EQ(st->attempt, 2u);
  EXPECT_EQ(st->state, ContainerState::kExited);
  EXPECT_EQ(st->finished_at, 9);
  EXPECT_EQ(st->exit_code, -1);
  EXPECT_EQ(st->image, "i");
  EXPECT_EQ(st->image_ref, "sha256:1");
  EXPECT_EQ(st->reason, "Error");
  EXPECT_EQ(st->log_path, "/l/x/0.log");
}

TEST(CriProtoTest, DecodeExecAndUrls) {
  auto r = DecodeExecSyncResponse(Bytes("0a 03 'hi\n' 12 01 'e' 18 07"));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->stdout_bytes, "hi\n");
  EXPECT_EQ(r->stderr_bytes, "e");
  EXPECT_EQ(r->exit_code, 7);
  auto url = DecodeStringField1(Bytes("0a 0e 'http://x/exec/'"));
  ASSERT_TRUE(url.ok());
  EXPECT_EQ(*url, "http://x/exec/");
}

TEST(CriProtoTest, DecodeImages) {
  // containerd answers an absent image with an empty response.
  auto absent = DecodeImageStatusResponse("");
  ASSERT_TRUE(absent.ok());
  EXPECT_FALSE(absent->has_value());
  auto empty = DecodeImageStatusResponse(Bytes("0a 00"));
  ASSERT_TRUE(empty.ok());
  EXPECT_FALSE(empty->has_value());

  auto present = DecodeImageStatusResponse(
      Bytes("0a 1d 0a 09 'sha256:ab' 12 02 't1' 12 02 't2' 1a 01 'd'"
            " 20 ac 02 2a 00 40 01"  // size 300, uid(5) and pinned(8) skipped
            " 12 00"));              // an empty info entry
  ASSERT_TRUE(present.ok()) << present.status().ToString();
  ASSERT_TRUE(present->has_value());
  const Image& image = **present;
  EXPECT_EQ(image.id, "sha256:ab");
  EXPECT_EQ(image.repo_tags, (std::vector<std::string>{"t1", "t2"}));
  EXPECT_EQ(image.repo_digests, std::vector<std::string>{"d"});
  EXPECT_EQ(image.size, 300u);

  auto list =
      DecodeListImagesResponse(Bytes("0a 03 0a 01 'a' 0a 05 0a 01 'b' 20 07"));
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->size(), 2u);
  EXPECT_EQ((*list)[0].id, "a");
  EXPECT_EQ((*list)[1].id, "b");
  EXPECT_EQ((*list)[1].size, 7u);
}

TEST(CriProtoTest, MalformedResponsesAreErrors) {
  // Truncated at the top level, and inside a nested message.
  EXPECT_EQ(DecodeContainerStatusResponse(Bytes("0a 05 0a")).status().code(),
            Code::kInvalidArgument);
  EXPECT_EQ(DecodeContainerStatusResponse(Bytes("0a 02 12 05")).status().code(),
            Code::kInvalidArgument);
  EXPECT_EQ(DecodePodSandboxStatusResponse(Bytes("0a 04 2a 02 0a 09"))
                .status()
                .code(),
            Code::kInvalidArgument);
  EXPECT_EQ(DecodeListImagesResponse(Bytes("0a 02 12 7f")).status().code(),
            Code::kInvalidArgument);
  EXPECT_EQ(DecodeVersionResponse(Bytes("ff")).status().code(),
            Code::kInvalidArgument);
}

// ------------------------------------------------------------ client

TEST(CriClientTest, Endpoints) {
  EXPECT_EQ(*CriSocketTarget("unix:///run/c.sock"), "unix:/run/c.sock");
  EXPECT_EQ(*CriSocketTarget("unix:/run/c.sock"), "unix:/run/c.sock");
  EXPECT_EQ(*CriSocketTarget("/run/c.sock"), "unix:/run/c.sock");
  for (const char* bad :
       {"", "unix://", "c.sock", "tcp://127.0.0.1:1", "127.0.0.1:10010"}) {
    EXPECT_EQ(CriSocketTarget(bad).status().code(), Code::kInvalidArgument)
        << bad;
    EXPECT_EQ(ConnectCri(bad).status().code(), Code::kInvalidArgument) << bad;
  }
}

TEST(CriClientTest, NothingListeningIsUnavailable) {
  char tmpl[] = "/tmp/kite-cri-unit-XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  std::string dir = tmpl;
  std::string sock = dir + "/none.sock";
  auto runtime = ConnectCri("unix://" + sock);
  EXPECT_EQ(runtime.status().code(), Code::kUnavailable)
      << runtime.status().ToString();

  // A socket file nobody accepts on (bound, never listened): refused.
  int fd = socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", sock.c_str());
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  CriClientOptions options;
  options.endpoint = sock;
  auto client = CriClient::Create(options);
  ASSERT_TRUE(client.ok());
  auto list = (*client)->ListPodSandbox({});
  EXPECT_EQ(list.status().code(), Code::kUnavailable);
  EXPECT_NE(list.status().message().find("ListPodSandbox"), std::string::npos)
      << list.status().message();
  EXPECT_EQ((*client)->StopPodSandbox("x").code(), Code::kUnavailable);
  close(fd);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace kite::cri
