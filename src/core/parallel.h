// Bounded concurrency for independent work on many items (reading 200 services): at most
// `workers` threads, each taking the next index until none is left.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <thread>
#include <vector>

namespace promote {

/// Calls `work(i)` for every i in [0, count), on at most `workers` threads (the calling thread
/// is one of them), and returns when all calls have returned. `work` must not throw and must be
/// safe to call concurrently for different i; results go into slots indexed by i.
template <typename Work>
void ForEachConcurrently(std::size_t count, std::size_t workers, const Work& work) {
  std::atomic<std::size_t> next{0};
  auto drain = [&] {
    for (std::size_t i; (i = next.fetch_add(1)) < count;) work(i);
  };
  std::vector<std::thread> threads;
  const std::size_t extra = std::min(count, std::max<std::size_t>(workers, 1)) - (count ? 1 : 0);
  threads.reserve(extra);
  for (std::size_t t = 0; t < extra; ++t) threads.emplace_back(drain);
  drain();
  for (auto& thread : threads) thread.join();
}

}  // namespace promote
