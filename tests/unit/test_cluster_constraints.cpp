// lib/cluster: constrained chinese whispers (cannot-link, fixed anchors, forbidden labels) and the catalog run's
// guarantee that two faces of one photo never share a person, in one run and across incremental runs.
#include <catch2/catch.hpp>

#include <map>
#include <random>
#include <set>

#include "catalog/catalog.hpp"
#include "cluster/cluster.hpp"
#include "match/match.hpp"
#include "match_test_util.hpp"
#include "search/search.hpp"
#include "util/hash.hpp"
#include "util/text.hpp"

using namespace facecat;

namespace {

// A clique of n nodes (every pair linked).
cluster::Whispers clique(size_t n) {
  cluster::Whispers w;
  w.n = n;
  for (uint32_t a = 0; a < n; ++a)
    for (uint32_t b = a + 1; b < n; ++b) w.edges.push_back({a, b, 1.0f});
  return w;
}

// A descriptor near a centre: centre c's direction plus a small deterministic offset.
search::Descriptor near(int centre, int jitter) {
  search::Descriptor d{};
  d[static_cast<size_t>(centre)] = 1.0f;
  std::mt19937 rng(static_cast<unsigned>(centre * 1000 + jitter));
  std::normal_distribution<float> nd(0.0f, 0.012f);
  for (auto& x : d) x += nd(rng);
  return d;
}

struct SynthFace {
  std::string photo;
  search::Descriptor d;
};

// Faces into a catalog (files, detections, faces) under model "m-test"; returns their ids.
std::vector<int64_t> add_faces(catalog::Db& db, const std::vector<SynthFace>& faces) {
  catalog::Transaction tx(db);
  const int64_t now = util::now_unix();
  std::vector<int64_t> ids;
  auto file = db.prepare(
      "INSERT OR IGNORE INTO files(path, size, mtime_ns, inode, hash, kind, first_seen, last_seen, changed_at) "
      "VALUES (?, 0, 0, 0, ?, 'image', ?, ?, ?)");
  auto det = db.prepare(
      "INSERT INTO detections(file_hash, pipeline_version, model_id, n_faces, processed_at) VALUES (?, 'test', "
      "'m-test', 1, ?) ON CONFLICT DO UPDATE SET n_faces = n_faces + 1");
  auto face = db.prepare(
      "INSERT INTO faces(file_hash, pipeline_version, face_index, model_id, x, y, w, h, descriptor, created_at) "
      "VALUES (?, 'test', (SELECT count(*) FROM faces WHERE file_hash = ?1), 'm-test', 0, 0, 10, 10, ?, ?)");
  for (auto& f : faces) {
    std::string hash = util::xxh3_128_hex(f.photo);
    file.reset();
    file.bind_blob(1, f.photo).bind(2, hash).bind(3, now).bind(4, now).bind(5, now).run();
    det.reset();
    det.bind_all(hash, now).run();
    face.reset();
    face.bind(1, hash);
    face.bind_blob(2, search::encode_descriptor(f.d.data()));
    face.bind(3, now).run();
    ids.push_back(db.last_insert_id());
  }
  tx.commit();
  return ids;
}

std::map<int64_t, std::optional<int64_t>> person_of(catalog::Db& db) {
  std::map<int64_t, std::optional<int64_t>> m;
  auto s = db.prepare("SELECT id, CASE WHEN assignment = 'rejected' THEN NULL ELSE person_id END FROM faces");
  while (s.step()) m[s.i64(0)] = s.opt_i64(1);
  return m;
}

// Persons holding two faces of one photo.
int64_t breaches(catalog::Db& db) {
  return db
      .scalar_int("SELECT count(*) FROM (SELECT person_id, file_hash FROM faces WHERE person_id IS NOT NULL AND "
                  "coalesce(assignment, '') <> 'rejected' GROUP BY 1, 2 HAVING count(*) > 1)")
      .value_or(-1);
}

Result<cluster::Stats> cluster_run(catalog::Db& db) {
  cluster::Options o;
  catalog::Transaction tx(db);
  auto st = cluster::run(db, "m-test", o);
  tx.commit();
  return st;
}

}  // namespace

