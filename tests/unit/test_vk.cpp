// lib/vk: the pieces that need no server (redaction, size choice, durations, random_id, pacing, the social graph).
#include <catch2/catch.hpp>

#include <chrono>
#include <filesystem>

#include "catalog/catalog.hpp"
#include "vk/api.hpp"
#include "vk/crawl.hpp"
#include "vk/http.hpp"
#include "vk/notify.hpp"
#include "vk/rate.hpp"
#include "vk/social.hpp"

using namespace facecat;
using nlohmann::json;

TEST_CASE("vk: redact removes tokens from URLs and bodies") {
  CHECK(vk::redact("https://api.vk.com/method/x?user_id=1&access_token=SECRET123&v=5.199") ==
        "https://api.vk.com/method/x?user_id=1&access_token=***&v=5.199");
  CHECK(vk::redact("access_token=abc") == "access_token=***");
  CHECK(vk::redact("Authorization: Bearer abc.def") == "Authorization: Bearer ***");
  CHECK(vk::redact("my_access_token=keep") == "my_access_token=keep");
}

TEST_CASE("vk: error classes follow the docs' table") {
  CHECK(vk::classify(6) == vk::ErrorClass::Retry);
  CHECK(vk::classify(10) == vk::ErrorClass::Retry);
  CHECK(vk::classify(29) == vk::ErrorClass::StopMethod);
  CHECK(vk::classify(9) == vk::ErrorClass::StopMethod);
  for (int c : {5, 14, 17, 28}) CHECK(vk::classify(c) == vk::ErrorClass::Fatal);
  for (int c : {15, 18, 30, 113, 200}) CHECK(vk::classify(c) == vk::ErrorClass::Person);
}

TEST_CASE("vk: choose_size takes the wanted type, else the largest non-crop") {
  json p = {{"sizes", json::array({{{"type", "s"}, {"url", "u-s"}, {"width", 75}, {"height", 56}},
                                   {{"type", "x"}, {"url", "u-x"}, {"width", 604}, {"height", 453}},
                                   {{"type", "r"}, {"url", "u-r"}, {"width", 2000}, {"height", 1300}},
                                   {{"type", "y"}, {"url", "u-y"}, {"width", 807}, {"height", 605}}})}};
  CHECK(vk::choose_size(p, "x")->url == "u-x");
  CHECK(vk::choose_size(p, "z")->url == "u-y");   // z missing: largest that is not a crop
  CHECK(vk::choose_size(p, "max")->url == "u-y");
  p["orig_photo"] = {{"url", "u-orig"}, {"width", 3000}, {"height", 2000}};
  CHECK(vk::choose_size(p, "max")->url == "u-orig");
  CHECK_FALSE(vk::choose_size(json::object(), "x"));
  json old = {{"sizes", json::array({{{"type", "m"}, {"src", "u-m"}, {"width", 130}, {"height", 97}}})}};
  CHECK(vk::choose_size(old, "z")->url == "u-m");
}

TEST_CASE("vk: placeholders, file names, durations, user objects") {
  CHECK(vk::is_placeholder_url("https://vk.com/images/camera_200.png?ava=1"));
  CHECK(vk::is_placeholder_url("https://vk.com/images/deactivated_200.png"));
  CHECK_FALSE(vk::is_placeholder_url("https://sun9-1.userapi.com/impg/abc.jpg?size=604x453"));
  CHECK(vk::photo_basename("123", "456") == "123_456");
  CHECK(vk::photo_basename("-5", "../x") == "-5_____");
  CHECK(vk::parse_duration("7d") == 7 * 86400);
  CHECK(vk::parse_duration("90m") == 5400);
  CHECK(vk::parse_duration("0") == 0);
  CHECK_FALSE(vk::parse_duration("soon"));
  auto u = vk::parse_user(json{{"id", 5}, {"first_name", "A"}, {"last_name", "B"}, {"deactivated", "banned"}});
  REQUIRE(u);
  CHECK(u->status == "banned");
  CHECK_FALSE(u->can_access);
  auto c = vk::parse_user(json{{"id", 6}, {"first_name", "C"}, {"last_name", "D"}, {"is_closed", true},
                               {"can_access_closed", false}, {"has_photo", 1}});
  CHECK(c->status == "closed");
  CHECK_FALSE(c->can_access);
  CHECK(c->has_photo == 1);
}

