#include <libpq-fe.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <string>

#include <catch2/catch.hpp>

#include "common/db.h"
#include "common/secret_file.h"

namespace parkbase {
namespace {

// What libpq itself reads from `conninfo` for `keyword` (the client the string is for, not our own parser).
std::string LibpqSetting(const std::string& conninfo, const std::string& keyword) {
  char* error = nullptr;
  PQconninfoOption* options = PQconninfoParse(conninfo.c_str(), &error);
  if (options == nullptr) {
    const std::string message = error != nullptr ? error : "out of memory";
    PQfreemem(error);
    FAIL("libpq refused '" << conninfo << "': " << message);
  }
  std::string value = "<unset>";
  for (PQconninfoOption* option = options; option->keyword != nullptr; ++option) {
    if (keyword == option->keyword && option->val != nullptr) value = option->val;
  }
  PQconninfoFree(options);
  return value;
}

TEST_CASE("rotation: the password file's password replaces the connection string's", "[rotation][unit]") {
  const std::string password = GENERATE(as<std::string>{}, "plain", "with space", "qu'ote", "back\\slash",
                                        "pct%41&amp=?#/@:", "ünï", "");
  SECTION("URL without parameters") {
    const std::string conninfo = ConninfoWithPassword("postgresql://svc:old@127.0.0.1:5432/db", password);
    CHECK(LibpqSetting(conninfo, "password") == password);
    CHECK(LibpqSetting(conninfo, "user") == "svc");
    CHECK(LibpqSetting(conninfo, "dbname") == "db");
  }
  SECTION("URL with parameters, and the postgres:// scheme") {
    const std::string conninfo =
        ConninfoWithPassword("postgres://svc@127.0.0.1:5432/db?sslmode=disable&password=old", password);
    CHECK(LibpqSetting(conninfo, "password") == password);
    CHECK(LibpqSetting(conninfo, "sslmode") == "disable");
  }
  SECTION("key=value form") {
    const std::string conninfo = ConninfoWithPassword("host=127.0.0.1 user=svc password=old dbname=db", password);
    CHECK(LibpqSetting(conninfo, "password") == password);
    CHECK(LibpqSetting(conninfo, "host") == "127.0.0.1");
    CHECK(LibpqSetting(conninfo, "dbname") == "db");
  }
}

TEST_CASE("rotation: a secret file is read whole and trimmed, every time", "[rotation][unit]") {
  char dir_template[] = "/tmp/parkbase-secret-XXXXXX";
  REQUIRE(mkdtemp(dir_template) != nullptr);
  const std::string path = std::string(dir_template) + "/password";
  std::ofstream(path) << "  first secret\n";
  CHECK(*ReadSecretFile(path) == "first secret");
  CHECK(*ConninfoFor("host=h", path) == "host=h password='first secret'");
  std::ofstream(path) << "second";
  CHECK(*ReadSecretFile(path) == "second");
  CHECK(*ConninfoFor("host=h", "") == "host=h");
  std::remove(path.c_str());
  CHECK(ReadSecretFile(path).status().code() == absl::StatusCode::kUnavailable);
  CHECK(ConninfoFor("host=h", path).status().code() == absl::StatusCode::kUnavailable);
  rmdir(dir_template);
}

}  // namespace
}  // namespace parkbase
