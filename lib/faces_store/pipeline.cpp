#include "faces_store/pipeline.hpp"
#include "core/models_dir.hpp"

#include <spdlog/spdlog.h>

#include <cctype>
#include <cmath>

#include "util/atomic_file.hpp"
#include "util/hash.hpp"
#include "util/text.hpp"

namespace facecat::faces_store {
namespace {
using json = nlohmann::json;

Error bad(const std::string& key, const std::string& why) { return make_error("pipeline key '" + key + "': " + why); }

Result<int> int_in(const std::string& key, const json& v, int lo, int hi) {
  if (!v.is_number_integer()) return bad(key, "expected an integer, got " + v.dump());
  auto x = v.get<int64_t>();
  if (x < lo || x > hi) return bad(key, std::to_string(x) + " is outside " + std::to_string(lo) + ".." + std::to_string(hi));
  return int(x);
}
Result<double> num_in(const std::string& key, const json& v, double lo, double hi) {
  if (!v.is_number()) return bad(key, "expected a number, got " + v.dump());
  double x = v.get<double>();
  if (!std::isfinite(x) || x < lo || x > hi)
    return bad(key, v.dump() + " is outside " + json(lo).dump() + ".." + json(hi).dump());
  return x;
}

// Text typed on a command line -> the JSON value of the key's type.
Result<json> parse_value(const std::string& key, const std::string& text) {
  static const std::vector<std::string> ints = {"upsample", "min_face", "chip_size", "jitter"};
  static const std::vector<std::string> nums = {"threshold", "chip_padding", "crop_margin", "min_face_fraction"};
  for (const auto& k : ints)
    if (k == key) {
      auto v = util::parse_int(text);
      if (!v) return bad(key, "'" + text + "' is not an integer");
      return json(*v);
    }
  for (const auto& k : nums)
    if (k == key) {
      auto v = util::parse_double(text);
      if (!v) return bad(key, "'" + text + "' is not a number");
      return json(*v);
    }
  if (key == "landmarks") {
    auto v = util::parse_bool(text);
    if (!v) return bad(key, "'" + text + "' is not a boolean (use true or false)");
    return json(*v);
  }
  return json(text);
}

}  // namespace

const std::vector<std::string>& param_keys() {
  static const std::vector<std::string> k = {"chip_padding", "chip_size", "crop_margin", "decode",
                                             "detector",     "jitter",    "landmarks",   "min_face",
                                             "min_face_fraction", "model", "threshold",  "upsample"};
  return k;
}

json to_json(const PipelineParams& p) {
  // nlohmann::json objects are std::map: keys come out sorted, so dump() is canonical.
  return json{{"chip_padding", p.chip_padding}, {"chip_size", p.chip_size},   {"crop_margin", p.crop_margin},
              {"decode", p.decode},             {"detector", p.detector},     {"jitter", p.jitter},
              {"landmarks", p.landmarks},
              {"min_face", p.min_face},         {"min_face_fraction", p.min_face_fraction},
              {"model", p.model},               {"threshold", p.threshold},
              {"upsample", p.upsample}};
}

std::string canonical_json(const PipelineParams& p) {
  json j = to_json(p);
  // Keys added after catalogs existed are left out at the value they implicitly had before, so that the versions
  // stored in those catalogs stay valid (and their files are not all pending again after an upgrade).
  if (p.detector == "hog") j.erase("detector");
  if (p.jitter == 1) j.erase("jitter");
  return j.dump();
}

std::string version_of(const PipelineParams& p) { return util::xxh3_128_hex(canonical_json(p)).substr(0, 16); }

Result<PipelineParams> from_json(const json& j) {
  if (!j.is_object()) return make_error("pipeline params must be a JSON object, got " + j.dump());
  PipelineParams p;
  for (const auto& [k, v] : j.items()) {
    if (k == "decode") {
      if (!v.is_string() || (v != "reduced" && v != "full")) return bad(k, "expected \"reduced\" or \"full\", got " + v.dump());
      p.decode = v.get<std::string>();
    } else if (k == "detector") {
      if (!v.is_string() || (v != "hog" && v != "tiny+hog" && v != "ultraface"))
        return bad(k, "expected \"hog\", \"tiny+hog\" or \"ultraface\", got " + v.dump());
      p.detector = v.get<std::string>();
    } else if (k == "upsample") {
      auto x = int_in(k, v, 0, 3);
      if (!x) return x.error();
      p.upsample = *x;
    } else if (k == "min_face") {
      auto x = int_in(k, v, 8, 100000);
      if (!x) return x.error();
      p.min_face = *x;
    } else if (k == "min_face_fraction") {
      auto x = num_in(k, v, 0.0, 0.5);
      if (!x) return x.error();
      p.min_face_fraction = *x;
    } else if (k == "threshold") {
      auto x = num_in(k, v, -2.0, 2.0);
      if (!x) return x.error();
      p.threshold = *x;
    } else if (k == "landmarks") {
      if (!v.is_boolean()) return bad(k, "expected true or false, got " + v.dump());
      p.landmarks = v.get<bool>();
    } else if (k == "chip_size") {
      auto x = int_in(k, v, 32, 600);
      if (!x) return x.error();
      p.chip_size = *x;
    } else if (k == "chip_padding") {
      auto x = num_in(k, v, 0.0, 1.0);
      if (!x) return x.error();
      p.chip_padding = *x;
    } else if (k == "model") {
      if (!v.is_string()) return bad(k, "expected a model id string, got " + v.dump());
      p.model = v.get<std::string>();
    } else if (k == "crop_margin") {
      auto x = num_in(k, v, 0.0, 2.0);
      if (!x) return x.error();
      p.crop_margin = *x;
    } else if (k == "jitter") {
      auto x = int_in(k, v, 1, 100);
      if (!x) return x.error();
      p.jitter = *x;
    } else {
      return make_error("unknown pipeline key '" + k + "' (known: " +
                        [] {
                          std::string s;
                          for (const auto& x : param_keys()) s += (s.empty() ? "" : ", ") + x;
                          return s;
                        }() + ")");
    }
  }
  if (!p.landmarks) p.model.clear();  // no descriptors without landmarks: the model takes no part
  return p;
}

Result<void> set_param(PipelineParams& p, const std::string& key, const std::string& value) {
  auto v = parse_value(key, value);
  if (!v) return v.error();
  json j = to_json(p);
  j[key] = *v;
  auto q = from_json(j);
  if (!q) return q.error();
  p = *q;
  return {};
}

Result<std::string> configured_model_id(const std::filesystem::path& models_dir, const std::filesystem::path& user_dat) {
  // Keep in step with face::load_encoder (a unit test compares the two).
  const bool dat = !user_dat.empty();
  const auto src = dat ? user_dat : models_dir / "face-api" / "model" / "face_recognition_model.bin";
  auto data = util::read_file(src, 1u << 30);
  if (!data)
    return make_error("cannot read the face model " + src.string() + ": " + data.error().message +
                      (dat ? std::string() : std::string(" (") + kGetModelsHint + ", or set faces.recognition_model to a dlib .dat)"));
  return (dat ? "dlib-dat-" : "faceapi-resnet-") + util::sha256_hex(*data).substr(0, 16);
}

bool valid_pipeline_name(const std::string& name) {
  if (name.empty() || name.size() > 64) return false;
  for (char c : name)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.')) return false;
  return true;
}

Result<Pipeline> load_pipeline(catalog::Db& db, const std::string& name) {
  auto s = db.prepare("SELECT params, version, updated_at FROM pipelines WHERE name = ?1");
  s.bind(1, name);
  if (!s.step()) return make_error("no pipeline named '" + name + "' in the catalog (facecat-catalog pipeline list)");
  Pipeline p;
  p.name = name;
  auto j = json::parse(s.text(0), nullptr, false);
  if (j.is_discarded()) return make_error("pipeline '" + name + "': its params are not JSON");
  auto params = from_json(j);
  if (!params) return make_error("pipeline '" + name + "': " + params.error().message);
  p.params = *params;
  p.version = version_of(p.params);
  p.updated_at = s.i64(2);
  if (p.version != s.text(1))
    return make_error("pipeline '" + name + "': stored version " + s.text(1) + " does not match its params (" +
                      p.version + "); was the row edited by hand? run facecat-catalog pipeline set " + name +
                      " with any key to rewrite it");
  return p;
}

bool pipeline_exists(catalog::Db& db, const std::string& name) {
  auto s = db.prepare("SELECT 1 FROM pipelines WHERE name = ?1");
  s.bind(1, name);
  return s.step();
}

std::string pipeline_version(catalog::Db& db, const std::string& name) {
  auto s = db.prepare("SELECT version FROM pipelines WHERE name = ?1");
  s.bind(1, name);
  return s.step() ? s.text(0) : std::string();
}

Pipeline save_pipeline(catalog::Db& db, const std::string& name, const PipelineParams& params) {
  Pipeline p{name, params, version_of(params), util::now_unix()};
  auto s = db.prepare(
      "INSERT INTO pipelines (name, params, version, updated_at) VALUES (?1, ?2, ?3, ?4) "
      "ON CONFLICT(name) DO UPDATE SET params = excluded.params, version = excluded.version, "
      "updated_at = excluded.updated_at");
  s.bind_all(name, canonical_json(params), p.version, p.updated_at);
  s.run();
  return p;
}

Result<Pipeline> ensure_pipeline(catalog::Db& db, const std::string& name, const PipelineParams& defaults) {
  if (!valid_pipeline_name(name))
    return make_error("bad pipeline name '" + name + "' (letters, digits, '_', '-', '.'; at most 64)");
  if (pipeline_exists(db, name)) return load_pipeline(db, name);
  return save_pipeline(db, name, defaults);
}

std::vector<Pipeline> list_pipelines(catalog::Db& db) {
  std::vector<Pipeline> out;
  std::vector<std::string> names;
  auto s = db.prepare("SELECT name FROM pipelines ORDER BY name");
  while (s.step()) names.push_back(s.text(0));
  for (const auto& n : names) {
    auto p = load_pipeline(db, n);
    if (p)
      out.push_back(*p);
    else
      spdlog::warn("{}", p.error().message);
  }
  return out;
}

}  // namespace facecat::faces_store

