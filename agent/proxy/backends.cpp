// NewBackend: the proxy mode's backend, probed (proxy_model.h).
#include <string>

#include "agent/proxy/iptables_backend.h"
#include "agent/proxy/nft_backend.h"
#include "agent/proxy/proxy_model.h"
#include "agent/proxy/userspace_backend.h"
#include "common/log.h"

namespace kite::proxy {

StatusOr<std::unique_ptr<Backend>> NewBackend(ProxyMode mode,
                                              const BackendOptions& options) {
  switch (mode) {
    case ProxyMode::kNftables:
      return NewNftablesBackend(options);
    case ProxyMode::kIptables:
      return NewIptablesBackend(options);
    case ProxyMode::kUserspace:
      return NewUserspaceBackend(options);
    case ProxyMode::kAuto:
      break;
  }
  // auto: the first mode whose probe passes.
  auto nft = NewNftablesBackend(options);
  if (nft.ok()) return nft;
  log::Info("proxy", "nftables mode unavailable, trying iptables")(
      "reason", nft.status().message());
  auto ipt = NewIptablesBackend(options);
  if (ipt.ok()) return ipt;
  log::Warn("proxy", "no netfilter, using the userspace mode")(
      "nftables", nft.status().message())("iptables", ipt.status().message());
  auto user = NewUserspaceBackend(options);
  if (user.ok()) return user;
  return FailedPreconditionError(
      "no proxy mode works on this host: nftables: " + nft.status().message() +
      "; iptables: " + ipt.status().message() +
      "; userspace: " + user.status().message());
}

Status CleanupOtherModes(ProxyMode kept, const BackendOptions& options) {
  std::string errors;
  for (ProxyMode mode :
       {ProxyMode::kNftables, ProxyMode::kIptables, ProxyMode::kUserspace}) {
    if (mode == kept) continue;
    // A mode whose probe fails cannot have left anything.
    auto backend = NewBackend(mode, options);
    if (!backend.ok()) continue;
    Status st = (*backend)->Cleanup();
    if (!st.ok()) {
      errors += std::string(errors.empty() ? "" : "; ") + (*backend)->name() +
                ": " + st.message();
    }
  }
  if (!errors.empty())
    return UnavailableError("cleaning up other proxy modes: " + errors);
  return Status::Ok();
}

}  // namespace kite::proxy
