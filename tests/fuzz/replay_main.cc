// The main of a fuzz target in the normal (gcc) build: runs the target's seeds and every input file it is given
// (the checked-in corpus and regression inputs), once each, and fails as the fuzzer would on any of them.
//
//   fuzz_replay_<target> [--write-seeds DIR] [FILE_OR_DIR...]
//
// --write-seeds writes the target's seeds into DIR (how tests/fuzz/corpus/<target>/ is made) and exits.
#include <algorithm>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "fuzz/fuzz_target.h"

// libFuzzer's byte mutator, which custom mutators fall back to; nothing mutates in a replay.
extern "C" size_t LLVMFuzzerMutate(uint8_t* data, size_t size, size_t max_size) { return size; }

namespace {

namespace fs = std::filesystem;

int Replay(const std::string& input) {
  return LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(input.data()), input.size());
}

bool ReadFile(const fs::path& path, std::string& contents) {
  std::ifstream in(path, std::ios::binary);
  contents.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  return static_cast<bool>(in) || in.eof();
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<fs::path> paths;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--write-seeds") == 0 && i + 1 < argc) {
      const fs::path dir = argv[++i];
      fs::create_directories(dir);
      int n = 0;
      for (const std::string& seed : parkbase::fuzz::FuzzSeeds()) {
        char name[32];
        std::snprintf(name, sizeof(name), "seed-%03d", n++);
        std::ofstream(dir / name, std::ios::binary) << seed;
      }
      std::printf("wrote %d seeds to %s\n", n, dir.c_str());
      return 0;
    }
    paths.emplace_back(argv[i]);
  }

  int seeds = 0;
  for (const std::string& seed : parkbase::fuzz::FuzzSeeds()) {
    Replay(seed);
    ++seeds;
  }
  int files = 0;
  for (const fs::path& path : paths) {
    std::vector<fs::path> inputs;
    if (fs::is_directory(path)) {
      for (const auto& entry : fs::directory_iterator(path)) {
        if (entry.is_regular_file() && entry.path().filename().string()[0] != '.') inputs.push_back(entry.path());
      }
    } else if (fs::exists(path)) {
      inputs.push_back(path);
    }
    std::sort(inputs.begin(), inputs.end());
    for (const fs::path& input : inputs) {
      std::string contents;
      if (!ReadFile(input, contents)) {
        std::fprintf(stderr, "cannot read %s\n", input.c_str());
        return 1;
      }
      std::fprintf(stderr, "replaying %s\n", input.c_str());
      Replay(contents);
      ++files;
    }
  }
  std::printf("replayed %d seeds and %d files: no crash, every invariant held\n", seeds, files);
  return 0;
}
