#include "parkbase/local_cli.h"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <set>
#include <sstream>

#include "absl/flags/declare.h"
#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/process_metrics.h"
#include "parkbase/cli_config.h"

// Flags of admin_cli.cc that `config set-profile` reads as the profile's fields.
ABSL_DECLARE_FLAG(std::string, config);
ABSL_DECLARE_FLAG(std::string, address);
ABSL_DECLARE_FLAG(std::string, tls_ca_file);
ABSL_DECLARE_FLAG(std::string, tenant);
ABSL_DECLARE_FLAG(bool, tls);

ABSL_FLAG(std::string, key_file, "", "config set-profile: the file whose first line is the profile's key");
ABSL_FLAG(std::string, key_env, "", "config set-profile: the environment variable holding the profile's key");

namespace parkbase::cli {
namespace {

// Top-level words that main.cc handles itself, for completion (its top-level help describes them).
constexpr const char* kServerCommands[] = {"serve", "migrate", "gateway", "admin bootstrap-key", "help"};

const char* GetEnv(const char* name) { return std::getenv(name); }

std::string ConfigFile() { return ConfigPath(absl::GetFlag(FLAGS_config), GetEnv); }

absl::StatusOr<CliConfig> LoadConfig(const std::string& path) {
  std::ifstream in(path);
  if (!in) return CliConfig{};  // no file yet: no profiles
  std::stringstream text;
  text << in.rdbuf();
  return ParseCliConfig(text.str(), path);
}

// Writes the file whole through a temporary beside it, so a crash leaves the old file or the new, never half.
absl::Status SaveConfig(const std::string& path, const CliConfig& config) {
  std::error_code error;
  std::filesystem::create_directories(std::filesystem::path(path).parent_path(), error);
  const std::string temporary = path + ".tmp";
  {
    std::ofstream out(temporary, std::ios::trunc);
    out << RenderCliConfig(config);
    if (!out) return absl::UnavailableError(absl::StrCat("cannot write ", temporary));
  }
  std::filesystem::rename(temporary, path, error);
  if (error) return absl::UnavailableError(absl::StrCat("cannot replace ", path, ": ", error.message()));
  return absl::OkStatus();
}

int ConfigCommand(const std::vector<std::string>& args) {
  if (args.empty()) return Usage("config: missing sub-command (set-profile, use-profile, list-profiles, view)");
  const std::string path = ConfigFile();
  absl::StatusOr<CliConfig> config = LoadConfig(path);
  if (!config.ok()) return Usage(std::string(config.status().message()));
  const std::string& verb = args[0];
  if (verb == "view") {
    if (args.size() != 1) return Usage("config view takes no arguments");
    std::cout << "# " << path << "\n" << RenderCliConfig(*config);
    return 0;
  }
  if (verb == "list-profiles") {
    if (args.size() != 1) return Usage("config list-profiles takes no arguments");
    std::vector<std::vector<std::string>> rows;
    for (const auto& [name, p] : config->profiles) {
      const std::string key = !p.key_file.empty() ? absl::StrCat("key-file ", p.key_file)
                              : !p.key_env.empty() ? absl::StrCat("key-env ", p.key_env)
                                                   : "-";
      rows.push_back({name == config->current_profile ? "*" : "", name, p.address.empty() ? "-" : p.address,
                      p.tenant.empty() ? "-" : p.tenant, key});
    }
    if (Quiet()) {
      for (const auto& row : rows) std::cout << row[1] << "\n";
    } else {
      std::cout << RenderTable({"CURRENT", "NAME", "ADDRESS", "TENANT", "KEY FROM"}, rows);
    }
    return 0;
  }
  if (args.size() != 2) return Usage(absl::StrCat("config ", verb, " takes one PROFILE name"));
  const std::string& name = args[1];
  if (verb == "use-profile") {
    if (config->profiles.count(name) == 0) return Usage(absl::StrCat("profile '", name, "' is not in ", path));
    config->current_profile = name;
  } else if (verb == "set-profile") {
    Profile& profile = config->profiles[name];
    const std::pair<const char*, std::string> fields[] = {
        {"address", absl::GetFlag(FLAGS_address)},   {"ca-file", absl::GetFlag(FLAGS_tls_ca_file)},
        {"key-file", absl::GetFlag(FLAGS_key_file)}, {"key-env", absl::GetFlag(FLAGS_key_env)},
        {"tenant", absl::GetFlag(FLAGS_tenant)},     {"tls", absl::GetFlag(FLAGS_tls) ? "true" : ""}};
    for (const auto& [field, value] : fields) {
      if (value.empty()) continue;
      if (absl::Status set = SetProfileField(profile, field, value); !set.ok()) return Usage(std::string(set.message()));
    }
    // A profile name the file format cannot hold would make the file unreadable: check by reading it back.
    if (absl::StatusOr<CliConfig> back = ParseCliConfig(RenderCliConfig(*config), path); !back.ok()) {
      return Usage(absl::StrCat("profile '", name, "': ", back.status().message()));
    }
    if (config->current_profile.empty()) config->current_profile = name;
  } else {
    return Usage(absl::StrCat("unknown command: config ", verb));
  }
  if (absl::Status saved = SaveConfig(path, *config); !saved.ok()) {
    std::cerr << "parkbase: " << saved.message() << "\n";
    return 1;
  }
  if (!Quiet()) std::cout << "profile " << name << (verb == "use-profile" ? " is current" : " saved") << " in " << path << "\n";
  return 0;
}

// For every typed command path (e.g. "app version"), the words that may follow it; "" is the top level.
std::map<std::string, std::set<std::string>> CompletionTree() {
  std::map<std::string, std::set<std::string>> tree;
  std::vector<std::string> paths;
  for (const auto& [name, command] : AllCommands()) paths.push_back(name);
  paths.insert(paths.end(), std::begin(kServerCommands), std::end(kServerCommands));
  for (const std::string& path : paths) {
    std::vector<std::string> words = absl::StrSplit(path, ' ');
    for (size_t i = 0; i < words.size(); ++i) {
      tree[absl::StrJoin(words.begin(), words.begin() + static_cast<std::ptrdiff_t>(i), " ")].insert(words[i]);
    }
  }
  return tree;
}

std::string BashCompletion() {
  std::string script =
      "# bash completion for parkbase, generated by `parkbase completion bash` from the help's command table.\n"
      "# Load it with: source <(parkbase completion bash)\n"
      "_parkbase() {\n"
      "  local cur=\"${COMP_WORDS[COMP_CWORD]}\" typed=() i\n"
      "  for ((i = 1; i < COMP_CWORD; i++)); do\n"
      "    [[ \"${COMP_WORDS[i]}\" == -* ]] || typed+=(\"${COMP_WORDS[i]}\")\n"
      "  done\n"
      "  if [[ \"$cur\" == -* ]]; then\n";
  absl::StrAppend(&script, "    COMPREPLY=($(compgen -W \"", absl::StrJoin(AllFlagNames(), " "), "\" -- \"$cur\"))\n",
                  "    return\n  fi\n  case \"${typed[*]}\" in\n");
  for (const auto& [path, next] : CompletionTree()) {
    absl::StrAppend(&script, "    \"", path, "\") COMPREPLY=($(compgen -W \"", absl::StrJoin(next, " "),
                    "\" -- \"$cur\")) ;;\n");
  }
  absl::StrAppend(&script, "    *) COMPREPLY=($(compgen -f -- \"$cur\")) ;;\n  esac\n}\n",
                  "complete -F _parkbase parkbase\n");
  return script;
}

std::string ZshCompletion() {
  std::string script =
      "#compdef parkbase\n"
      "# zsh completion for parkbase, generated by `parkbase completion zsh` from the help's command table.\n"
      "# Load it with: source <(parkbase completion zsh)   (after compinit)\n"
      "_parkbase() {\n"
      "  local -a typed\n"
      "  local w\n"
      "  for w in \"${(@)words[2,CURRENT-1]}\"; do [[ $w == -* ]] || typed+=(\"$w\"); done\n"
      "  if [[ ${words[CURRENT]} == -* ]]; then\n";
  absl::StrAppend(&script, "    compadd -- ", absl::StrJoin(AllFlagNames(), " "), "\n    return\n  fi\n",
                  "  case \"${typed[*]}\" in\n");
  for (const auto& [path, next] : CompletionTree()) {
    absl::StrAppend(&script, "    \"", path, "\") compadd -- ", absl::StrJoin(next, " "), " ;;\n");
  }
  absl::StrAppend(&script, "    *) _files ;;\n  esac\n}\n", "compdef _parkbase parkbase\n");
  return script;
}

}  // namespace

const std::vector<std::pair<std::string, Command>>& LocalCommands() {
  static const auto* commands = new std::vector<std::pair<std::string, Command>>{
      {"version", {"parkbase version", "Print the version and the source revision it was built from.", ""}},
      {"completion", {"parkbase completion bash|zsh",
                      "Print a shell completion script: source <(parkbase completion bash).", ""}},
      {"config set-profile", {"parkbase config set-profile NAME [--address=HOST:PORT] [--ca_file=PEM] "
                              "[--key_file=FILE | --key_env=VAR] [--tenant=ID] [--tls]",
                              "Create or change a profile in the config file (the first one becomes current).",
                              "--address --ca_file --key_file --key_env --tenant --tls --config"}},
      {"config use-profile", {"parkbase config use-profile NAME", "Make a profile the current one.", "--config"}},
      {"config list-profiles", {"parkbase config list-profiles", "List the profiles; * marks the current one.",
                                "--config"}},
      {"config view", {"parkbase config view", "Print the config file (it holds no keys).", "--config"}},
  };
  return *commands;
}

bool IsLocalCommand(const std::vector<std::string>& args) {
  return !args.empty() && (args[0] == "version" || args[0] == "completion" || args[0] == "config");
}

std::string CompletionScript(const std::string& shell) {
  if (shell == "bash") return BashCompletion();
  if (shell == "zsh") return ZshCompletion();
  return "";
}

int RunLocalCommand(const std::vector<std::string>& args) {
  if (args[0] == "version") {
    if (args.size() != 1) return Usage("version takes no arguments");
    std::cout << "parkbase " << BuildVersion() << " (revision " << BuildRevision() << ")\n";
    return 0;
  }
  if (args[0] == "completion") {
    const std::string script = args.size() == 2 ? CompletionScript(args[1]) : "";
    if (script.empty()) return Usage("usage: parkbase completion bash|zsh");
    std::cout << script;
    return 0;
  }
  return ConfigCommand(std::vector<std::string>(args.begin() + 1, args.end()));
}

}  // namespace parkbase::cli
