// Identification, open-set false accepts, clustering and people round trips on real faces
// (../shared/testdata/faces; skipped when absent).
#include <catch2/catch.hpp>
#include <cstdio>
#include <map>
#include <set>

#include "cluster/cluster.hpp"
#include "core/tool.hpp"
#include "match/match.hpp"
#include "match_test_util.hpp"
#include "people/people.hpp"
#include "search/faces.hpp"
#include "tools/cluster_tool.hpp"
#include "tools/match_tool.hpp"
#include "tools/people_tool.hpp"
#include "tools/report_tool.hpp"
#include "util/atomic_file.hpp"

#include <fcntl.h>
#include <unistd.h>
#include <nlohmann/json.hpp>

using namespace facecat;
using test::LabeledFace;

namespace {

search::Matrix matrix_of(const std::vector<LabeledFace>& v) {
  search::Matrix m(test::model_id());
  for (size_t i = 0; i < v.size(); ++i) m.add(static_cast<int64_t>(i), v[i].d.data());
  return m;
}

double leave_one_out_top1(const std::vector<LabeledFace>& v) {
  auto m = matrix_of(v);
  search::ExactIndex idx(m);
  auto nn = idx.knn_batch(m.data(), m.size(), 2);
  size_t ok = 0;
  for (size_t i = 0; i < v.size(); ++i) {
    // the nearest other face (the query itself is at distance 0)
    const search::Neighbor* other = nullptr;
    for (auto& n : nn[i])
      if (static_cast<size_t>(n.id) != i) {
        other = &n;
        break;
      }
    ok += other && v[static_cast<size_t>(other->id)].label == v[i].label;
  }
  return static_cast<double>(ok) / static_cast<double>(v.size());
}

std::vector<int> truth_of(const std::vector<LabeledFace>& v) {
  std::map<std::string, int> ids;
  std::vector<int> t;
  for (auto& f : v) t.push_back(ids.emplace(f.label, static_cast<int>(ids.size())).first->second);
  return t;
}

unsigned long clusters_of(const std::vector<LabeledFace>& v, double threshold, std::vector<unsigned long>* labels) {
  auto m = matrix_of(v);
  search::ExactIndex idx(m);
  unsigned long nc = 0;
  *labels = cluster::chinese_whispers_knn(m, idx, threshold, 10, 100, &nc);
  return nc;
}

// A tool's whole program, in this process, through the same run_tool as its main (the one catch, exit codes).
int run_tool(int (*main_fn)(int, char**), std::vector<std::string> args) {
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  return facecat::run_tool(args[0].c_str(), static_cast<int>(args.size()), argv.data(), main_fn);
}

}  // namespace

TEST_CASE("identification: leave-one-out top-1 >= 97% on face-api.js, face-recognition.js and dlib", "[match][faces]") {
  for (const char* set : {"face-api.js", "face-recognition.js", "dlib"}) {
    auto v = test::faces_of_set(set);
    REQUIRE(v.size() >= 40);
    double acc = leave_one_out_top1(v);
    std::printf("leave-one-out top-1 %s: %.1f%% of %zu faces\n", set, 100 * acc, v.size());
    INFO(set << " top-1 " << acc);
    CHECK(acc >= 0.97);
  }
}