#include "core/config.hpp"
#include "core/exit_codes.hpp"

namespace facecat::faces_store {

Result<PipelineParams> pipeline_from_config(const Config& cfg) {
  PipelineParams p;
  auto set = [&](const char* key, const char* cfg_key) -> Result<void> {
    auto r = set_param(p, key, cfg.get(cfg_key));
    // A bad value in the config, the environment or --set is a usage error (exit 2), as the README says.
    if (!r) return make_error(cfg.origin(cfg_key) + ": " + cfg_key + ": " + r.error().message, exit_code::usage);
    return {};
  };
  FACECAT_TRY(set("decode", "faces.decode"));
  FACECAT_TRY(set("detector", "faces.detector"));
  FACECAT_TRY(set("min_face", "faces.min_face"));
  FACECAT_TRY(set("min_face_fraction", "faces.min_face_fraction"));
  FACECAT_TRY(set("upsample", "faces.upsample"));
  FACECAT_TRY(set("crop_margin", "faces.crop_margin"));
  FACECAT_TRY(set("jitter", "faces.jitter"));
  auto id = configured_model_id(cfg.get_path("faces.models_dir"), cfg.get_path("faces.recognition_model"));
  if (!id) return id.error();
  p.model = *id;
  return p;
}

std::vector<std::string> config_overridden_by(const Config& cfg, const Pipeline& p) {
  std::vector<std::string> out;
  const nlohmann::json j = to_json(p.params);
  for (auto [key, cfg_key] : {std::pair{"decode", "faces.decode"}, std::pair{"detector", "faces.detector"},
                              std::pair{"min_face", "faces.min_face"},
                              std::pair{"min_face_fraction", "faces.min_face_fraction"},
                              std::pair{"upsample", "faces.upsample"}, std::pair{"crop_margin", "faces.crop_margin"},
                              std::pair{"jitter", "faces.jitter"}}) {
    if (cfg.origin(cfg_key) == "default") continue;
    PipelineParams q = p.params;
    if (!set_param(q, key, cfg.get(cfg_key)) || to_json(q) == j) continue;
    out.push_back(std::string(cfg_key) + " = " + cfg.get(cfg_key) + " (" + cfg.origin(cfg_key) + ") is ignored: pipeline '" +
                  p.name + "' has " + key + " = " + j[key].dump() + " (change it with: facecat-catalog pipeline set " +
                  p.name + " " + key + "=" + cfg.get(cfg_key) + ")");
  }
  return out;
}

}  // namespace facecat::faces_store
