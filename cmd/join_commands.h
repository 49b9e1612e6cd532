// The subcommands of node identity (docs/join.md): `kite agent` (join a
// node), `kite token create|list|delete` (join tokens, through the running
// server and the admin kubeconfig) and `kite certificate rotate` (reissue
// the server's leaf certificates). Each takes its arguments after the
// subcommand name and returns the exit code; errors go to stderr as one line.
#pragma once

#include <string>
#include <vector>

namespace kite::cmd {

int RunAgent(const std::vector<std::string>& args);
int RunToken(const std::vector<std::string>& args);
int RunCertificate(const std::vector<std::string>& args);

// Parses a duration like "24h", "90m", "1h30m", "45s", "7d" or "0" (none).
// False when malformed.
bool ParseDuration(const std::string& text, long long* seconds);

}  // namespace kite::cmd
