// The command line's settings that are not flags: the profiles file (~/.config/parkbase/config.yaml, kubectl's
// contexts in a smaller form), which file and profile apply, where the key comes from, and the argv normaliser that
// lets kebab-case flags reach Abseil's snake_case parser.
//
// The file is the small YAML subset this program writes itself, and nothing more (a line outside it is refused
// with its line number, never guessed at):
//
//   # a comment (whole lines only)
//   current-profile: prod
//   profiles:
//     prod:                       # a profile name: 2 spaces, letters, digits, `_ . -`
//       address: parkbase.example.internal:50051
//       ca-file: /etc/parkbase/ca.pem
//       key-file: ~/.config/parkbase/prod.key   # the key: the file's first line (a leading ~/ is $HOME)
//       key-env: PARKBASE_PROD_KEY             # or: the environment variable holding it
//       tenant: acme                           # the tenant device and telemetry commands act on
//       tls: true
//
// Values are plain text to the end of the line, or 'single-quoted' ('' is a quote) or "double-quoted" (\" and \\).
// The key itself is never in the file: a config file is copied and shown far more often than a key should be.
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace parkbase::cli {

struct Profile {
  std::string address;
  std::string ca_file;
  std::string key_file;
  std::string key_env;
  std::string tenant;
  std::optional<bool> tls;
};

struct CliConfig {
  std::string current_profile;
  std::map<std::string, Profile> profiles;
};

// Parses the file's text; `path` only names the file in errors ("config.yaml:7: ...").
absl::StatusOr<CliConfig> ParseCliConfig(absl::string_view text, absl::string_view path);
// The file's text for `config`, which ParseCliConfig reads back to the same config.
std::string RenderCliConfig(const CliConfig& config);
// Sets one field of a profile by its file name (`address`, `ca-file`, ...); INVALID_ARGUMENT naming the field.
absl::Status SetProfileField(Profile& profile, absl::string_view field, absl::string_view value);

// Where the config file is: `flag` (--config or PARKBASE_CONFIG) when set, else $XDG_CONFIG_HOME/parkbase/config.yaml,
// else $HOME/.config/parkbase/config.yaml. `getenv` is injected so tests need not change the process environment.
std::string ConfigPath(const std::string& flag, const std::function<const char*(const char*)>& getenv);

// Where a call's key comes from, in order: --key on argv (deprecated), PARKBASE_KEY, the profile's key-file, the
// profile's key-env. The result says which, for errors that must not print the key.
struct ResolvedKey {
  std::string key;
  std::string source;  // "--key", "PARKBASE_KEY", "key-file /path", "key-env NAME", or empty when none
};
absl::StatusOr<ResolvedKey> ResolveKey(const std::string& key_flag, bool key_flag_on_argv, const Profile* profile,
                                       const std::function<const char*(const char*)>& getenv);

// argv as Abseil's parser wants it: `--page-size` becomes `--page_size` (kebab-case is what help and docs show;
// snake_case stays accepted because Abseil has no aliases), `-o json` / `-ojson` become `--output=json`, `-q`
// becomes `--quiet`, `--ca-file` is `--tls_ca_file`. Values and everything after `--` are left as they are.
struct NormalizedArgs {
  std::vector<std::string> args;
  bool key_on_argv = false;  // --key was given, which ps and shell history keep: warn
};
NormalizedArgs NormalizeArgs(const std::vector<std::string>& argv);

}  // namespace parkbase::cli