TEST_CASE("open set: strangers are rarely accepted at the default tolerance", "[match][faces]") {
  // Every labelled face is probed twice against a gallery of all the other faces (~290 faces of 31 people):
  //  - as a stranger: only faces of OTHER people are searched; a false accept is any of them within tolerance;
  //  - as a known person: a true accept is its nearest face being the same person and within tolerance.
  // face-api.js only adds amy, bernadette and penny (its other people are face-recognition.js's actors).
  std::vector<LabeledFace> all;
  for (auto& f : test::labeled_faces()) {
    if (f.set == "bald_guys") continue;
    if (f.set == "face-api.js" && f.label != "amy" && f.label != "bernadette" && f.label != "penny") continue;
    all.push_back(f);
  }
  auto m = matrix_of(all);
  search::ExactIndex idx(m);
  auto nn = idx.knn_batch(m.data(), m.size(), 64);
  std::vector<float> impostor(all.size(), 9.f), genuine(all.size(), 9.f);
  std::vector<bool> genuine_first(all.size(), false);
  for (size_t i = 0; i < all.size(); ++i) {
    bool first = true;
    for (auto& n : nn[i]) {
      auto j = static_cast<size_t>(n.id);
      if (j == i) continue;
      bool same = all[j].set == all[i].set && all[j].label == all[i].label;
      if (same && genuine[i] > 8) {
        genuine[i] = n.distance;
        genuine_first[i] = first;
      }
      if (!same && impostor[i] > 8) impostor[i] = n.distance;
      first = false;
    }
  }
  size_t n_gen = 0;
  for (size_t i = 0; i < all.size(); ++i) n_gen += genuine[i] < 8;  // identities with one face have no genuine pair
  const double def = 0.5;
  for (double t : {0.4, 0.45, 0.5, 0.55, 0.6}) {
    size_t fa = 0, ta = 0;
    for (size_t i = 0; i < all.size(); ++i) {
      fa += impostor[i] <= t;
      ta += genuine[i] <= t && genuine_first[i];
    }
    std::printf("tolerance %.2f: false accepts %zu/%zu strangers (%.1f%%), true accepts %zu/%zu (%.1f%%)\n", t, fa,
                all.size(), 100.0 * fa / all.size(), ta, n_gen, 100.0 * ta / n_gen);
    if (t == def) {
      CHECK(fa * 100 <= all.size() * 3);  // <= 3% of strangers accepted
      CHECK(ta * 100 >= n_gen * 90);      // >= 90% of known people found
    }
  }
  CHECK(match::confidence(0.5, 1, 0.5) == Approx(0.5));
  CHECK(match::confidence(0.41, 1, 0.5) > 0.9);
  CHECK(match::confidence(0.59, 1, 0.5) < 0.1);
}

TEST_CASE("clustering: dlib's johns give 5 people, bald_guys.jpg gives 4", "[cluster][faces]") {
  auto johns = test::faces_of_set("dlib");
  auto bald = test::faces_of_set("bald_guys");
  REQUIRE(johns.size() >= 50);
  REQUIRE(bald.size() >= 10);
  for (double t : {0.4, 0.45, 0.5, 0.55, 0.6}) {
    std::vector<unsigned long> lj, lb;
    auto nj = clusters_of(johns, t, &lj);
    auto nb = clusters_of(bald, t, &lb);
    auto fj = cluster::pairwise_f1(lj, truth_of(johns));
    std::printf("threshold %.2f: johns %lu clusters (F1 %.3f), bald_guys %lu clusters of %zu faces\n", t, nj, fj.f1, nb,
                bald.size());
    if (t == 0.5) CHECK(nb == 4);
  }
  // through the catalog with the defaults (threshold 0.5, min size 2)
  test::TempDir tmp;
  for (auto* set : {&johns, &bald}) {
    auto path = tmp.p / (set == &johns ? "johns.db" : "bald.db");
    {
      auto cat = test::open_write(path);
      test::write_catalog(cat, *set);
    }
    REQUIRE(run_tool(tools::cluster_main, {"facecat-cluster", "--catalog", path.string(), "-q"}) == 0);
    auto cat = test::open_write(path);
    auto n = cat.db().scalar_int("SELECT count(*) FROM people WHERE status = 'suggested'");
    // bald_guys.jpg is one photo (a collage of 4 people): cannot-link keeps its faces out of one person, so in a
    // catalog none of them share a person
    CHECK(n == (set == &johns ? 5 : 0));
  }
}

TEST_CASE("clustering: pairwise F1 >= 0.9 on face-recognition.js", "[cluster][faces]") {
  auto v = test::faces_of_set("face-recognition.js");
  REQUIRE(v.size() >= 90);
  for (double t : {0.4, 0.45, 0.5, 0.55, 0.6}) {
    std::vector<unsigned long> l;
    auto n = clusters_of(v, t, &l);
    auto s = cluster::pairwise_f1(l, truth_of(v));
    std::printf("face-recognition.js threshold %.2f: %lu clusters, pairwise precision %.3f recall %.3f F1 %.3f\n", t, n,
                s.precision, s.recall, s.f1);
    if (t == 0.5) CHECK(s.f1 >= 0.9);
  }
}

