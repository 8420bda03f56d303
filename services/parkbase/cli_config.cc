#include "parkbase/cli_config.h"

#include <algorithm>
#include <fstream>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace parkbase::cli {
namespace {

constexpr int kProfileIndent = 2;
constexpr int kFieldIndent = 4;

bool IsName(absl::string_view name) {
  if (name.empty()) return false;
  for (char c : name) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '.' && c != '-') return false;
  }
  return true;
}

// The value after "key:": plain text up to a " #" comment, or a quoted string followed by nothing but a comment.
absl::StatusOr<std::string> ParseScalar(absl::string_view text) {
  text = absl::StripAsciiWhitespace(text);
  if (text.empty()) return std::string();
  const char quote = text[0];
  if (quote != '"' && quote != '\'') {
    const size_t comment = text.find(" #");
    if (comment != absl::string_view::npos) text = absl::StripTrailingAsciiWhitespace(text.substr(0, comment));
    if (text[0] == '{' || text[0] == '[' || text[0] == '&' || text[0] == '*' || text[0] == '!' || text[0] == '|' ||
        text[0] == '>') {
      return absl::InvalidArgumentError(
          absl::StrCat("'", text, "' is YAML this file does not use: write plain text or a quoted string"));
    }
    return std::string(text);
  }
  std::string value;
  size_t i = 1;
  for (;; ++i) {
    if (i >= text.size()) return absl::InvalidArgumentError(absl::StrCat("the ", std::string(1, quote), " is not closed"));
    const char c = text[i];
    if (quote == '\'' && c == '\'') {
      if (i + 1 < text.size() && text[i + 1] == '\'') {
        value += '\'';
        ++i;
        continue;
      }
      break;
    }
    if (quote == '"' && c == '\\') {
      if (i + 1 >= text.size() || (text[i + 1] != '"' && text[i + 1] != '\\')) {
        return absl::InvalidArgumentError("in a double-quoted value only \\\" and \\\\ are escapes");
      }
      value += text[++i];
      continue;
    }
    if (quote == '"' && c == '"') break;
    value += c;
  }
  absl::string_view rest = absl::StripAsciiWhitespace(text.substr(i + 1));
  if (!rest.empty() && rest[0] != '#') {
    return absl::InvalidArgumentError(absl::StrCat("text after the closing quote: '", rest, "'"));
  }
  return value;
}

// A value written back so ParseScalar reads the same text: plain when that is safe, else double-quoted.
std::string RenderScalar(const std::string& value) {
  const bool plain = !value.empty() && value.find(" #") == std::string::npos && value.find_first_of("\"'{[&*!|>") != 0 &&
                     absl::StripAsciiWhitespace(value) == value && value.find_first_of("\r\n") == std::string::npos;
  if (plain) return value;
  return absl::StrCat("\"", absl::StrReplaceAll(value, {{"\\", "\\\\"}, {"\"", "\\\""}}), "\"");
}

std::string ExpandHome(const std::string& path, const std::function<const char*(const char*)>& getenv) {
  if (!absl::StartsWith(path, "~/")) return path;
  const char* home = getenv("HOME");
  return absl::StrCat(home != nullptr ? home : "", path.substr(1));
}

}  // namespace

absl::Status SetProfileField(Profile& profile, absl::string_view field, absl::string_view value) {
  if (field == "address") {
    profile.address = std::string(value);
  } else if (field == "ca-file") {
    profile.ca_file = std::string(value);
  } else if (field == "key-file") {
    profile.key_file = std::string(value);
  } else if (field == "key-env") {
    profile.key_env = std::string(value);
  } else if (field == "tenant") {
    profile.tenant = std::string(value);
  } else if (field == "tls") {
    if (value != "true" && value != "false") {
      return absl::InvalidArgumentError(absl::StrCat("tls: must be true or false, got '", value, "'"));
    }
    profile.tls = value == "true";
  } else if (field == "key") {
    return absl::InvalidArgumentError(
        "key: a profile holds no key; name a file with key-file or an environment variable with key-env");
  } else {
    return absl::InvalidArgumentError(absl::StrCat(
        "'", field, "' is not a profile field (address, ca-file, key-file, key-env, tenant, tls)"));
  }
  return absl::OkStatus();
}

absl::StatusOr<CliConfig> ParseCliConfig(absl::string_view text, absl::string_view path) {
  CliConfig config;
  bool in_profiles = false;
  Profile* profile = nullptr;
  int number = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    ++number;
    const auto error = [&](absl::string_view message) {
      return absl::InvalidArgumentError(absl::StrCat(path, ":", number, ": ", message));
    };
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    const absl::string_view content = absl::StripLeadingAsciiWhitespace(line);
    if (content.empty() || content[0] == '#') continue;
    const size_t indent = line.size() - content.size();
    if (line.substr(0, indent).find('\t') != absl::string_view::npos) return error("indent with spaces, not tabs");
    const size_t colon = content.find(':');
    if (colon == absl::string_view::npos || (colon + 1 < content.size() && content[colon + 1] != ' ')) {
      return error(absl::StrCat("expected 'key: value', got '", content, "'"));
    }
    const absl::string_view key = content.substr(0, colon);
    absl::StatusOr<std::string> value = ParseScalar(content.substr(colon + 1));
    if (!value.ok()) return error(value.status().message());
    if (indent == 0) {
      in_profiles = false;
      profile = nullptr;
      if (key == "current-profile") {
        config.current_profile = *value;
      } else if (key == "profiles") {
        if (!value->empty()) return error("profiles: takes the profiles on the lines below, indented 2 spaces");
        in_profiles = true;
      } else {
        return error(absl::StrCat("'", key, "' is not a setting (current-profile, profiles)"));
      }
    } else if (indent == kProfileIndent) {
      if (!in_profiles) return error("an indented line outside 'profiles:'");
      if (!IsName(key)) return error(absl::StrCat("'", key, "' is not a profile name (letters, digits, _ . -)"));
      if (!value->empty()) return error(absl::StrCat(key, ": a profile's fields go on the lines below, indented 4"));
      if (config.profiles.count(std::string(key)) > 0) return error(absl::StrCat("profile '", key, "' twice"));
      profile = &config.profiles[std::string(key)];
    } else if (indent == kFieldIndent) {
      if (profile == nullptr) return error("a profile field outside a profile");
      if (absl::Status set = SetProfileField(*profile, key, *value); !set.ok()) return error(set.message());
    } else {
      return error(absl::StrCat("indented ", indent, " spaces: settings take 0, profile names 2, their fields 4"));
    }
  }
  return config;
}

