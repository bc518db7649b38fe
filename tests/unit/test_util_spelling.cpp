#include <catch2/catch.hpp>

#include "util/spelling.hpp"

using facecat::util::closest_match;
using facecat::util::edit_distance;

TEST_CASE("edit_distance counts inserts, deletes, replacements and swaps of neighbours", "[util][text]") {
  CHECK(edit_distance("", "") == 0);
  CHECK(edit_distance("", "abc") == 3);
  CHECK(edit_distance("abc", "") == 3);
  CHECK(edit_distance("stats", "stats") == 0);
  CHECK(edit_distance("stat", "stats") == 1);       // insert
  CHECK(edit_distance("lst", "list") == 1);         // insert
  CHECK(edit_distance("tolerence", "tolerance") == 1);  // replace
  CHECK(edit_distance("lsit", "list") == 1);        // swap of neighbours (Damerau)
  CHECK(edit_distance("ca", "abc") == 3);           // optimal string alignment: no edit of a swapped pair
  CHECK(edit_distance("kitten", "sitting") == 3);
  CHECK(edit_distance("list", "lsit") == edit_distance("lsit", "list"));
}

TEST_CASE("closest_match suggests only what is close", "[util][text]") {
  const std::vector<std::string> subs = {"stats", "check", "migrate", "forget", "ingest", "merge", "pipeline", "pending"};
  CHECK(closest_match("stat", subs) == std::optional<std::string>("stats"));
  CHECK(closest_match("chekc", subs) == std::optional<std::string>("check"));
  CHECK(closest_match("STATS", subs) == std::optional<std::string>("stats"));  // without case
  CHECK_FALSE(closest_match("xyz", subs));
  CHECK_FALSE(closest_match("", subs));
  CHECK_FALSE(closest_match("stat", {}));
  // Short words allow one edit, long ones up to three.
  CHECK_FALSE(closest_match("ab", {"list"}));
  CHECK(closest_match("lst", {"list", "name"}) == std::optional<std::string>("list"));
  CHECK(closest_match("faces.min_fac", {"faces.min_face_fraction", "faces.min_face"}) ==
        std::optional<std::string>("faces.min_face"));
  CHECK(closest_match("tolernce", {"tolerance", "top"}) == std::optional<std::string>("tolerance"));
  // Ties go to the earlier candidate.
  CHECK(closest_match("mat", {"map", "man"}) == std::optional<std::string>("map"));
}
