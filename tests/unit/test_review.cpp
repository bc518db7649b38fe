#include "catalog/catalog.hpp"
#include "core/exit_codes.hpp"
#include "people/people.hpp"
#include "review/review.hpp"
#include "test_helpers.hpp"

using namespace facecat;

TEST_CASE("review serves loopback addresses only unless told otherwise", "[review]") {
  CHECK(review::is_loopback("127.0.0.1"));
  CHECK(review::is_loopback("127.1.2.3"));
  CHECK(review::is_loopback("::1"));
  CHECK(review::is_loopback("localhost"));
  CHECK_FALSE(review::is_loopback("0.0.0.0"));
  CHECK_FALSE(review::is_loopback("192.168.1.10"));
  CHECK_FALSE(review::is_loopback("128.0.0.1"));
  CHECK_FALSE(review::is_loopback("::"));
  CHECK_FALSE(review::is_loopback("example.org"));
  review::Options o;
  o.bind = "0.0.0.0";
  auto r = review::serve(o, [](const review::Serving&) {});
  REQUIRE_FALSE(r);
  CHECK(r.error().message.find("--allow-remote") != std::string::npos);
}

TEST_CASE("not_a_face takes a detection out of its person and cluster for good", "[people]") {
  test::TempDir t;
  auto c = catalog::Catalog::open(t.path / "c.db", {catalog::Mode::Write});
  REQUIRE(c);
  auto& db = c->db();
  db.exec("INSERT INTO people(id, name, status, created_at, updated_at) VALUES (7, 'Alice', 'named', 0, 0)");
  db.exec("INSERT INTO detections(file_hash, pipeline_version, model_id, n_faces, processed_at) "
          "VALUES ('h1', 'v1', 'm', 2, 0)");
  db.exec("INSERT INTO faces(id, file_hash, pipeline_version, face_index, model_id, x, y, w, h, created_at, person_id, "
          "assignment, cluster_id) VALUES (1, 'h1', 'v1', 0, 'm', 0, 0, 10, 10, 0, 7, 'suggested', 3), "
          "(2, 'h1', 'v1', 1, 'm', 20, 0, 10, 10, 0, 7, 'confirmed', 3)");
  auto r = people::not_a_face(db, 1);
  REQUIRE(r);
  CHECK((*r)["person_id"] == 7);
  auto s = db.prepare("SELECT label, person_id IS NULL, assignment IS NULL, cluster_id IS NULL FROM faces WHERE id = 1");
  REQUIRE(s.step());
  CHECK(s.text(0) == "not_face");
  CHECK(s.i64(1) == 1);
  CHECK(s.i64(2) == 1);
  CHECK(s.i64(3) == 1);
  // the other face keeps its person; the catalog's invariants hold (the detection still counts both rows)
  CHECK(db.scalar_int("SELECT person_id FROM faces WHERE id = 2") == 7);
  CHECK(catalog::check(db).empty());
  auto missing = people::not_a_face(db, 99);
  REQUIRE_FALSE(missing);
  CHECK(missing.error().code == exit_code::usage);
}