TEST_CASE("constrained whispers: a clique is one label, but never two nodes of one group", "[cluster]") {
  auto w = clique(5);
  auto free = cluster::constrained_whispers(w);
  CHECK(std::set<int64_t>(free.begin(), free.end()).size() == 1);  // without constraints: one cluster

  w.group = {7, 7, -1, 3, -1};  // nodes 0 and 1 come from one photo
  auto l = cluster::constrained_whispers(w);
  CHECK(l[0] != l[1]);
  // everything else still joins one of them
  std::set<int64_t> labels(l.begin(), l.end());
  CHECK(labels.size() == 2);
}

TEST_CASE("constrained whispers: fixed anchors pass their label on, forbidden labels are never taken", "[cluster]") {
  auto w = clique(4);
  w.fixed = {5, -1, -1, -1};  // node 0 is an anchor of label 5
  auto l = cluster::constrained_whispers(w);
  CHECK(l[0] == 5);
  CHECK(l[1] == 5);
  CHECK(l[2] == 5);
  CHECK(l[3] == 5);

  w.forbidden.emplace_back(2u, int64_t{5});  // node 2 was rejected from label 5
  l = cluster::constrained_whispers(w);
  CHECK(l[0] == 5);
  CHECK(l[1] == 5);
  CHECK(l[2] != 5);
}

TEST_CASE("chinese_whispers_knn: groups keep two faces of one photo apart", "[cluster]") {
  search::Matrix m("m");
  for (int i = 0; i < 6; ++i) m.add(i, near(3, i).data());
  search::ExactIndex idx(m);
  unsigned long nc = 0;
  auto l = cluster::chinese_whispers_knn(m, idx, 0.5, 10, 100, &nc);
  CHECK(nc == 1);
  std::vector<int64_t> groups{1, 1, 1, -1, -1, -1};  // three faces of one photo
  l = cluster::chinese_whispers_knn(m, idx, 0.5, 10, 100, &nc, &groups);
  CHECK(nc == 3);
  CHECK(l[0] != l[1]);
  CHECK(l[1] != l[2]);
  CHECK(l[0] != l[2]);
}

TEST_CASE("facecat-cluster run: two faces of one photo never share a person, in one run and incrementally",
          "[cluster]") {
  test::TempDir tmp;
  auto cat = test::open_write(tmp.p / "c.db");
  auto& db = cat.db();
  // person A: photos a1..a4; photo "ab" holds A's face and a twin face very close to A (a look-alike relative)
  std::vector<SynthFace> first;
  for (int i = 0; i < 4; ++i) first.push_back({"a" + std::to_string(i), near(1, i)});
  first.push_back({"ab", near(1, 10)});
  first.push_back({"ab", near(1, 11)});
  auto ids = add_faces(db, first);
  REQUIRE(cluster_run(db).ok());
  auto p = person_of(db);
  CHECK(breaches(db) == 0);
  CHECK(p[ids[4]] != p[ids[5]]);
  // the four single-face photos are one person
  REQUIRE(p[ids[0]]);
  CHECK(p[ids[1]] == p[ids[0]]);
  CHECK(p[ids[2]] == p[ids[0]]);
  CHECK(p[ids[3]] == p[ids[0]]);

  // incremental: a second photo with two faces close to A arrives; at most one joins A
  auto more = add_faces(db, {{"ac", near(1, 20)}, {"ac", near(1, 21)}, {"a9", near(1, 22)}});
  REQUIRE(cluster_run(db).ok());
  p = person_of(db);
  CHECK(breaches(db) == 0);
  CHECK(p[more[0]] != p[more[1]]);
  CHECK(p[more[2]] == p[ids[0]]);  // a single-face photo still joins
  // and the confirmed/anchor rule of one photo holds in a full re-run too
  cluster::Options o;
  o.full = true;
  catalog::Transaction tx(db);
  REQUIRE(cluster::run(db, "m-test", o).ok());
  tx.commit();
  CHECK(breaches(db) == 0);
}