TEST_CASE("people: name, merge, forget round trips, and confirmed faces stay put through re-clustering",
          "[people][cluster][faces]") {
  auto johns = test::faces_of_set("dlib");
  REQUIRE(johns.size() >= 50);
  // first run: half of the faces; second run: all of them (incremental)
  std::vector<LabeledFace> first, second;
  std::map<std::string, int> k;
  for (auto& f : johns) (k[f.label]++ % 2 == 0 ? first : second).push_back(f);
  test::TempDir tmp;
  auto path = tmp.p / "people.db";
  const std::string c = path.string();
  // one writer at a time: the test opens the catalog for writing only between tool runs
  auto q = [&](const std::string& sql) {
    auto cat = test::open_write(path);
    return cat.db().scalar_int(sql);
  };
  auto qs = [&](const std::string& sql, int64_t id) { return q(sql + std::to_string(id)); };
  std::vector<int64_t> ids1;
  {
    auto cat = test::open_write(path);
    ids1 = test::write_catalog(cat, first);
  }
  REQUIRE(run_tool(tools::cluster_main, {"facecat-cluster", "--catalog", c, "-q"}) == 0);
  CHECK(q("SELECT count(*) FROM people") == 5);
  std::map<int64_t, int64_t> cluster_before;
  {
    auto cat = test::open_write(path);
    auto s = cat.db().prepare("SELECT id, cluster_id FROM faces");
    while (s.step()) cluster_before[s.i64(0)] = s.is_null(1) ? -1 : s.i64(1);
  }
  // name the cluster of the first John_Salley face; put one John_Simm face into John Salley by hand (confirmed)
  REQUIRE(first[0].label == "John_Salley");
  auto salley_cluster = qs("SELECT cluster_id FROM faces WHERE id = ", ids1[0]);
  REQUIRE(salley_cluster);
  size_t simm_i = 0;
  while (first[simm_i].label != "John_Simm") ++simm_i;
  const int64_t simm_face = ids1[simm_i];
  int64_t salley = 0;
  {
    auto cat = test::open_write(path);
    auto& db = cat.db();
    catalog::Transaction tx(db);
    auto r = people::name(db, *people::resolve(db, "c" + std::to_string(*salley_cluster)), "John Salley");
    REQUIRE(r);
    salley = people::resolve(db, "John Salley")->id;
    REQUIRE(people::name(db, {people::Ref::Kind::Face, simm_face}, "John Salley"));
    tx.commit();
  }
  CHECK(qs("SELECT assignment = 'confirmed' FROM faces WHERE id = ", simm_face) == 1);
  // second run: the other half joins existing people; then a full re-clustering
  {
    auto cat = test::open_write(path);
    test::write_catalog(cat, second);
  }
  REQUIRE(run_tool(tools::cluster_main, {"facecat-cluster", "--catalog", c, "-q"}) == 0);
  REQUIRE(run_tool(tools::cluster_main, {"facecat-cluster", "--catalog", c, "-q", "--full"}) == 0);
  CHECK(qs("SELECT person_id FROM faces WHERE id = ", simm_face) == salley);
  CHECK(qs("SELECT assignment = 'confirmed' FROM faces WHERE id = ", simm_face) == 1);
  CHECK(qs("SELECT count(*) FROM faces WHERE person_id = ", salley) >= 10);
  size_t same = 0, total = 0;
  {
    auto cat = test::open_write(path);
    auto s = cat.db().prepare("SELECT id, cluster_id FROM faces");
    while (s.step())
      if (cluster_before.count(s.i64(0)) && cluster_before[s.i64(0)] >= 0) {
        ++total;
        same += !s.is_null(1) && s.i64(1) == cluster_before[s.i64(0)];
      }
  }
  INFO("stable cluster ids " << same << "/" << total);
  CHECK(same * 10 >= total * 9);
  CHECK(q("SELECT count(*) FROM people") == 5);

  // merge two people: the faces move, B is gone
  int64_t a = 0, b = 0, fa = 0, fb = 0;
  {
    auto cat = test::open_write(path);
    auto& db = cat.db();
    auto list = people::list(db);
    REQUIRE(list.size() == 5);
    a = list[0]["person_id"];
    b = list[1]["person_id"];
    fa = list[0]["face_count"];
    fb = list[1]["face_count"];
    catalog::Transaction tx(db);
    REQUIRE(people::merge(db, {people::Ref::Kind::Person, a}, {people::Ref::Kind::Person, b}));
    tx.commit();
  }
  CHECK(qs("SELECT count(*) FROM faces WHERE coalesce(assignment, '') <> 'rejected' AND person_id = ", a) == fa + fb);
  CHECK(qs("SELECT count(*) FROM people WHERE id = ", b) == 0);
  // through the tool: forget by name, then name a face again
  REQUIRE(run_tool(tools::people_main, {"facecat-people", "--catalog", c, "-q", "forget", "John Salley"}) == 0);
  CHECK(q("SELECT count(*) FROM people WHERE name = 'John Salley'") == 0);
  CHECK(qs("SELECT count(*) FROM faces WHERE person_id = ", salley) == 0);
  CHECK(qs("SELECT person_id IS NULL AND assignment IS NULL FROM faces WHERE id = ", simm_face) == 1);
  REQUIRE(run_tool(tools::people_main, {"facecat-people", "--catalog", c, "-q", "name", "f" + std::to_string(simm_face),
                                        "John Simm"}) == 0);
  CHECK(q("SELECT count(*) FROM faces f JOIN people p ON p.id = f.person_id WHERE p.name = 'John Simm' "
          "AND f.assignment = 'confirmed'") == 1);
  // reject: the face stays out of its person through a full re-clustering
  int64_t victim = 0;
  for (size_t i = 0; i < ids1.size() && !victim; ++i)
    if (qs("SELECT assignment = 'suggested' FROM faces WHERE id = ", ids1[i]) == 1) victim = ids1[i];
  REQUIRE(victim);
  auto from = qs("SELECT person_id FROM faces WHERE id = ", victim);
  REQUIRE(run_tool(tools::people_main, {"facecat-people", "--catalog", c, "-q", "reject", "f" + std::to_string(victim)}) == 0);
  REQUIRE(run_tool(tools::cluster_main, {"facecat-cluster", "--catalog", c, "-q", "--full"}) == 0);
  CHECK(qs("SELECT assignment = 'rejected' FROM faces WHERE id = ", victim) == 1);
  CHECK(qs("SELECT person_id FROM faces WHERE id = ", victim) == from);
  // bad references are usage errors
  CHECK(run_tool(tools::people_main, {"facecat-people", "--catalog", c, "-q", "forget", "Nobody Here"}) == 2);
}

