// lib/faces_store: pipelines as data (canonical params, versions, validation), the face record round trip, and
// store_detection's rules (replace without duplicates, keep assignments, never drop a confirmed one).
#include <catch2/catch.hpp>
#include <cstdlib>

#include "catalog/catalog.hpp"
#include "core/config.hpp"
#include "face/model.hpp"
#include "faces_store/pipeline.hpp"
#include "faces_store/store.hpp"
#include "face_test_util.hpp"
#include "test_helpers.hpp"
#include "util/hash.hpp"

using namespace facecat;
using namespace facecat::faces_store;

namespace {
catalog::Catalog open_cat(const std::filesystem::path& p) {
  catalog::OpenOptions o;
  o.mode = catalog::Mode::Write;
  auto c = catalog::Catalog::open(p, o);
  REQUIRE(c);
  return std::move(*c);
}

DetectionRecord sample(const std::string& version, std::vector<std::array<int, 4>> boxes) {
  DetectionRecord d;
  d.file = "/photos/a.jpg";
  d.file_hash = std::string(32, 'a');
  d.pipeline_version = version;
  d.pipeline_name = "default";
  d.model_id = "faceapi-resnet-0123456789abcdef";
  d.width = 1000;
  d.height = 800;
  int i = 0;
  for (auto& b : boxes) {
    FaceRow f;
    f.index = i++;
    f.x = b[0];
    f.y = b[1];
    f.w = b[2];
    f.h = b[3];
    f.conf = 0.5 + i;
    std::vector<float> desc(128, 0.25f * float(i));
    f.descriptor = floats_to_blob(desc.data(), desc.size());
    f.quality = {{"size", b[2]}};
    d.faces.push_back(f);
  }
  return d;
}

int64_t count(catalog::Db& db, const char* sql) { return db.scalar_int(sql).value_or(-1); }
}  // namespace

TEST_CASE("pipeline params: canonical JSON, stable version, strict parsing", "[faces_store]") {
  PipelineParams p;
  p.model = "faceapi-resnet-0123456789abcdef";
  const auto v = version_of(p);
  CHECK(v.size() == 16);
  CHECK(version_of(p) == v);
  auto back = from_json(nlohmann::json::parse(canonical_json(p)));
  REQUIRE(back);
  CHECK(canonical_json(*back) == canonical_json(p));
  // key order in the input does not matter
  auto j = nlohmann::json::parse(R"({"upsample":0,"min_face":80})");
  auto q = from_json(j);
  REQUIRE(q);
  q->model = p.model;
  CHECK(version_of(*q) == v);
  // every step changes the version
  for (const auto& [k, val] : std::vector<std::pair<std::string, std::string>>{
           {"decode", "full"}, {"detector", "tiny+hog"}, {"upsample", "1"}, {"min_face", "40"}, {"threshold", "-0.2"},
           {"landmarks", "false"}, {"chip_size", "160"}, {"chip_padding", "0.3"},
           {"model", "dlib-dat-0000000000000000"}, {"crop_margin", "0.5"}, {"jitter", "10"}}) {
    PipelineParams c = p;
    REQUIRE(set_param(c, k, val));
    CHECK(version_of(c) != v);
  }
  PipelineParams c = p;
  CHECK_FALSE(set_param(c, "min_face", "abc"));
  CHECK_FALSE(set_param(c, "min_face", "2"));
  CHECK_FALSE(set_param(c, "upsample", "9"));
  CHECK_FALSE(set_param(c, "decode", "half"));
  CHECK_FALSE(set_param(c, "detector", "cnn"));
  CHECK_FALSE(set_param(c, "landmarks", "maybe"));
  CHECK_FALSE(set_param(c, "colour", "red"));
  CHECK_FALSE(set_param(c, "jitter", "0"));
  CHECK_FALSE(set_param(c, "jitter", "101"));
  CHECK(canonical_json(c) == canonical_json(p));  // failed sets change nothing
  CHECK_FALSE(from_json(nlohmann::json::parse(R"({"min_face":"80"})")));
}

TEST_CASE("jitter 1 (the default) leaves the version as it was before the key existed", "[faces_store]") {
  PipelineParams p;
  p.model = "faceapi-resnet-0123456789abcdef";
  auto before = to_json(p);
  REQUIRE(before.contains("jitter"));
  before.erase("jitter");
  before.erase("detector");  // hog: left out too (the test below)
  CHECK(version_of(p) == util::xxh3_128_hex(before.dump()).substr(0, 16));
  auto back = from_json(before);
  REQUIRE(back);
  CHECK(back->jitter == 1);
  REQUIRE(set_param(p, "jitter", "100"));
  CHECK(canonical_json(p).find("\"jitter\":100") != std::string::npos);
}