TEST_CASE("match: one person is the match of at most one face of a target photo", "[match][cluster]") {
  std::vector<match::FaceResult> r(2);
  match::PersonHit a;
  a.person = 1;
  a.distance = 0.30f;
  a.match = true;
  match::PersonHit a2 = a;
  a2.distance = 0.40f;
  match::PersonHit b;
  b.person = 2;
  b.distance = 0.45f;
  b.match = true;
  r[0].people = {a};       // face 0: person 1 at 0.30
  r[1].people = {a2, b};   // face 1: person 1 at 0.40, person 2 at 0.45
  match::one_person_per_face(r);
  REQUIRE(match::best_match(r[0]));
  CHECK(match::best_match(r[0])->person == 1);
  REQUIRE(match::best_match(r[1]));
  CHECK(match::best_match(r[1])->person == 2);
  // without a second candidate the face becomes unknown
  r[1].people = {a2};
  r[1].people[0].match = true;
  match::one_person_per_face(r);
  CHECK(match::best_match(r[1]) == nullptr);
}

TEST_CASE("constrained whispers: free labels never reuse an anchor label's number", "[cluster]") {
  // labels 0..2 belong to anchors, but label 2's faces are being clustered again (free): a free node must not start
  // with label 2 (it would look like a join to that old cluster), whatever max(fixed) is now
  cluster::Whispers w;
  w.n = 4;
  w.fixed = {0, 1, -1, -1};
  w.first_free_label = 3;
  auto l = cluster::constrained_whispers(w);
  CHECK(l[0] == 0);
  CHECK(l[1] == 1);
  CHECK(l[2] >= 3);
  CHECK(l[3] >= 3);
  CHECK(l[2] != l[3]);
}

TEST_CASE("shared neighbour weight: 1 + the neighbours two faces share", "[cluster]") {
  CHECK(cluster::shared_neighbour_weight({1, 2, 3}, {3, 4, 1}) == 3.0f);
  CHECK(cluster::shared_neighbour_weight({1, 2}, {5, 6}) == 1.0f);
  CHECK(cluster::shared_neighbour_weight({}, {5, 6}) == 1.0f);
}

TEST_CASE("join_lone: a face left alone joins the label of its mutual nearest neighbours", "[cluster]") {
  // nodes 0..4 hold label 100; node 5 is alone; node 6 (label 200) and node 7 (label 200) are a pair
  std::vector<int64_t> base{100, 100, 100, 100, 100, 5, 200, 200};
  std::vector<std::vector<uint32_t>> nb(8);
  nb[5] = {0, 1, 2, 3, 6, 7};
  nb[0] = {1, 2, 5};
  nb[1] = {0, 5, 2};
  nb[2] = {5, 0, 1};
  nb[3] = {0, 1, 2};  // 5 is not among 3's nearest: not mutual
  nb[6] = {7, 5};
  nb[7] = {6, 5};
  std::vector<char> free(8, 1);
  cluster::LoneJoin j;
  j.neighbours = &nb;
  j.free = &free;
  j.k = 10;

  auto l = base;
  auto joined = cluster::join_lone(l, j);  // 3 mutual of 5: at least ceil(5/2) = 3
  REQUIRE(joined.size() == 1);
  CHECK(joined[0] == 5);
  CHECK(l[5] == 100);
  CHECK(l[6] == 200);  // a pair is not alone, and a label of 2 is too small to join

  nb[2] = {0, 1, 3};  // only 2 of 5 mutual: stays alone
  l = base;
  CHECK(cluster::join_lone(l, j).empty());
  CHECK(l[5] == 5);
  nb[2] = {5, 0, 1};

  std::vector<int64_t> group{-1, 9, -1, -1, -1, 9, -1, -1};  // node 1 and node 5 come from one photo
  j.group = &group;
  l = base;
  CHECK(cluster::join_lone(l, j).empty());
  j.group = nullptr;

  std::vector<std::pair<uint32_t, int64_t>> forbidden{{5u, int64_t{100}}};  // node 5 was rejected from label 100
  j.forbidden = &forbidden;
  l = base;
  CHECK(cluster::join_lone(l, j).empty());
  j.forbidden = nullptr;

  free[5] = 0;  // a fixed node never moves
  l = base;
  CHECK(cluster::join_lone(l, j).empty());
}