TEST_CASE("match: catalog people are found per person, strangers come out unknown", "[match][faces]") {
  auto bbt = test::faces_of_set("face-recognition.js");
  auto johns = test::faces_of_set("dlib");
  std::vector<LabeledFace> gallery, probes;
  std::map<std::string, int> k;
  for (auto& f : bbt) (k[f.label]++ % 2 == 0 ? gallery : probes).push_back(f);
  test::TempDir tmp;
  auto cat = test::open_write(tmp.p / "m.db");
  auto& db = cat.db();
  auto ids = test::write_catalog(cat, gallery);
  auto jids = test::write_catalog(cat, johns);  // faces of nobody
  {
    catalog::Transaction tx(db);
    std::map<std::string, int64_t> person;
    for (size_t i = 0; i < gallery.size(); ++i) {
      auto it = person.find(gallery[i].label);
      if (it == person.end()) {
        db.prepare("INSERT INTO people(name, status, created_at, updated_at) VALUES (?, 'named', 0, 0)")
            .bind_all(gallery[i].label)
            .run();
        it = person.emplace(gallery[i].label, db.last_insert_id()).first;
      }
      db.prepare("UPDATE faces SET person_id = ?, assignment = 'confirmed' WHERE id = ?").bind_all(it->second, ids[i]).run();
    }
    tx.commit();
  }
  auto fs = search::load_faces(db, test::model_id());
  REQUIRE(fs);
  REQUIRE(fs->matrix.size() == gallery.size() + johns.size());
  search::ExactIndex idx(fs->matrix);
  match::Matcher m(db, *fs, idx);
  match::Options o;
  size_t right = 0;
  for (auto& p : probes) {
    auto r = m.match(p.d.data(), o);
    right += !r.people.empty() && r.people[0].match && r.people[0].name == p.label;
    // ranked, aggregated per person: one entry per person
    std::set<int64_t> seen;
    for (auto& h : r.people) CHECK(seen.insert(h.person).second);
    for (size_t i = 1; i < r.people.size(); ++i) CHECK(r.people[i - 1].distance <= r.people[i].distance);
  }
  INFO("identified " << right << "/" << probes.size());
  std::printf("match: %zu/%zu face-recognition.js probes identified at tolerance 0.5\n", right, probes.size());
  CHECK(right * 100 >= probes.size() * 85);
  // a John is nobody's: no person matches, and his unassigned neighbours come with file and box
  auto r = m.match(johns[3].d.data(), o);
  CHECK((r.people.empty() || !r.people[0].match));
  REQUIRE(!r.faces.empty());
  CHECK(r.faces[0].face == jids[3]);
  CHECK(r.faces[0].distance < 1e-4f);
  CHECK(r.faces[0].file == johns[3].path);
  CHECK(r.faces[0].w == johns[3].box.width());
  // a candidate filter (the --vk-user hook) keeps only the allowed people
  match::CandidateFilter filter;
  filter.people.insert(*db.scalar_int("SELECT id FROM people WHERE name = 'raj'"));
  filter.mutual_friends[*filter.people.begin()] = 7;
  auto fr = m.match(probes[0].d.data(), o, &filter);
  for (auto& h : fr.people) {
    CHECK(h.name == std::optional<std::string>("raj"));
    CHECK(h.mutual_friends == std::optional<int>(7));
  }
}