TEST_CASE("a pipeline stored before the detector key existed keeps its version", "[faces_store]") {
  // The params a catalog written before tiny+hog stored: every key but "detector".
  PipelineParams p;
  p.model = "faceapi-resnet-0123456789abcdef";
  auto legacy = to_json(p);
  legacy.erase("detector");
  legacy.erase("jitter");  // a later key still
  const std::string legacy_version = util::xxh3_128_hex(legacy.dump()).substr(0, 16);
  auto back = from_json(legacy);
  REQUIRE(back);
  CHECK(back->detector == "hog");
  CHECK(version_of(*back) == legacy_version);
  ::test::TempDir t;
  auto cat = open_cat(t.path / "c.db");
  auto ins = cat.db().prepare("INSERT INTO pipelines(name, params, version, updated_at) VALUES ('old', ?1, ?2, 0)");
  ins.bind_all(legacy.dump(), legacy_version);
  ins.step();
  auto loaded = load_pipeline(cat.db(), "old");
  REQUIRE(loaded);  // not "stored version does not match its params"
  CHECK(loaded->version == legacy_version);
}

TEST_CASE("new pipelines get ultraface from faces.detector's default and a stored hog pipeline keeps hog", "[faces_store]") {
  if (std::getenv("FACECAT_DETECTOR")) facecat::test::skip("FACECAT_DETECTOR is set in the environment");
  auto cfg = Config::load({});
  REQUIRE(cfg);
  CHECK(cfg->get("faces.detector") == "ultraface");
  CHECK(cfg->origin("faces.detector") == "default");
  PipelineParams fresh;
  fresh.model = "m";
  REQUIRE(set_param(fresh, "detector", cfg->get("faces.detector")));
  CHECK(to_json(fresh).dump().find("\"detector\":\"ultraface\"") != std::string::npos);
  ::test::TempDir t;
  auto cat = open_cat(t.path / "c.db");
  PipelineParams old;
  old.model = "m";  // detector hog, as every catalog made before ultraface became the default
  REQUIRE(ensure_pipeline(cat.db(), "default", old));
  auto kept = ensure_pipeline(cat.db(), "default", fresh);  // an upgraded binary: the stored one wins
  REQUIRE(kept);
  CHECK(kept->params.detector == "hog");
  CHECK(kept->version == version_of(old));
  CHECK(version_of(fresh) != version_of(old));
}

TEST_CASE("pipelines are stored with their version; the default comes from defaults once", "[faces_store]") {
  ::test::TempDir t;
  auto cat = open_cat(t.path / "c.db");
  PipelineParams d;
  d.model = "m";
  auto p = ensure_pipeline(cat.db(), "default", d);
  REQUIRE(p);
  CHECK(p->version == version_of(d));
  PipelineParams other = d;
  other.min_face = 40;
  auto again = ensure_pipeline(cat.db(), "default", other);  // exists: the stored one wins
  REQUIRE(again);
  CHECK(again->version == p->version);
  auto saved = save_pipeline(cat.db(), "default", other);
  CHECK(saved.version != p->version);
  CHECK(load_pipeline(cat.db(), "default")->version == saved.version);
  CHECK(list_pipelines(cat.db()).size() == 1);
  CHECK_FALSE(ensure_pipeline(cat.db(), "bad name!", d));
}

