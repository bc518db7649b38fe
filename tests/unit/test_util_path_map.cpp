#include <catch2/catch.hpp>

#include "util/path_map.hpp"

using facecat::util::PathMap;

TEST_CASE("path map: whole components, longest prefix, both ways", "[util]") {
  PathMap m;
  REQUIRE(m.add("/mnt/photos=/srv/photos/"));
  REQUIRE(m.add("/mnt/photos/2024=/fast/2024"));
  CHECK(m.forward("/mnt/photos/a.jpg") == "/srv/photos/a.jpg");
  CHECK(m.forward("/mnt/photos") == "/srv/photos");
  CHECK(m.forward("/mnt/photos2/a.jpg") == "/mnt/photos2/a.jpg");  // not under /mnt/photos
  CHECK(m.forward("/mnt/photos/2024/b.jpg") == "/fast/2024/b.jpg");  // the longer rule wins
  CHECK(m.forward("/other/c.jpg") == "/other/c.jpg");
  CHECK(m.back("/srv/photos/a.jpg") == "/mnt/photos/a.jpg");
  CHECK(m.back("/fast/2024/b.jpg") == "/mnt/photos/2024/b.jpg");
  CHECK(m.forward(std::string("/mnt/photos/caf\xe9.jpg")) == std::string("/srv/photos/caf\xe9.jpg"));  // raw bytes
  PathMap root;
  REQUIRE(root.add("/=/mnt/remote"));
  CHECK(root.forward("/x/y") == "/mnt/remote/x/y");
  CHECK(root.back("/mnt/remote/x/y") == "/x/y");
  CHECK(root.back("/mnt/remote") == "/");
}

TEST_CASE("path map: malformed rules are refused with the rule named", "[util]") {
  PathMap m;
  auto r = m.add("/a");
  REQUIRE_FALSE(r);
  CHECK(r.error().message.find("'/a'") != std::string::npos);
  CHECK_FALSE(m.add("a=/b"));
  CHECK_FALSE(m.add("/a=b"));
  CHECK_FALSE(m.add("=/b"));
  CHECK(m.empty());
}