namespace {
// Runs a tool in this process with stdout sent to a file; returns what it printed.
std::string captured(int (*main_fn)(int, char**), std::vector<std::string> args, const std::filesystem::path& file,
                     int* rc) {
  std::fflush(stdout);
  int saved = ::dup(1);
  int fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  ::dup2(fd, 1);
  ::close(fd);
  *rc = run_tool(main_fn, std::move(args));
  std::fflush(stdout);
  ::dup2(saved, 1);
  ::close(saved);
  return *util::read_file(file);
}
}  // namespace

TEST_CASE("facecat-match and the report's match sheet on a catalog", "[match][report][faces]") {
  auto johns = test::faces_of_set("dlib");
  REQUIRE(johns.size() >= 50);
  test::TempDir tmp;
  auto path = tmp.p / "r.db";
  std::vector<LabeledFace> gallery(johns.begin() + 1, johns.end());  // johns[0] is the target
  {
    auto cat = test::open_write(path);
    test::write_catalog(cat, gallery);
  }
  const std::string c = path.string();
  REQUIRE(run_tool(tools::cluster_main, {"facecat-cluster", "--catalog", c, "-q"}) == 0);
  int rc = 0;
  auto name = captured(tools::people_main, {"facecat-people", "--catalog", c, "-q", "name", "c1", "First John"},
                       tmp.p / "o1", &rc);
  REQUIRE(rc == 0);
  auto out = captured(tools::match_main,
                      {"facecat-match", "--catalog", c, "-q", "--chip", johns[0].path, "--format", "jsonl"},
                      tmp.p / "o2", &rc);
  REQUIRE(rc == 0);
  auto rec = nlohmann::json::parse(out.substr(0, out.find('\n')));
  INFO(out);
  REQUIRE(rec["people"].size() >= 1);
  CHECK(rec["model"] == test::model_id());
  CHECK(rec["match"].is_object());
  CHECK(rec["people"][0]["distance"].get<double>() <= 0.5);
  CHECK(rec["people"][0]["within_count"].get<int>() >= 5);  // aggregated over the person's faces
  // the matched person is John_Salley's cluster (johns[0] is a Salley chip) whatever its number
  // csv: face_recognition's form with the person's name (or p<id>)
  out = captured(tools::match_main, {"facecat-match", "--catalog", c, "-q", "--chip", johns[0].path, "--format", "csv"},
                 tmp.p / "o3", &rc);
  CHECK(out.rfind(johns[0].path + ",", 0) == 0);
  // a descriptor of another model is refused clearly
  {
    auto cat = test::open_write(path);
    cat.db().exec("UPDATE faces SET model_id = 'dlib-dat-0000000000000000'");
  }
  out = captured(tools::match_main, {"facecat-match", "--catalog", c, "-q", "--chip", johns[0].path}, tmp.p / "o4", &rc);
  CHECK(rc == 2);
  {
    auto cat = test::open_write(path);
    cat.db().prepare("UPDATE faces SET model_id = ?").bind_all(test::model_id()).run();
  }
  // the report with a match sheet
  auto rep = tmp.p / "report";
  out = captured(tools::report_main,
                 {"facecat-report", "--catalog", c, "-q", "--out", rep.string(), "--chip", "--target", johns[0].path},
                 tmp.p / "o5", &rc);
  REQUIRE(rc == 0);
  auto r = nlohmann::json::parse(out);
  CHECK(r["match_face_count"] == 1);
  CHECK(r["missing_thumb_count"] == 0);
  auto sheet = util::read_file(rep / "match.html");
  REQUIRE(sheet);
  CHECK(sheet->find("match/target-0.jpg") != std::string::npos);
  CHECK(sheet->find("distance 0.") != std::string::npos);
  CHECK(std::filesystem::exists(rep / "match" / "target-0.jpg"));
  // every src= in the sheet exists
  size_t pos = 0, refs = 0;
  while ((pos = sheet->find("src=\"", pos)) != std::string::npos) {
    pos += 5;
    auto end = sheet->find('"', pos);
    CHECK(std::filesystem::exists(rep / sheet->substr(pos, end - pos)));
    ++refs;
  }
  CHECK(refs >= 2);  // the target and at least its best candidate
}
