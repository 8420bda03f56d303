// The live hub's pre-serialised responses (telemetry/live_hub.h): a response built by concatenating each chosen
// series' bytes (TelemetryManager::SerializeLiveEntry over SelectDecoded's choice) is the very SubscribeResponse the
// typed path (FilterDecoded) builds, byte for byte, for every kind of value and filter.
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "google/protobuf/util/message_differencer.h"
#include "telemetry/telemetry_logic.h"

namespace parkbase::telemetry {
namespace {

SeriesEntry Entry(std::string device, std::string metric, ValueKind kind, int points) {
  SeriesEntry entry{std::move(device), std::move(metric), {}};
  entry.data.kind = kind;
  for (int i = 0; i < points; ++i) {
    entry.data.timestamps_ms.push_back(1'700'000'000'000 + i * 1000 + (i % 3));
    switch (kind) {
      case ValueKind::kDouble:
        entry.data.doubles.push_back(i * 0.5 - 3);
        break;
      case ValueKind::kInt64:
        entry.data.ints.push_back(int64_t{1} << (i % 60));
        break;
      case ValueKind::kBool:
        entry.data.bools.push_back(static_cast<uint8_t>(i % 2));
        break;
      case ValueKind::kString:
        entry.data.strings.push_back(std::string(static_cast<size_t>(i * 40), 'x'));  // past one-byte lengths
        break;
    }
  }
  return entry;
}

TEST_CASE("live response: the pre-serialised response equals the typed one for every kind of value and filter",
          "[telemetry][unit]") {
  const std::vector<std::vector<SeriesEntry>> decoded = {
      {Entry("d0", "temp", ValueKind::kDouble, 3), Entry("d1", "count", ValueKind::kInt64, 5),
       Entry("d0", "on", ValueKind::kBool, 2), Entry("d2", "note", ValueKind::kString, 6),
       Entry("d1", "temp", ValueKind::kDouble, 0)},
      {Entry("d2", "temp", ValueKind::kDouble, 1)},
      {},
  };
  const TelemetryManager::LiveIndex index = TelemetryManager::IndexLiveBlocks(decoded);
  std::vector<SubscriptionFilter> filters(5);
  filters[1].device_ids = {"d0"};
  filters[2].device_ids = {"d2", "d0", "d2"};  // out of the block's order, and named twice
  filters[3].metrics = {"temp"};
  filters[4].device_ids = {"d9"};  // nothing
  for (size_t f = 0; f < filters.size(); ++f) {
    for (const TelemetryManager::LiveIndex* by : {static_cast<const TelemetryManager::LiveIndex*>(nullptr), &index}) {
      INFO("filter " << f << (by == nullptr ? " without" : " with") << " the index");
      const std::vector<std::vector<pb::DataPoint>> typed =
          TelemetryManager::FilterDecoded(filters[f], decoded, {}, by);
      const std::vector<std::vector<int>> chosen = TelemetryManager::SelectDecoded(filters[f], decoded, {}, by);
      REQUIRE(chosen.size() == decoded.size());
      for (size_t b = 0; b < decoded.size(); ++b) {
        INFO("block " << b);
        pb::SubscribeResponse expected;
        for (const pb::DataPoint& point : typed[b]) *expected.add_points() = point;
        // A response with no point is never sent, and nothing is chosen for it.
        CHECK(chosen[b].empty() == typed[b].empty());
        std::string bytes;
        for (int e : chosen[b]) bytes += TelemetryManager::SerializeLiveEntry(decoded[b][e]);
        CHECK(bytes == expected.SerializeAsString());
        pb::SubscribeResponse parsed;
        REQUIRE(parsed.ParseFromString(bytes));
        CHECK(google::protobuf::util::MessageDifferencer::Equals(parsed, expected));
      }
    }
  }
  // The choices differ as the filters do: all of block 0's non-empty series, d0's, d0's and d2's in block order.
  CHECK(TelemetryManager::SelectDecoded(filters[0], decoded, {}, &index)[0] == std::vector<int>{0, 1, 2, 3});
  CHECK(TelemetryManager::SelectDecoded(filters[1], decoded, {}, &index)[0] == std::vector<int>{0, 2});
  CHECK(TelemetryManager::SelectDecoded(filters[2], decoded, {}, &index)[0] == std::vector<int>{0, 2, 3});
}

}  // namespace
}  // namespace parkbase::telemetry