TEST_CASE("facecat-cluster run: a lone face joins through mutual neighbours, a stranger near a big cluster does not",
          "[cluster]") {
  // A tight cluster of 5 (photos p0..p4) and a face at about 0.53 from each of them (past the 0.5 threshold, within
  // 0.55): the cluster's faces have it among their 10 nearest (there are only 6 faces), so it joins.
  auto offset = [](int centre, int jitter, int towards, float by) {
    auto d = near(centre, jitter);
    d[static_cast<size_t>(towards)] += by;
    return d;
  };
  {
    test::TempDir tmp;
    auto cat = test::open_write(tmp.p / "c.db");
    std::vector<SynthFace> faces;
    for (int i = 0; i < 5; ++i) faces.push_back({"p" + std::to_string(i), near(2, i)});
    faces.push_back({"lone", offset(2, 50, 3, 0.49f)});
    auto ids = add_faces(cat.db(), faces);
    cluster::Options o;
    o.lone_margin = 0;
    {
      catalog::Transaction tx(cat.db());
      REQUIRE(cluster::run(cat.db(), "m-test", o).ok());
      tx.commit();
    }
    auto p = person_of(cat.db());
    REQUIRE(p[ids[0]]);
    CHECK(!p[ids[5]]);  // without the lone join it stays alone
    REQUIRE(cluster_run(cat.db()).ok());
    p = person_of(cat.db());
    CHECK(p[ids[5]] == p[ids[0]]);
  }
  // The same face beside a cluster of 12: each of them has 11 closer faces of its own, so the lone face is nobody's
  // nearest and stays alone (a stranger close to a big cluster is not pulled in).
  {
    test::TempDir tmp;
    auto cat = test::open_write(tmp.p / "c.db");
    std::vector<SynthFace> faces;
    for (int i = 0; i < 12; ++i) faces.push_back({"p" + std::to_string(i), near(2, i)});
    faces.push_back({"lone", offset(2, 50, 3, 0.49f)});
    auto ids = add_faces(cat.db(), faces);
    REQUIRE(cluster_run(cat.db()).ok());
    auto p = person_of(cat.db());
    REQUIRE(p[ids[0]]);
    CHECK(!p[ids[12]]);
  }
}

TEST_CASE("merge_dense: two halves joined by many edges become one label, two people joined by few do not",
          "[cluster]") {
  cluster::Whispers w;
  w.n = 8;
  for (uint32_t a = 0; a < 4; ++a)
    for (uint32_t b = 4; b < 8; ++b) w.edges.push_back({a, b, 1.0f});  // 16 edges: 4 per node of the smaller half
  const std::vector<int64_t> base{20, 20, 20, 20, 10, 10, 10, 10};
  auto l = base;
  CHECK(cluster::merge_dense(l, w, 2.0) == 1);
  CHECK(std::set<int64_t>(l.begin(), l.end()) == std::set<int64_t>{20});  // the label of the earliest node stays

  l = base;
  CHECK(cluster::merge_dense(l, w, 5.0) == 0);  // fewer than 5 edges per node

  w.group = {-1, -1, 3, -1, -1, 3, -1, -1};  // nodes 2 and 5 come from one photo
  l = base;
  CHECK(cluster::merge_dense(l, w, 2.0) == 0);
  w.group.clear();

  w.fixed = {-1, -1, -1, -1, 10, 10, 10, 10};  // the second half is an anchor: the free half takes its label
  l = base;
  CHECK(cluster::merge_dense(l, w, 2.0) == 1);
  CHECK(std::set<int64_t>(l.begin(), l.end()) == std::set<int64_t>{10});

  w.forbidden.emplace_back(1u, int64_t{10});  // node 1 was rejected from label 10
  l = base;
  CHECK(cluster::merge_dense(l, w, 2.0) == 0);
  w.forbidden.clear();

  w.fixed = {20, 20, 20, 20, 10, 10, 10, 10};  // two anchors (people) are never merged here
  l = base;
  CHECK(cluster::merge_dense(l, w, 2.0) == 0);
}
