# Build helpers shared by every service: warning flags and SQL migrations embedded into the binary.

set(PARKBASE_WARNINGS -Wall -Wextra -Wpedantic -Wno-unused-parameter)
if(PARKBASE_WERROR)
  list(APPEND PARKBASE_WARNINGS -Werror)
endif()

# PARKBASE_FUZZ (docs/fuzzing.md): code we write gets AddressSanitizer, UndefinedBehaviorSanitizer and libFuzzer's
# coverage; generated code only the same optimization (sanitizing protoc's output would double its compile time and
# find nothing of ours). -O1 with line tables, as libFuzzer's documentation recommends: fast to fuzz and to compile.
if(PARKBASE_FUZZ)
  if(NOT CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
    message(FATAL_ERROR "PARKBASE_FUZZ needs clang (CXX=clang++-16; scripts/fuzz.sh sets it up)")
  endif()
  set(PARKBASE_FUZZ_SANITIZERS -fsanitize=address,undefined -fno-sanitize-recover=undefined)
  add_compile_options(-O1 -gline-tables-only -fno-omit-frame-pointer)
  add_link_options(-fsanitize=address,undefined)
endif()

# parkbase_target_defaults(<target>) applies the project's warnings to code we write (never to generated code).
function(parkbase_target_defaults target)
  target_compile_options(${target} PRIVATE ${PARKBASE_WARNINGS})
  if(PARKBASE_FUZZ)
    target_compile_options(${target} PRIVATE ${PARKBASE_FUZZ_SANITIZERS} -fsanitize=fuzzer-no-link)
  endif()
endfunction()

# parkbase_embed_migrations(<target> <service> <function> <files...>) compiles numbered SQL files into a function
# `const std::vector<parkbase::Migration>& <function>()` so a binary carries its schema and needs no files at run time.
function(parkbase_embed_migrations target service function)
  set(generated ${CMAKE_CURRENT_BINARY_DIR}/${service}_migrations.cc)
  set(body "")
  foreach(file IN LISTS ARGN)
    get_filename_component(name ${file} NAME_WE)
    string(REGEX MATCH "^[0-9]+" version ${name})
    if(NOT version)
      message(FATAL_ERROR "migration ${file}: name must start with its number, e.g. 0001_tenants.sql")
    endif()
    file(READ ${file} sql)
    string(FIND "${sql}" ")parkbase_sql\"" clash)
    if(NOT clash EQUAL -1)
      message(FATAL_ERROR "migration ${file} contains the raw-string delimiter")
    endif()
    math(EXPR version_number "${version}")
    string(APPEND body "      {\"${service}\", ${version_number}, \"${name}\", R\"parkbase_sql(${sql})parkbase_sql\"},\n")
    set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS ${file})
  endforeach()
  # WRITE then COPYONLY: the SQL is taken verbatim (no ${} or @@ substitution) and an unchanged file keeps its timestamp.
  file(WRITE ${generated}.tmp
"// Generated from ${service}'s migrations/ by parkbase_embed_migrations; edit the .sql files instead.
#include <vector>
#include \"common/migrations.h\"
namespace parkbase {
const std::vector<Migration>& ${function}() {
  static const std::vector<Migration> kMigrations = {
${body}  };
  return kMigrations;
}
}  // namespace parkbase
")
  configure_file(${generated}.tmp ${generated} COPYONLY)
  target_sources(${target} PRIVATE ${generated})
endfunction()

# parkbase_embed_text(<target> <file> <function>) compiles a text file into `absl::string_view parkbase::<function>()`
# (declared in a header of the caller's), so a binary serves it with no file to ship and no tool but the compiler.
# The file is read when cmake configures; a change to it re-runs cmake.
function(parkbase_embed_text target file function)
  if(NOT EXISTS ${file})
    message(FATAL_ERROR "${file} is missing: it is checked in, and the build embeds it")
  endif()
  set(generated ${CMAKE_CURRENT_BINARY_DIR}/${function}_embedded.cc)
  # Named from the repo, so the generated source (and ccache's hash of it) is the same in every checkout.
  file(RELATIVE_PATH shown ${PROJECT_SOURCE_DIR} ${file})
  file(READ ${file} text)
  string(FIND "${text}" ")parkbase_text\"" clash)
  if(NOT clash EQUAL -1)
    message(FATAL_ERROR "${file} contains the raw-string delimiter")
  endif()
  set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS ${file})
  # WRITE then COPYONLY, as for the migrations: the text is taken verbatim and an unchanged file keeps its timestamp.
  file(WRITE ${generated}.tmp
"// Generated from ${shown} by parkbase_embed_text; edit or regenerate that file instead.
#include \"absl/strings/string_view.h\"
namespace parkbase {
absl::string_view ${function}() {
  static constexpr char kText[] = R\"parkbase_text(${text})parkbase_text\";
  return absl::string_view(kText, sizeof(kText) - 1);
}
}  // namespace parkbase
")
  configure_file(${generated}.tmp ${generated} COPYONLY)
  target_sources(${target} PRIVATE ${generated})
  # One literal longer than the 64 KiB the standard asks compilers to support; GCC and clang take far more.
  set_source_files_properties(${generated} PROPERTIES COMPILE_OPTIONS -Wno-overlength-strings)
endfunction()
