#include <catch2/catch.hpp>

#include "core/progress.hpp"

using facecat::Progress;

TEST_CASE("progress bar text: count, percentage, rate and ETA; never wider than the terminal", "[core][progress]") {
  Progress p("scan", 10, false);  // not enabled: nothing is drawn, render() still works
  p.tick(5);
  const std::string line = p.render(200);
  CHECK(line.rfind("scan [##########..........] 5/10  50% ", 0) == 0);
  CHECK(line.find("/s ETA ") != std::string::npos);
  for (int cols : {1, 2, 10, 30, 80})
    CHECK(p.render(cols).size() <= static_cast<size_t>(std::max(cols - 1, 1)));

  Progress q("detect", 0, false);  // unknown total: a running count
  q.tick(3);
  CHECK(q.render(80).rfind("detect 3 ", 0) == 0);
  CHECK(q.render(80).find("ETA") == std::string::npos);
}