std::string RenderCliConfig(const CliConfig& config) {
  std::string text = "# parkbase profiles (written by `parkbase config`; see docs/admin.md for the format)\n";
  if (!config.current_profile.empty()) absl::StrAppend(&text, "current-profile: ", RenderScalar(config.current_profile), "\n");
  text += "profiles:\n";
  for (const auto& [name, profile] : config.profiles) {
    absl::StrAppend(&text, "  ", name, ":\n");
    const auto field = [&](absl::string_view key, const std::string& value) {
      if (!value.empty()) absl::StrAppend(&text, "    ", key, ": ", RenderScalar(value), "\n");
    };
    field("address", profile.address);
    field("ca-file", profile.ca_file);
    field("key-file", profile.key_file);
    field("key-env", profile.key_env);
    field("tenant", profile.tenant);
    if (profile.tls.has_value()) field("tls", *profile.tls ? "true" : "false");
  }
  return text;
}

std::string ConfigPath(const std::string& flag, const std::function<const char*(const char*)>& getenv) {
  if (!flag.empty()) return flag;
  const char* xdg = getenv("XDG_CONFIG_HOME");
  // The XDG base directory spec: a relative XDG_CONFIG_HOME is invalid and must be ignored.
  if (xdg != nullptr && xdg[0] == '/') return absl::StrCat(xdg, "/parkbase/config.yaml");
  const char* home = getenv("HOME");
  return absl::StrCat(home != nullptr ? home : "", "/.config/parkbase/config.yaml");
}

absl::StatusOr<ResolvedKey> ResolveKey(const std::string& key_flag, bool key_flag_on_argv, const Profile* profile,
                                       const std::function<const char*(const char*)>& getenv) {
  // The flag holds PARKBASE_KEY too (the environment is applied to flags), unless argv overrode it.
  if (!key_flag.empty()) return ResolvedKey{key_flag, key_flag_on_argv ? "--key" : "PARKBASE_KEY"};
  if (profile == nullptr) return ResolvedKey{};
  if (!profile->key_file.empty()) {
    const std::string path = ExpandHome(profile->key_file, getenv);
    std::ifstream in(path);
    std::string first_line;
    if (!in || !std::getline(in, first_line)) {
      return absl::InvalidArgumentError(absl::StrCat("key-file ", path, ": cannot read it"));
    }
    const std::string key(absl::StripAsciiWhitespace(first_line));
    if (key.empty()) return absl::InvalidArgumentError(absl::StrCat("key-file ", path, ": the first line is empty"));
    return ResolvedKey{key, absl::StrCat("key-file ", path)};
  }
  if (!profile->key_env.empty()) {
    const char* key = getenv(profile->key_env.c_str());
    if (key == nullptr || key[0] == '\0') {
      return absl::InvalidArgumentError(absl::StrCat("key-env ", profile->key_env, ": the variable is not set"));
    }
    return ResolvedKey{key, absl::StrCat("key-env ", profile->key_env)};
  }
  return ResolvedKey{};
}

NormalizedArgs NormalizeArgs(const std::vector<std::string>& argv) {
  NormalizedArgs out;
  bool flags_ended = false;
  for (size_t i = 0; i < argv.size(); ++i) {
    const std::string& arg = argv[i];
    if (i == 0 || flags_ended || arg.size() < 2 || arg[0] != '-') {
      out.args.push_back(arg);
      continue;
    }
    if (arg == "--") {
      flags_ended = true;
      out.args.push_back(arg);
      continue;
    }
    if (arg == "-q") {
      out.args.push_back("--quiet");
      continue;
    }
    if (arg == "-o") {
      if (i + 1 < argv.size()) {
        out.args.push_back("--output=" + argv[++i]);
      } else {
        out.args.push_back("--output");  // the parser then says --output needs a value
      }
      continue;
    }
    // -o=json and kubectl's -ojson (only with a format's name: -only_check_args is one of Abseil's flags).
    if (absl::StartsWith(arg, "-o=") || arg == "-otable" || arg == "-ojson" || arg == "-oyaml" || arg == "-ocsv") {
      out.args.push_back("--output=" + arg.substr(arg[2] == '=' ? 3 : 2));
      continue;
    }
    const size_t dashes = arg[1] == '-' ? 2 : 1;
    const size_t equals = arg.find('=');
    std::string name = arg.substr(dashes, equals == std::string::npos ? std::string::npos : equals - dashes);
    std::replace(name.begin(), name.end(), '-', '_');
    if (name == "ca_file") name = "tls_ca_file";
    if (name == "key") out.key_on_argv = true;
    out.args.push_back(absl::StrCat(arg.substr(0, dashes), name, equals == std::string::npos ? "" : arg.substr(equals)));
  }
  return out;
}

}  // namespace parkbase::cli
