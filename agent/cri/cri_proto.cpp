#include "agent/cri/cri_proto.h"

#include "rpc/protowire.h"

namespace kite::cri {
namespace {

using rpc::protowire::Decoder;
using rpc::protowire::Encoder;
using rpc::protowire::Field;

// --- encoding helpers

void EncodeMap(Encoder* e, uint32_t field, const Labels& map) {
  for (const auto& [key, value] : map) {
    Encoder entry;
    entry.Bytes(1, key);
    entry.Bytes(2, value);
    e->Message(field, entry);
  }
}

void EncodeStrings(Encoder* e, uint32_t field,
                   const std::vector<std::string>& values) {
  for (const std::string& v : values) e->Bytes(field, v);
}

// A packed repeated int64/int32 field (nothing for an empty list).
template <typename Int>
void EncodePackedInts(Encoder* e, uint32_t field,
                      const std::vector<Int>& values) {
  if (values.empty()) return;
  std::string packed;
  for (Int v : values) {
    rpc::protowire::AppendVarint(
        &packed, static_cast<uint64_t>(static_cast<int64_t>(v)));
  }
  e->Bytes(field, packed);
}

// Int64Value: present (possibly empty, for 0) exactly when set.
void EncodeInt64Value(Encoder* e, uint32_t field,
                      const std::optional<int64_t>& value) {
  if (!value) return;
  Encoder wrapper;
  wrapper.Int64IfNonZero(1, *value);
  e->Message(field, wrapper);
}

Encoder NamespaceOptionEncoder(const NamespaceOptions& ns) {
  Encoder e;
  e.Uint64IfNonZero(1, static_cast<uint64_t>(ns.network));
  e.Uint64IfNonZero(2, static_cast<uint64_t>(ns.pid));
  e.Uint64IfNonZero(3, static_cast<uint64_t>(ns.ipc));
  return e;
}

Encoder PodSandboxMetadataEncoder(const PodSandboxMetadata& m) {
  Encoder e;
  e.BytesIfNonEmpty(1, m.name);
  e.BytesIfNonEmpty(2, m.uid);
  e.BytesIfNonEmpty(3, m.namespace_);
  e.Uint64IfNonZero(4, m.attempt);
  return e;
}

Encoder PodSandboxConfigEncoder(const PodSandboxConfig& c) {
  Encoder e;
  e.Message(1, PodSandboxMetadataEncoder(c.metadata));
  e.BytesIfNonEmpty(2, c.hostname);
  e.BytesIfNonEmpty(3, c.log_directory);
  {
    Encoder dns;
    EncodeStrings(&dns, 1, c.dns_config.servers);
    EncodeStrings(&dns, 2, c.dns_config.searches);
    EncodeStrings(&dns, 3, c.dns_config.options);
    if (dns.size() > 0) e.Message(4, dns);
  }
  for (const PortMapping& p : c.port_mappings) {
    Encoder pm;
    pm.Uint64IfNonZero(1, static_cast<uint64_t>(p.protocol));
    pm.Int64IfNonZero(2, p.container_port);
    pm.Int64IfNonZero(3, p.host_port);
    pm.BytesIfNonEmpty(4, p.host_ip);
    e.Message(5, pm);
  }
  EncodeMap(&e, 6, c.labels);
  EncodeMap(&e, 7, c.annotations);
  // LinuxPodSandboxConfig (8), always sent: it carries the namespace modes.
  Encoder linux_config;
  linux_config.BytesIfNonEmpty(1, c.cgroup_parent);
  Encoder security;  // LinuxSandboxSecurityContext
  security.Message(1, NamespaceOptionEncoder(c.namespace_options));
  EncodeInt64Value(&security, 3, c.run_as_user);
  security.BoolIfTrue(6, c.privileged);
  linux_config.Message(2, security);
  EncodeMap(&linux_config, 3, c.sysctls);
  e.Message(8, linux_config);
  return e;
}

Encoder ImageSpecEncoder(std::string_view image) {
  Encoder e;
  e.BytesIfNonEmpty(1, image);
  return e;
}

Encoder ContainerConfigEncoder(const ContainerConfig& c) {
  Encoder e;
  Encoder metadata;
  metadata.BytesIfNonEmpty(1, c.name);
  metadata.Uint64IfNonZero(2, c.attempt);
  e.Message(1, metadata);
  e.Message(2, ImageSpecEncoder(c.image));
  EncodeStrings(&e, 3, c.command);
  EncodeStrings(&e, 4, c.args);
  e.BytesIfNonEmpty(5, c.working_dir);
  for (const KeyValue& kv : c.envs) {
    Encoder env;
    env.BytesIfNonEmpty(1, kv.key);
    env.BytesIfNonEmpty(2, kv.value);
    e.Message(6, env);
  }
  for (const Mount& m : c.mounts) {
    Encoder mount;
    mount.BytesIfNonEmpty(1, m.container_path);
    mount.BytesIfNonEmpty(2, m.host_path);
    mount.BoolIfTrue(3, m.readonly);
    mount.Uint64IfNonZero(5, static_cast<uint64_t>(m.propagation));
    e.Message(7, mount);
  }
  EncodeMap(&e, 9, c.labels);
  EncodeMap(&e, 10, c.annotations);
  e.BytesIfNonEmpty(11, c.log_path);
  e.BoolIfTrue(12, c.stdin_open);
  e.BoolIfTrue(13, c.stdin_once);
  e.BoolIfTrue(14, c.tty);
  // LinuxContainerConfig (15), always sent (namespace modes).
  Encoder linux_config;
  Encoder resources;
  const LinuxContainerResources& r = c.resources;
  resources.Int64IfNonZero(1, r.cpu_period);
  resources.Int64IfNonZero(2, r.cpu_quota);
  resources.Int64IfNonZero(3, r.cpu_shares);
  resources.Int64IfNonZero(4, r.memory_limit_in_bytes);
  resources.Int64IfNonZero(5, r.oom_score_adj);
  if (resources.size() > 0) linux_config.Message(1, resources);
  const ContainerSecurityContext& s = c.security_context;
  Encoder security;  // LinuxContainerSecurityContext
  Encoder caps;
  EncodeStrings(&caps, 1, s.add_capabilities);
  EncodeStrings(&caps, 2, s.drop_capabilities);
  if (caps.size() > 0) security.Message(1, caps);
  security.BoolIfTrue(2, s.privileged);
  security.Message(3, NamespaceOptionEncoder(s.namespace_options));
  EncodeInt64Value(&security, 5, s.run_as_user);
  security.BoolIfTrue(7, s.readonly_rootfs);
  EncodePackedInts(&security, 8, s.supplemental_groups);
  security.BoolIfTrue(11, s.no_new_privs);
  EncodeInt64Value(&security, 12, s.run_as_group);
  linux_config.Message(2, security);
  e.Message(15, linux_config);
  return e;
}

// --- decoding helpers

Status Malformed(std::string_view what, const Status& status) {
  return InvalidArgumentError("cri: malformed " + std::string(what) + ": " +
                              status.message());
}

// One map<string,string> entry into *map.
Status DecodeMapEntry(std::string_view data, Labels* map) {
  Decoder d(data);
  Field f;
  std::string key, value;
  while (d.Next(&f)) {
    if (!f.is_bytes()) continue;
    if (f.number == 1) key = std::string(f.bytes);
    if (f.number == 2) value = std::string(f.bytes);
  }
  KITE_RETURN_IF_ERROR(d.status());
  (*map)[std::move(key)] = std::move(value);
  return Status::Ok();
}

// A string in field 1 of `data` (ImageSpec.image, PodIP.ip).
Status DecodeField1String(std::string_view data, std::string* out) {
  Decoder d(data);
  Field f;
  while (d.Next(&f)) {
    if (f.number == 1 && f.is_bytes()) *out = std::string(f.bytes);
  }
  return d.status();
}

Status DecodePodSandboxMetadata(std::string_view data, PodSandboxMetadata* m) {
  Decoder d(data);
  Field f;
  while (d.Next(&f)) {
    if (f.is_bytes()) {
      if (f.number == 1) m->name = std::string(f.bytes);
      if (f.number == 2) m->uid = std::string(f.bytes);
      if (f.number == 3) m->namespace_ = std::string(f.bytes);
    } else if (f.is_varint() && f.number == 4) {
      m->attempt = f.AsUint32();
    }
  }
  return d.status();
}

// ContainerMetadata {name = 1, attempt = 2}.
Status DecodeContainerMetadata(std::string_view data, std::string* name,
                               uint32_t* attempt) {
  Decoder d(data);
  Field f;
  while (d.Next(&f)) {
    if (f.number == 1 && f.is_bytes()) *name = std::string(f.bytes);
    if (f.number == 2 && f.is_varint()) *attempt = f.AsUint32();
  }
  return d.status();
}

Status DecodeNamespaceOption(std::string_view data, NamespaceOptions* ns) {
  // Absent fields are POD (0), unlike the struct's defaults.
  *ns = NamespaceOptions{NamespaceMode::kPod, NamespaceMode::kPod,
                         NamespaceMode::kPod};
  Decoder d(data);
  Field f;
  while (d.Next(&f)) {
    if (!f.is_varint()) continue;
    auto mode = static_cast<NamespaceMode>(f.AsInt32());
    if (f.number == 1) ns->network = mode;
    if (f.number == 2) ns->pid = mode;
    if (f.number == 3) ns->ipc = mode;
  }
  return d.status();
}

// LinuxPodSandboxStatus {namespaces = 1: Namespace {options = 2}}.
Status DecodeLinuxPodSandboxStatus(std::string_view data,
                                   NamespaceOptions* ns) {
  Decoder d(data);
  Field f;
  while (d.Next(&f)) {
    if (f.number != 1 || !f.is_bytes()) continue;
    Decoder nd(f.bytes);
    Field nf;
    while (nd.Next(&nf)) {
      if (nf.number == 2 && nf.is_bytes()) {
        KITE_RETURN_IF_ERROR(DecodeNamespaceOption(nf.bytes, ns));
      }
    }
    KITE_RETURN_IF_ERROR(nd.status());
  }
  return d.status();
}

// PodSandboxNetworkStatus {ip = 1, additional_ips = 2: PodIP}.
Status DecodeNetworkStatus(std::string_view data, PodSandboxStatus* s) {
  Decoder d(data);
  Field f;
  while (d.Next(&f)) {
    if (!f.is_bytes()) continue;
    if (f.number == 1) s->ip = std::string(f.bytes);
    if (f.number == 2) {
      std::string ip;
      KITE_RETURN_IF_ERROR(DecodeField1String(f.bytes, &ip));
      s->additional_ips.push_back(std::move(ip));
    }
  }
  return d.status();
}

Status DecodePodSandboxStatus(std::string_view data, PodSandboxStatus* s) {
  s->state = SandboxState::kReady;  // proto3: absent is 0, READY
  Decoder d(data);
  Field f;
  while (d.Next(&f)) {
    if (f.is_varint()) {
      if (f.number == 3) s->state = static_cast<SandboxState>(f.AsInt32());
      if (f.number == 4) s->created_at = f.AsInt64();
      continue;
    }
    if (!f.is_bytes()) continue;
    switch (f.number) {
      case 1:
        s->id = std::string(f.bytes);
        break;
      case 2:
        KITE_RETURN_IF_ERROR(DecodePodSandboxMetadata(f.bytes, &s->metadata));
        break;
      case 5:
        KITE_RETURN_IF_ERROR(DecodeNetworkStatus(f.bytes, s));
        break;
      case 6:
        KITE_RETURN_IF_ERROR(
            DecodeLinuxPodSandboxStatus(f.bytes, &s->namespace_options));
        break;
      case 7:
        KITE_RETURN_IF_ERROR(DecodeMapEntry(f.bytes, &s->labels));
        break;
      case 8:
        KITE_RETURN_IF_ERROR(DecodeMapEntry(f.bytes, &s->annotations));
        break;
      default:
        break;
    }
  }
  return d.status();
}

Status DecodePodSandbox(std::string_view data, PodSandbox* s) {
  s->state = SandboxState::kReady;  // proto3: absent is 0, READY
  Decoder d(data);
  Field f;
  while (d.Next(&f)) {
    if (f.is_varint()) {
      if (f.number == 3) s->state = static_cast<SandboxState>(f.AsInt32());
      if (f.number == 4) s->created_at = f.AsInt64();
      continue;
    }
    if (!f.is_bytes()) continue;
    switch (f.number) {
      case 1:
        s->id = std::string(f.bytes);
        break;
      case 2:
        KITE_RETURN_IF_ERROR(DecodePodSandboxMetadata(f.bytes, &s->metadata));
        break;
      case 5:
        KITE_RETURN_IF_ERROR(DecodeMapEntry(f.bytes, &s->labels));
        break;
      case 6:
        KITE_RETURN_IF_ERROR(DecodeMapEntry(f.bytes, &s->annotations));
        break;
      default:
        break;
    }
  }
  return d.status();
}

Status DecodeContainer(std::string_view data, Container* c) {
  c->state = ContainerState::kCreated;  // proto3: absent is 0
  Decoder d(data);
  Field f;
  while (d.Next(&f)) {
    if (f.is_varint()) {
      if (f.number == 6) c->state = static_cast<ContainerState>(f.AsInt32());
      if (f.number == 7) c->created_at = f.AsInt64();
      continue;
    }
    if (!f.is_bytes()) continue;
    switch (f.number) {
      case 1:
        c->id = std::string(f.bytes);
        break;
      case 2:
        c->pod_sandbox_id = std::string(f.bytes);
        break;
      case 3:
        KITE_RETURN_IF_ERROR(
            DecodeContainerMetadata(f.bytes, &c->name, &c->attempt));
        break;
      case 4:
        KITE_RETURN_IF_ERROR(DecodeField1String(f.bytes, &c->image));
        break;
      case 5:
        c->image_ref = std::string(f.bytes);
        break;
      case 8:
        KITE_RETURN_IF_ERROR(DecodeMapEntry(f.bytes, &c->labels));
        break;
      case 9:
        KITE_RETURN_IF_ERROR(DecodeMapEntry(f.bytes, &c->annotations));
        break;
      default:
        break;
    }
  }
  return d.status();
}

Status DecodeContainerStatus(std::string_view data, ContainerStatus* c) {
  c->state = ContainerState::kCreated;  // proto3: absent is 0
  Decoder d(data);
  Field f;
  while (d.Next(&f)) {
    if (f.is_varint()) {
      switch (f.number) {
        case 3:
          c->state = static_cast<ContainerState>(f.AsInt32());
          break;
        case 4:
          c->created_at = f.AsInt64();
          break;
        case 5:
          c->started_at = f.AsInt64();
          break;
        case 6:
          c->finished_at = f.AsInt64();
          break;
        case 7:
          c->exit_code = f.AsInt32();
          break;
        default:
          break;
      }
      continue;
    }
    if (!f.is_bytes()) continue;
    switch (f.number) {
      case 1:
        c->id = std::string(f.bytes);
        break;
      case 2:
        KITE_RETURN_IF_ERROR(
            DecodeContainerMetadata(f.bytes, &c->name, &c->attempt));
        break;
      case 8:
        KITE_RETURN_IF_ERROR(DecodeField1String(f.bytes, &c->image));
        break;
      case 9:
        c->image_ref = std::string(f.bytes);
        break;
      case 10:
        c->reason = std::string(f.bytes);
        break;
      case 11:
        c->message = std::string(f.bytes);
        break;
      case 12:
        KITE_RETURN_IF_ERROR(DecodeMapEntry(f.bytes, &c->labels));
        break;
      case 13:
        KITE_RETURN_IF_ERROR(DecodeMapEntry(f.bytes, &c->annotations));
        break;
      case 15:
        c->log_path = std::string(f.bytes);
        break;
      default:
        break;
    }
  }
  return d.status();
}

Status DecodeImage(std::string_view data, Image* image) {
  Decoder d(data);
  Field f;
  while (d.Next(&f)) {
    if (f.number == 4 && f.is_varint()) image->size = f.value;
    if (!f.is_bytes()) continue;
    if (f.number == 1) image->id = std::string(f.bytes);
    if (f.number == 2) image->repo_tags.emplace_back(f.bytes);
    if (f.number == 3) image->repo_digests.emplace_back(f.bytes);
  }
  return d.status();
}

Status DecodeRuntimeCondition(std::string_view data, RuntimeCondition* c) {
  Decoder d(data);
  Field f;
  while (d.Next(&f)) {
    if (f.number == 2 && f.is_varint()) c->status = f.AsBool();
    if (!f.is_bytes()) continue;
    if (f.number == 1) c->type = std::string(f.bytes);
    if (f.number == 3) c->reason = std::string(f.bytes);
    if (f.number == 4) c->message = std::string(f.bytes);
  }
  return d.status();
}

}  // namespace

// --- requests

std::string EncodeVersionRequest(std::string_view version) {
  Encoder e;
  e.BytesIfNonEmpty(1, version);
  return e.Take();
}

std::string EncodeStatusRequest(bool verbose) {
  Encoder e;
  e.BoolIfTrue(1, verbose);
  return e.Take();
}

std::string EncodePodSandboxConfig(const PodSandboxConfig& config) {
  return PodSandboxConfigEncoder(config).Take();
}

std::string EncodeRunPodSandboxRequest(const PodSandboxConfig& config) {
  Encoder e;
  e.Message(1, PodSandboxConfigEncoder(config));
  return e.Take();
}

std::string EncodePodSandboxIdRequest(std::string_view pod_sandbox_id) {
  Encoder e;
  e.BytesIfNonEmpty(1, pod_sandbox_id);
  return e.Take();
}

std::string EncodePodSandboxStatusRequest(std::string_view pod_sandbox_id,
                                          bool verbose) {
  Encoder e;
  e.BytesIfNonEmpty(1, pod_sandbox_id);
  e.BoolIfTrue(2, verbose);
  return e.Take();
}

std::string EncodeListPodSandboxRequest(const PodSandboxFilter& filter) {
  Encoder f;
  f.BytesIfNonEmpty(1, filter.id);
  if (filter.state) {
    Encoder state;  // PodSandboxStateValue: present even for READY (0)
    state.Uint64IfNonZero(1, static_cast<uint64_t>(*filter.state));
    f.Message(2, state);
  }
  EncodeMap(&f, 3, filter.label_selector);
  Encoder e;
  if (f.size() > 0) e.Message(1, f);
  return e.Take();
}

std::string EncodeContainerConfig(const ContainerConfig& config) {
  return ContainerConfigEncoder(config).Take();
}

std::string EncodeCreateContainerRequest(
    std::string_view pod_sandbox_id, const ContainerConfig& config,
    const PodSandboxConfig& sandbox_config) {
  Encoder e;
  e.BytesIfNonEmpty(1, pod_sandbox_id);
  e.Message(2, ContainerConfigEncoder(config));
  e.Message(3, PodSandboxConfigEncoder(sandbox_config));
  return e.Take();
}

std::string EncodeContainerIdRequest(std::string_view container_id) {
  Encoder e;
  e.BytesIfNonEmpty(1, container_id);
  return e.Take();
}

std::string EncodeStopContainerRequest(std::string_view container_id,
                                       int64_t timeout_seconds) {
  Encoder e;
  e.BytesIfNonEmpty(1, container_id);
  e.Int64IfNonZero(2, timeout_seconds);
  return e.Take();
}

std::string EncodeListContainersRequest(const ContainerFilter& filter) {
  Encoder f;
  f.BytesIfNonEmpty(1, filter.id);
  if (filter.state) {
    Encoder state;  // ContainerStateValue: present even for CREATED (0)
    state.Uint64IfNonZero(1, static_cast<uint64_t>(*filter.state));
    f.Message(2, state);
  }
  f.BytesIfNonEmpty(3, filter.pod_sandbox_id);
  EncodeMap(&f, 4, filter.label_selector);
  Encoder e;
  if (f.size() > 0) e.Message(1, f);
  return e.Take();
}

std::string EncodeContainerStatusRequest(std::string_view container_id,
                                         bool verbose) {
  Encoder e;
  e.BytesIfNonEmpty(1, container_id);
  e.BoolIfTrue(2, verbose);
  return e.Take();
}

std::string EncodeExecSyncRequest(std::string_view container_id,
                                  const std::vector<std::string>& cmd,
                                  int64_t timeout_seconds) {
  Encoder e;
  e.BytesIfNonEmpty(1, container_id);
  EncodeStrings(&e, 2, cmd);
  e.Int64IfNonZero(3, timeout_seconds);
  return e.Take();
}

std::string EncodeExecRequest(const ExecRequest& r) {
  Encoder e;
  e.BytesIfNonEmpty(1, r.container_id);
  EncodeStrings(&e, 2, r.cmd);
  e.BoolIfTrue(3, r.tty);
  e.BoolIfTrue(4, r.use_stdin);
  e.BoolIfTrue(5, r.use_stdout);
  e.BoolIfTrue(6, r.use_stderr);
  return e.Take();
}

std::string EncodeAttachRequest(const AttachRequest& r) {
  Encoder e;
  e.BytesIfNonEmpty(1, r.container_id);
  e.BoolIfTrue(2, r.use_stdin);
  e.BoolIfTrue(3, r.tty);
  e.BoolIfTrue(4, r.use_stdout);
  e.BoolIfTrue(5, r.use_stderr);
  return e.Take();
}

std::string EncodePortForwardRequest(std::string_view pod_sandbox_id,
                                     const std::vector<int32_t>& ports) {
  Encoder e;
  e.BytesIfNonEmpty(1, pod_sandbox_id);
  EncodePackedInts(&e, 2, ports);
  return e.Take();
}

std::string EncodeImageSpecRequest(std::string_view image) {
  Encoder e;
  e.Message(1, ImageSpecEncoder(image));
  return e.Take();
}

std::string EncodeListImagesRequest() { return std::string(); }

// --- responses

StatusOr<VersionInfo> DecodeVersionResponse(std::string_view data) {
  VersionInfo v;
  Decoder d(data);
  Field f;
  while (d.Next(&f)) {
    if (!f.is_bytes()) continue;
    if (f.number == 1) v.version = std::string(f.bytes);
    if (f.number == 2) v.runtime_name = std::string(f.bytes);
    if (f.number == 3) v.runtime_version = std::string(f.bytes);
    if (f.number == 4) v.runtime_api_version = std::string(f.bytes);
  }
  if (!d.status().ok()) return Malformed("VersionResponse", d.status());
  return v;
}

StatusOr<std::vector<RuntimeCondition>> DecodeStatusResponse(
    std::string_view data) {
  std::vector<RuntimeCondition> conditions;
  Decoder d(data);
  Field f;
  Status st;
  while (st.ok() && d.Next(&f)) {
    if (f.number != 1 || !f.is_bytes()) continue;  // status: RuntimeStatus
    Decoder rd(f.bytes);
    Field rf;
    while (st.ok() && rd.Next(&rf)) {
      if (rf.number != 1 || !rf.is_bytes()) continue;
      RuntimeCondition c;
      st = DecodeRuntimeCondition(rf.bytes, &c);
      conditions.push_back(std::move(c));
    }
    if (st.ok()) st = rd.status();
  }
  if (st.ok()) st = d.status();
  if (!st.ok()) return Malformed("StatusResponse", st);
  return conditions;
}

StatusOr<std::string> DecodeStringField1(std::string_view data) {
  std::string out;
  Status st = DecodeField1String(data, &out);
  if (!st.ok()) return Malformed("response", st);
  return out;
}

StatusOr<PodSandboxStatus> DecodePodSandboxStatusResponse(
    std::string_view data) {
  PodSandboxStatus s;
  Decoder d(data);
  Field f;
  Status st;
  while (st.ok() && d.Next(&f)) {
    if (!f.is_bytes()) continue;
    if (f.number == 1) st = DecodePodSandboxStatus(f.bytes, &s);
    if (f.number == 2) st = DecodeMapEntry(f.bytes, &s.info);
  }
  if (st.ok()) st = d.status();
  if (!st.ok()) return Malformed("PodSandboxStatusResponse", st);
  return s;
}

StatusOr<std::vector<PodSandbox>> DecodeListPodSandboxResponse(
    std::string_view data) {
  std::vector<PodSandbox> items;
  Decoder d(data);
  Field f;
  Status st;
  while (st.ok() && d.Next(&f)) {
    if (f.number != 1 || !f.is_bytes()) continue;
    PodSandbox s;
    st = DecodePodSandbox(f.bytes, &s);
    items.push_back(std::move(s));
  }
  if (st.ok()) st = d.status();
  if (!st.ok()) return Malformed("ListPodSandboxResponse", st);
  return items;
}

StatusOr<std::vector<Container>> DecodeListContainersResponse(
    std::string_view data) {
  std::vector<Container> items;
  Decoder d(data);
  Field f;
  Status st;
  while (st.ok() && d.Next(&f)) {
    if (f.number != 1 || !f.is_bytes()) continue;
    Container c;
    st = DecodeContainer(f.bytes, &c);
    items.push_back(std::move(c));
  }
  if (st.ok()) st = d.status();
  if (!st.ok()) return Malformed("ListContainersResponse", st);
  return items;
}

StatusOr<ContainerStatus> DecodeContainerStatusResponse(std::string_view data) {
  ContainerStatus c;
  Decoder d(data);
  Field f;
  Status st;
  while (st.ok() && d.Next(&f)) {
    if (f.number == 1 && f.is_bytes()) st = DecodeContainerStatus(f.bytes, &c);
  }
  if (st.ok()) st = d.status();
  if (!st.ok()) return Malformed("ContainerStatusResponse", st);
  return c;
}

StatusOr<ExecSyncResult> DecodeExecSyncResponse(std::string_view data) {
  ExecSyncResult r;
  Decoder d(data);
  Field f;
  while (d.Next(&f)) {
    if (f.number == 1 && f.is_bytes()) r.stdout_bytes = std::string(f.bytes);
    if (f.number == 2 && f.is_bytes()) r.stderr_bytes = std::string(f.bytes);
    if (f.number == 3 && f.is_varint()) r.exit_code = f.AsInt32();
  }
  if (!d.status().ok()) return Malformed("ExecSyncResponse", d.status());
  return r;
}

StatusOr<std::optional<Image>> DecodeImageStatusResponse(
    std::string_view data) {
  std::optional<Image> image;
  Decoder d(data);
  Field f;
  Status st;
  while (st.ok() && d.Next(&f)) {
    if (f.number != 1 || !f.is_bytes()) continue;
    image.emplace();
    st = DecodeImage(f.bytes, &*image);
  }
  if (st.ok()) st = d.status();
  if (!st.ok()) return Malformed("ImageStatusResponse", st);
  if (image && image->id.empty()) image.reset();
  return image;
}

StatusOr<std::vector<Image>> DecodeListImagesResponse(std::string_view data) {
  std::vector<Image> images;
  Decoder d(data);
  Field f;
  Status st;
  while (st.ok() && d.Next(&f)) {
    if (f.number != 1 || !f.is_bytes()) continue;
    Image image;
    st = DecodeImage(f.bytes, &image);
    images.push_back(std::move(image));
  }
  if (st.ok()) st = d.status();
  if (!st.ok()) return Malformed("ListImagesResponse", st);
  return images;
}

}  // namespace kite::cri
