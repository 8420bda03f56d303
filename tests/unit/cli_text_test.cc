// The command line's text rules without a server: the argv normaliser, the profiles file, the output formats, the
// CSV reader and writer, and the device and telemetry import files.
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>

#include <catch2/catch.hpp>

#include "parkbase/cli_config.h"
#include "parkbase/cli_format.h"
#include "parkbase/cli_import.h"
#include "parkbase/tenant/v1/tenant.pb.h"

namespace parkbase::cli {
namespace {

using Strings = std::vector<std::string>;

// An environment of our own, so tests never read or change the process's.
std::function<const char*(const char*)> Env(std::map<std::string, std::string> values) {
  auto shared = std::make_shared<std::map<std::string, std::string>>(std::move(values));
  return [shared](const char* name) -> const char* {
    auto found = shared->find(name);
    return found == shared->end() ? nullptr : found->second.c_str();
  };
}

TEST_CASE("cli args: kebab-case flags reach Abseil as snake_case, values untouched", "[cli][unit]") {
  const NormalizedArgs out = NormalizeArgs({"parkbase", "device", "list", "--page-size=5", "--page_size", "7",
                                            "--display-name=a-b-c", "--no-tls", "--ca-file=/x-y.pem", "-o", "yaml",
                                            "-q", "--", "--not-a-flag-here"});
  CHECK(out.args == Strings{"parkbase", "device", "list", "--page_size=5", "--page_size", "7",
                            "--display_name=a-b-c", "--no_tls", "--tls_ca_file=/x-y.pem", "--output=yaml", "--quiet",
                            "--", "--not-a-flag-here"});
  CHECK_FALSE(out.key_on_argv);
  SECTION("-ojson and -o=json are --output") {
    CHECK(NormalizeArgs({"p", "-ojson"}).args == Strings{"p", "--output=json"});
    CHECK(NormalizeArgs({"p", "-o=csv"}).args == Strings{"p", "--output=csv"});
    CHECK(NormalizeArgs({"p", "-o"}).args == Strings{"p", "--output"});
  }
  SECTION("--key on argv is noticed, in either spelling") {
    CHECK(NormalizeArgs({"p", "--key=pbk.x"}).key_on_argv);
    CHECK(NormalizeArgs({"p", "-key", "pbk.x"}).key_on_argv);
    CHECK_FALSE(NormalizeArgs({"p", "--key-file=f"}).key_on_argv);
  }
}

constexpr char kGoodConfig[] = R"(# my profiles
current-profile: prod
profiles:
  prod:
    address: parkbase.example.internal:50051   # the park's server
    ca-file: "/etc/parkbase/ca file.pem"
    key-file: ~/.config/parkbase/prod.key
    tenant: acme
    tls: true
  dev:
    address: '127.0.0.1:50051'
    key-env: PARKBASE_DEV_KEY
)";

TEST_CASE("cli config: a good file parses, and renders back to the same config", "[cli][unit]") {
  absl::StatusOr<CliConfig> config = ParseCliConfig(kGoodConfig, "config.yaml");
  REQUIRE(config.ok());
  CHECK(config->current_profile == "prod");
  REQUIRE(config->profiles.size() == 2);
  const Profile& prod = config->profiles.at("prod");
  CHECK(prod.address == "parkbase.example.internal:50051");
  CHECK(prod.ca_file == "/etc/parkbase/ca file.pem");
  CHECK(prod.key_file == "~/.config/parkbase/prod.key");
  CHECK(prod.tenant == "acme");
  CHECK(prod.tls == true);
  CHECK(config->profiles.at("dev").address == "127.0.0.1:50051");
  CHECK(config->profiles.at("dev").key_env == "PARKBASE_DEV_KEY");

  absl::StatusOr<CliConfig> back = ParseCliConfig(RenderCliConfig(*config), "again.yaml");
  REQUIRE(back.ok());
  CHECK(back->current_profile == "prod");
  CHECK(back->profiles.at("prod").ca_file == "/etc/parkbase/ca file.pem");
  CHECK(back->profiles.at("prod").tls == true);
  CHECK(back->profiles.at("dev").key_env == "PARKBASE_DEV_KEY");
}

TEST_CASE("cli config: a line outside the subset is refused, naming the file and line", "[cli][unit]") {
  const auto error = [](const std::string& text) {
    absl::StatusOr<CliConfig> config = ParseCliConfig(text, "c.yaml");
    REQUIRE_FALSE(config.ok());
    return std::string(config.status().message());
  };
  CHECK_THAT(error("profiles:\n  a:\n    adress: x\n"), Catch::StartsWith("c.yaml:3: 'adress' is not a profile field"));
  CHECK_THAT(error("profiles:\n  a:\n    key: pbk.a.b.c\n"), Catch::StartsWith("c.yaml:3: key: a profile holds no key"));
  CHECK_THAT(error("current-profile: a\nprofiles:\n   a:\n"), Catch::StartsWith("c.yaml:3: indented 3 spaces"));
  CHECK_THAT(error("profiles:\n\t a:\n"), Catch::StartsWith("c.yaml:2: indent with spaces"));
  CHECK_THAT(error("profiles: {a: b}\n"), Catch::StartsWith("c.yaml:1:"));
  CHECK_THAT(error("profiles:\n  a:\n    address: [x]\n"), Catch::StartsWith("c.yaml:3:"));
  CHECK_THAT(error("profiles:\n  a:\n    address: \"x\n"), Catch::StartsWith("c.yaml:3: the \" is not closed"));
  CHECK_THAT(error("profiles:\n  a:\n  a:\n"), Catch::StartsWith("c.yaml:3: profile 'a' twice"));
  CHECK_THAT(error("- a\n"), Catch::StartsWith("c.yaml:1: expected 'key: value'"));
  CHECK_THAT(error("\n\nprofiles:\n  a:\n    tls: yes\n"), Catch::StartsWith("c.yaml:5: tls: must be true or false"));
}

TEST_CASE("cli config: the file's path follows --config, then XDG_CONFIG_HOME, then HOME", "[cli][unit]") {
  CHECK(ConfigPath("/x/c.yaml", Env({{"XDG_CONFIG_HOME", "/xdg"}})) == "/x/c.yaml");
  CHECK(ConfigPath("", Env({{"XDG_CONFIG_HOME", "/xdg"}, {"HOME", "/home/u"}})) == "/xdg/parkbase/config.yaml");
  CHECK(ConfigPath("", Env({{"XDG_CONFIG_HOME", "relative"}, {"HOME", "/home/u"}})) ==
        "/home/u/.config/parkbase/config.yaml");
  CHECK(ConfigPath("", Env({{"HOME", "/home/u"}})) == "/home/u/.config/parkbase/config.yaml");
}

TEST_CASE("cli config: the key comes from the flag or PARKBASE_KEY, then key-file, then key-env", "[cli][unit]") {
  const std::filesystem::path dir = std::filesystem::temp_directory_path() / ("cli_key_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  std::ofstream(dir / "k") << "pbk.acme.k1.secret\n";
  Profile profile;
  profile.key_file = "~/k";
  profile.key_env = "MY_KEY";
  const auto env = Env({{"HOME", dir.string()}, {"MY_KEY", "pbk.acme.k2.other"}});

  absl::StatusOr<ResolvedKey> from_env = ResolveKey("pbk.env", false, &profile, env);
  REQUIRE(from_env.ok());
  CHECK(from_env->key == "pbk.env");
  CHECK(from_env->source == "PARKBASE_KEY");
  CHECK(ResolveKey("pbk.flag", true, &profile, env)->source == "--key");
  absl::StatusOr<ResolvedKey> from_file = ResolveKey("", false, &profile, env);
  REQUIRE(from_file.ok());
  CHECK(from_file->key == "pbk.acme.k1.secret");
  profile.key_file.clear();
  CHECK(ResolveKey("", false, &profile, env)->key == "pbk.acme.k2.other");
  profile.key_env = "UNSET_KEY";
  CHECK_THAT(std::string(ResolveKey("", false, &profile, env).status().message()),
             Catch::Contains("UNSET_KEY"));
  profile.key_file = "/nonexistent/key";
  CHECK_THAT(std::string(ResolveKey("", false, &profile, env).status().message()),
             Catch::Contains("/nonexistent/key"));
  std::filesystem::remove_all(dir);
}

TEST_CASE("cli output: json and yaml print the same fields, yaml quoting what YAML would misread", "[cli][unit]") {
  tenant::v1::Tenant tenant;
  tenant.set_tenant_id("acme");
  tenant.set_display_name("Acme: \"the\" works");
  tenant.set_code("1003");
  tenant.set_provider(true);
  tenant.mutable_quota()->set_max_devices(25000);
  tenant.mutable_create_time()->set_seconds(1764756000);
  CHECK_THAT(MessageToJson(tenant), Catch::Contains("\"tenant_id\": \"acme\""));
  CHECK(MessageToYaml(tenant) ==
        "code: \"1003\"\n"
        "create_time: \"2025-12-03T10:00:00Z\"\n"
        "display_name: \"Acme: \\\"the\\\" works\"\n"
        "provider: true\n"
        "quota:\n"
        "  max_devices: \"25000\"\n"
        "tenant_id: acme\n");
  SECTION("lists of maps and empty messages") {
    tenant::v1::ListTenantsResponse list;
    *list.add_tenants() = tenant;
    list.add_tenants()->set_tenant_id("yes");
    const std::string yaml = MessageToYaml(list);
    CHECK_THAT(yaml, Catch::StartsWith("tenants:\n  - code: \"1003\"\n    create_time:"));
    CHECK_THAT(yaml, Catch::EndsWith("  - tenant_id: \"yes\"\n"));
    CHECK(MessageToYaml(tenant::v1::Tenant()) == "{}\n");
  }
  CHECK(ParseOutputFormat("yaml").value() == OutputFormat::kYaml);
  CHECK_FALSE(ParseOutputFormat("xml").ok());
}

TEST_CASE("cli output: tables size columns to their widest cell, Chinese characters taking two", "[cli][unit]") {
  CHECK(RenderTable({"ID", "NAME"}, {{"a", "x"}, {"long-id", "压力机"}}) ==
        "ID       NAME\n"
        "a        x\n"
        "long-id  压力机\n");
  CHECK(Cell("压力机", 5) == "压力 ");
}

TEST_CASE("cli csv: fields are quoted as RFC 4180 says, and read back", "[cli][unit]") {
  const Strings fields = {"plain", "a,b", "say \"hi\"", "", "x"};
  const std::string line = CsvRecord(fields);
  CHECK(line == "plain,\"a,b\",\"say \"\"hi\"\"\",,x\n");
  CHECK(ParseCsvLine(line.substr(0, line.size() - 1)).value() == fields);
  CHECK(ParseCsvLine("a,b,\r").value() == Strings{"a", "b", ""});
  CHECK_THAT(std::string(ParseCsvLine("a,\"b").status().message()), Catch::Contains("not closed"));
  CHECK_THAT(std::string(ParseCsvLine("a,\"b\"c").status().message()), Catch::Contains("after the closing quote"));
  CHECK_THAT(std::string(ParseCsvLine("a,b\"c").status().message()), Catch::Contains("quote inside"));
}

TEST_CASE("cli csv: times and values round-trip through their text", "[cli][unit]") {
  for (const char* text : {"2026-12-03T10:00:00Z", "2026-12-03T10:00:00.25Z", "2026-12-03T10:00:00.001Z"}) {
    CHECK(TimeToRfc3339(TimeFromRfc3339(text).value()) == text);
  }
  CHECK(TimeFromRfc3339("2026-12-03T12:00:00+02:00").value().seconds() ==
        TimeFromRfc3339("2026-12-03T10:00:00Z").value().seconds());
  CHECK_FALSE(TimeFromRfc3339("2026-12-03 10:00").ok());
  CHECK(ValueToText(ValueFromText("21", device::v1::VALUE_TYPE_DOUBLE).value()) == "21");
  CHECK(ValueFromText("21", device::v1::VALUE_TYPE_DOUBLE)->has_double_value());
  CHECK(ValueToText(ValueFromText("0.1", device::v1::VALUE_TYPE_DOUBLE).value()) == "0.1");
  CHECK(ValueFromText("-7", device::v1::VALUE_TYPE_INT64)->int_value() == -7);
  CHECK_FALSE(ValueFromText("7.5", device::v1::VALUE_TYPE_INT64).ok());
  CHECK_FALSE(ValueFromText("nan", device::v1::VALUE_TYPE_DOUBLE).ok());
  CHECK(ValueFromText("true", device::v1::VALUE_TYPE_BOOL)->bool_value());
  CHECK_FALSE(ValueFromText("yes", device::v1::VALUE_TYPE_BOOL).ok());
  CHECK(ValueFromText("a,b", device::v1::VALUE_TYPE_STRING)->string_value() == "a,b");
}

TEST_CASE("cli import: device CSV rows with labels and attributes, bad lines by number", "[cli][unit]") {
  const absl::StatusOr<DeviceImportFile> file = ParseDeviceImport(
      "device_id,device-type,serial_number,display_name,labels,label.Zone,attribute.rated_kw\n"
      "press-1,press,SN-1,\"Press, big\",line=3;hall=a,north,7.5\n"
      "\n"
      "press-2,press,SN-2,,,,\n"
      "press-3,press,\"SN-3\n"
      "press-4,press,SN-4,x,line3,,\n"
      "press-5,press\n");
  REQUIRE(file.ok());
  REQUIRE(file->rows.size() == 2);
  const device::v1::Device& first = file->rows[0].device;
  CHECK(file->rows[0].line == 2);
  CHECK(first.device_id() == "press-1");
  CHECK(first.device_type_id() == "press");
  CHECK(first.display_name() == "Press, big");
  CHECK(first.labels().at("line") == "3");
  CHECK(first.labels().at("hall") == "a");
  CHECK(first.labels().at("Zone") == "north");
  CHECK(first.attributes().at("rated_kw").double_value() == 7.5);
  CHECK(file->rows[1].line == 4);
  CHECK(file->rows[1].device.labels().empty());
  REQUIRE(file->errors.size() == 3);
  CHECK(file->errors[0].line == 5);
  CHECK(file->errors[1].line == 6);
  CHECK_THAT(file->errors[1].message, Catch::Contains("'line3' is not key=value"));
  CHECK(file->errors[2].line == 7);
  CHECK_THAT(file->errors[2].message, Catch::Contains("2 fields, the header has 7"));
  CHECK_THAT(std::string(ParseDeviceImport("device_id,colour\n").status().message()),
             Catch::Contains("line 1: unknown column 'colour'"));
}

TEST_CASE("cli import: device JSON lines", "[cli][unit]") {
  const absl::StatusOr<DeviceImportFile> file = ParseDeviceImport(
      "{\"device_id\":\"a-1\",\"deviceTypeId\":\"press\",\"serial_number\":\"S1\",\"labels\":{\"line\":\"3\"}}\n"
      "{\"device_id\":\n");
  REQUIRE(file.ok());
  REQUIRE(file->rows.size() == 1);
  CHECK(file->rows[0].device.device_type_id() == "press");
  CHECK(file->rows[0].device.labels().at("line") == "3");
  REQUIRE(file->errors.size() == 1);
  CHECK(file->errors[0].line == 2);
}

TEST_CASE("cli import: telemetry CSV keeps each point's own timestamp", "[cli][unit]") {
  const absl::StatusOr<PointImportFile> file = ParsePointCsv(
      "timestamp,device,metric,value\n"
      "2026-12-03T10:00:00.5Z,press-1,temp,21.5\n"
      "yesterday,press-1,temp,22\n"
      "2026-12-03T10:01:00Z,press-1,note,\"a, b\"\n");
  REQUIRE(file.ok());
  REQUIRE(file->rows.size() == 2);
  CHECK(file->rows[0].device == "press-1");
  CHECK(TimeToRfc3339(file->rows[0].time) == "2026-12-03T10:00:00.5Z");
  CHECK(file->rows[0].value == "21.5");
  CHECK(file->rows[1].line == 4);
  CHECK(file->rows[1].value == "a, b");
  REQUIRE(file->errors.size() == 1);
  CHECK(file->errors[0].line == 3);
  CHECK_FALSE(ParsePointCsv("device,metric,time,value\n").ok());
}

}  // namespace
}  // namespace parkbase::cli