TEST_CASE("face records round-trip through the assembler", "[faces_store]") {
  auto d = sample("v1", {{10, 20, 100, 120}, {300, 40, 90, 90}});
  PipelineParams p;
  p.model = d.model_id;
  d.pipeline_params = p;
  d.pipeline_version = version_of(p);
  std::vector<float> lm(136, 1.5f);
  d.faces[0].landmarks = floats_to_blob(lm.data(), lm.size());
  auto recs = to_records(d, true);
  REQUIRE(recs.size() == 2);
  CHECK(recs[0]["box"] == nlohmann::json({10, 20, 100, 120}));
  CHECK(recs[0]["event"] == "face");
  CHECK(recs[0]["face_count"] == 2);
  CHECK(recs[0]["face_index"] == 0);
  CHECK(recs[0]["hash"] == d.file_hash);
  CHECK_FALSE(recs[0].contains("pipeline_params"));  // printed once, in a "pipeline" record
  RecordAssembler as;
  auto pr = as.add(pipeline_record("default", d.pipeline_version, p));
  REQUIRE(pr);
  CHECK_FALSE(*pr);
  auto r0 = as.add(nlohmann::json::parse(recs[0].dump()));
  REQUIRE(r0);
  CHECK_FALSE(*r0);
  CHECK(as.pending());
  auto r1 = as.add(nlohmann::json::parse(recs[1].dump()));
  REQUIRE(r1);
  REQUIRE(*r1);
  const auto& back = **r1;
  CHECK(back.faces.size() == 2);
  CHECK(back.faces[0].descriptor == d.faces[0].descriptor);
  CHECK(back.faces[0].landmarks == d.faces[0].landmarks);
  CHECK(back.faces[1].landmarks.empty());
  REQUIRE(back.pipeline_params);  // from the "pipeline" record
  CHECK(version_of(*back.pipeline_params) == d.pipeline_version);
  // a pipeline record whose params hash to another version is refused
  auto bad = pipeline_record("default", "0000000000000000", p);
  CHECK_FALSE(RecordAssembler().add(bad));
  // records of facecat before issue 13 (file, file_hash, face, faces, pipeline_params) are still read
  {
    RecordAssembler old;
    for (auto r : recs) {
      r.erase("event");
      r["file"] = r["path"];
      r.erase("path");
      r["file_hash"] = r["hash"];
      r.erase("hash");
      r["face"] = r["face_index"];
      r.erase("face_index");
      r["faces"] = r["face_count"];
      r.erase("face_count");
      r["pipeline_params"] = to_json(p);
      auto got = old.add(r);
      REQUIRE(got);
      if (*got) {
        CHECK((*got)->faces.size() == 2);
        CHECK((*got)->file_hash == d.file_hash);
        CHECK((*got)->pipeline_params);
      }
    }
    CHECK_FALSE(old.pending());
    auto err = RecordAssembler().add(nlohmann::json{{"file", "/x.jpg"}, {"file_hash", d.file_hash}, {"error", "bad"}});
    REQUIRE(err);
    REQUIRE(*err);
    CHECK((*err)->error == "bad");
  }
  // other tools' records are not detect's output
  CHECK_FALSE(RecordAssembler().add(nlohmann::json{{"event", "new"}, {"path", "/x.jpg"}}));
  // records of two files interleaved (parallel --line-buffer) assemble into both detections
  RecordAssembler as2;
  auto other0 = recs[0], other1 = recs[1];
  other0["hash"] = other1["hash"] = std::string(32, 'b');
  REQUIRE(as2.add(recs[0]));
  REQUIRE(as2.add(other0));
  auto done_a = as2.add(recs[1]);
  REQUIRE(done_a);
  REQUIRE(*done_a);
  CHECK((*done_a)->file_hash == d.file_hash);
  CHECK(as2.pending());
  CHECK(as2.pending_what().find(std::string(32, 'b')) != std::string::npos);
  auto done_b = as2.add(other1);
  REQUIRE(done_b);
  REQUIRE(*done_b);
  CHECK((*done_b)->faces.size() == 2);
  CHECK_FALSE(as2.pending());
  // within one file, faces come in order; a repeated face index is refused and drops that file's detection
  RecordAssembler as3;
  REQUIRE(as3.add(recs[0]));
  CHECK_FALSE(as3.add(recs[0]));
  CHECK_FALSE(as3.pending());
  // no faces
  auto none = to_records(sample("v1", {}), false);
  REQUIRE(none.size() == 1);
  CHECK(none[0]["event"] == "file");
  CHECK(none[0]["face_count"] == 0);
  auto rn = RecordAssembler().add(none[0]);
  REQUIRE(rn);
  REQUIRE(*rn);
  CHECK((*rn)->faces.empty());
}

