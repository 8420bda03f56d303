// What every fuzz target defines: libFuzzer's entry point and its seeds. The seeds are built in code (valid requests
// and blocks are easier to read and keep valid there than as bytes); `fuzz_replay_<target> --write-seeds DIR` writes
// them as files, which is how corpus/<target>/ was made, and the replay test runs them besides the files.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace parkbase::fuzz {

std::vector<std::string> FuzzSeeds();

}  // namespace parkbase::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);