TEST_CASE("vk: random_id depends on user and text only, and is a positive 31-bit integer") {
  auto a = vk::message_random_id("5", "hello");
  CHECK(a == vk::message_random_id("5", "hello"));
  CHECK(a != vk::message_random_id("6", "hello"));
  CHECK(a != vk::message_random_id("5", "hello!"));
  CHECK(a > 0);
  CHECK(a <= 0x7fffffff);
  auto m = vk::message_from_match("{\"name\":\"Anna\",\"vk_id\":\"101\",\"distance\":0.4}\n", "f");
  REQUIRE(m);
  CHECK(m->find("https://vk.com/id101") != std::string::npos);
  CHECK_FALSE(vk::message_from_match("not json\n", "f"));
}

TEST_CASE("vk: the rate limiter spaces calls at 1.1/rps") {
  vk::RateLimiter r(20.0);
  auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < 6; ++i) r.acquire();
  double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  CHECK(s >= 5 * 1.1 / 20 * 0.95);  // the first is free, five waits of 55 ms
  CHECK(s < 1.0);
  // at most rps calls in any 1 s window
  CHECK(r.interval_seconds() * 20 > 1.0);
}

TEST_CASE("vk: social candidates count mutual friends from the friendships table") {
  auto dir = std::filesystem::temp_directory_path() / ("facecat-vk-unit-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  {
    catalog::OpenOptions o;
    o.mode = catalog::Mode::Write;
    auto cat = catalog::Catalog::open(dir / "c.db", o);
    REQUIRE(cat);
    auto& db = cat->db();
    int pid = 0;
    for (const char* id : {"1", "2", "3", "4", "5", "6"}) {
      db.prepare("INSERT INTO people(id, name, created_at, updated_at) VALUES(?1, ?2, 0, 0)")
          .bind_all(++pid, std::string("P") + id)
          .run();
      db.prepare("INSERT INTO person_sources(person_id, source, external_id, status) VALUES(?1,'vk',?2,'open')")
          .bind_all(pid, std::string(id))
          .run();
    }
    // 1 - 2, 1 - 3; 2 - 4, 3 - 4 (4 shares two friends with 1); 2 - 5; 2 - 3
    for (auto [a, b] : std::vector<std::pair<const char*, const char*>>{{"1", "2"}, {"1", "3"}, {"2", "4"},
                                                                        {"3", "4"}, {"2", "5"}, {"2", "3"}})
      db.prepare("INSERT INTO friendships(source, a, b, fetched_at) VALUES('vk', ?1, ?2, 0)").bind_all(a, b).run();
    auto c = vk::social_candidates(db, "1");
    REQUIRE(c);
    std::map<std::string, std::pair<int, int>> got;
    for (const auto& x : *c) got[x.vk_id] = {x.degree, x.mutual_friends};
    CHECK(got["2"] == std::pair(1, 1));  // 3 is a friend of both
    CHECK(got["3"] == std::pair(1, 1));
    CHECK(got["4"] == std::pair(2, 2));
    CHECK(got["5"] == std::pair(2, 1));
    CHECK(got.count("6") == 0);
    CHECK(got.count("1") == 0);
    auto s = vk::suggest(db, "1", 0);
    REQUIRE(s);
    REQUIRE(s->size() == 2);
    CHECK((*s)[0].vk_id == "4");
    CHECK_FALSE(vk::social_candidates(db, "99"));
  }
  std::filesystem::remove_all(dir);
}