TEST_CASE("store_detection replaces, never duplicates, and keeps assignments", "[faces_store]") {
  ::test::TempDir t;
  auto cat = open_cat(t.path / "c.db");
  auto& db = cat.db();
  auto d = sample("v1", {{10, 20, 100, 120}, {300, 40, 90, 90}});
  {
    catalog::Transaction tx(db);
    auto r = store_detection(db, d, "h");
    REQUIRE(r);
    CHECK_FALSE(r->replaced);
    CHECK_FALSE(r->known_file);
    tx.commit();
  }
  const int64_t id1 = count(db, "SELECT id FROM faces WHERE face_index = 1");
  db.exec("INSERT INTO people (id, name, status, created_at, updated_at) VALUES (5, 'P', 'named', 0, 0)");
  db.exec("UPDATE faces SET person_id = 5, assignment = 'confirmed' WHERE face_index = 1");
  db.exec("INSERT INTO face_sources (face_id, source, ref, name, created, imported_at) SELECT id, 'xmp', 'a.xmp', 'P', "
          "0, 7 FROM faces WHERE face_index = 1");
  db.exec("INSERT INTO face_sources (face_id, source, ref, name, created, imported_at) SELECT id, 'digikam-db', "
          "'d.db:3', NULL, 1, 8 FROM faces WHERE face_index = 0");
  // same boxes (one shifted by a pixel): replaced in place, the assignment, the face id and where its name came
  // from (face_sources) stay
  auto d2 = sample("v1", {{10, 20, 100, 120}, {301, 40, 90, 90}});
  {
    catalog::Transaction tx(db);
    auto r = store_detection(db, d2, "h");
    REQUIRE(r);
    CHECK(r->replaced);
    CHECK(r->kept_assignments == 1);
    tx.commit();
  }
  CHECK(count(db, "SELECT count(*) FROM faces") == 2);
  CHECK(count(db, "SELECT count(*) FROM detections") == 1);
  CHECK(count(db, "SELECT person_id FROM faces WHERE face_index = 1 AND assignment = 'confirmed'") == 5);
  CHECK(count(db, "SELECT id FROM faces WHERE face_index = 1") == id1);
  CHECK(count(db, "SELECT count(*) FROM models") == 1);
  CHECK(count(db, "SELECT count(*) FROM face_sources") == 2);
  CHECK(count(db, "SELECT face_id FROM face_sources WHERE source = 'xmp' AND ref = 'a.xmp' AND name = 'P' AND "
                  "created = 0 AND imported_at = 7") == id1);
  CHECK(count(db, "SELECT count(*) FROM face_sources s JOIN faces f ON f.id = s.face_id WHERE f.face_index = 0 AND "
                  "s.name IS NULL AND s.created = 1 AND s.imported_at = 8") == 1);
  // a new pipeline version: the old faces stay, the new face with the same box borrows the assignment
  auto d3 = sample("v2", {{300, 40, 90, 90}});
  {
    catalog::Transaction tx(db);
    REQUIRE(store_detection(db, d3, "h"));
    tx.commit();
  }
  CHECK(count(db, "SELECT count(*) FROM faces") == 3);
  CHECK(count(db, "SELECT person_id FROM faces WHERE pipeline_version = 'v2'") == 5);
  // a replacement that would drop the confirmed face is refused and changes nothing
  auto d4 = sample("v1", {{10, 20, 100, 120}});
  {
    catalog::Transaction tx(db);
    auto r = store_detection(db, d4, "h");
    CHECK_FALSE(r);
    tx.commit();
  }
  CHECK(count(db, "SELECT count(*) FROM faces WHERE pipeline_version = 'v1'") == 2);
  CHECK(catalog::check(db).empty());
}

TEST_CASE("pending files: present usable images without a detection for the version, one per content",
          "[faces_store]") {
  ::test::TempDir t;
  auto cat = open_cat(t.path / "c.db");
  auto& db = cat.db();
  auto ins = db.prepare(
      "INSERT INTO files (path, size, mtime_ns, inode, hash, kind, status, error, origin, first_seen, last_seen, "
      "changed_at) VALUES (?1, 1, 0, 0, ?2, ?3, ?4, ?5, ?6, 0, 0, 0)");
  auto add = [&](const char* path, std::string hash, const char* kind, const char* status, const char* error,
                 const char* origin) {
    ins.bind(1, std::string(path)).bind(2, hash).bind(3, kind).bind(4, status);
    if (error) ins.bind(5, error); else ins.bind(5, nullptr);
    ins.bind(6, origin);
    ins.run();
    ins.reset();
  };
  add("/a.jpg", std::string(32, 'a'), "image", "present", nullptr, "scan");
  add("/b.jpg", std::string(32, 'a'), "image", "present", nullptr, "scan");  // duplicate content
  add("/c.jpg", std::string(32, 'c'), "image", "present", nullptr, "scenes");  // a video frame
  add("/d.jpg", std::string(32, 'd'), "image", "missing", nullptr, "scan");
  add("/e.jpg", std::string(32, 'e'), "image", "present", "truncated", "scan");
  add("/f.mp4", std::string(32, 'f'), "video", "present", nullptr, "scan");
  auto p = pending_files(db, "v1");
  REQUIRE(p.size() == 2);
  CHECK(p[0].path == "/a.jpg");
  CHECK(p[1].origin == "scenes");
  {
    catalog::Transaction tx(db);
    REQUIRE(store_detection(db, sample("v1", {}), "h"));
    tx.commit();
  }
  CHECK(pending_files(db, "v1").size() == 1);
  CHECK(pending_files(db, "v2").size() == 2);
}

TEST_CASE("configured_model_id matches the id load_encoder gives", "[faces_store][face]") {
  facecat::test::require_face_data();
  auto id = configured_model_id(facecat::test::models_dir(), {});
  REQUIRE(id);
  CHECK(*id == facecat::test::analyzer().model_id());
  CHECK_FALSE(configured_model_id(facecat::test::models_dir(), "/nonexistent.dat"));
}
