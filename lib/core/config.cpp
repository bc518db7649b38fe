#include "core/config.hpp"

#include <sys/stat.h>

#include <cstdlib>
#include <sstream>
#include <stdexcept>

#include "core/exit_codes.hpp"
#include "core/models_dir.hpp"
#include "util/atomic_file.hpp"
#include "util/spelling.hpp"
#include "util/text.hpp"


namespace facecat {

const std::vector<OptionSpec>& option_specs() {
  static const std::vector<OptionSpec> specs = {
      // [catalog]
      {"catalog.path", "FACECAT_CATALOG", "$XDG_DATA_HOME/facecat/catalog.db", OptType::Path,
       "the SQLite catalog"},
      {"catalog.busy_timeout_ms", "FACECAT_BUSY_TIMEOUT_MS", "10000", OptType::Int,
       "how long a reader waits for SQLite's write lock"},
      {"catalog.lock_wait", "FACECAT_LOCK_WAIT", "false", OptType::Bool,
       "wait for another writer's lock instead of failing at once"},
      // [scan]
      {"scan.RootPathForScanning", "FACECAT_SCAN_ROOT", "", OptType::Path,
       "folder scanned when no PATH is given"},
      {"scan.exclude", "FACECAT_SCAN_EXCLUDE", "", OptType::String,
       "extra globs to skip (comma-separated), on top of .git @eaDir .thumbnails .Trash-* #recycle"},
      {"scan.follow_symlinks", "FACECAT_SCAN_FOLLOW_SYMLINKS", "false", OptType::Bool,
       "follow symlinked folders (loops are detected)"},
      {"scan.threads", "FACECAT_THREADS", "0", OptType::Int, "worker threads; 0 = one per core"},
      {"scan.max_file_mb", "FACECAT_SCAN_MAX_FILE_MB", "4096", OptType::Int,
       "files larger than this are reported and skipped"},
      // [faces]
      {"faces.CroppedFacesPath", "FACECAT_CROPPED_FACES_PATH", "$XDG_DATA_HOME/facecat/faces", OptType::Path,
       "where face crops are written"},
      {"faces.chips_path", "FACECAT_CHIPS_PATH", "", OptType::Path,
       "export the aligned face chips (PNG, chip_size square) here; empty: no export"},
      {"faces.models_dir", "FACECAT_MODELS_DIR", "", OptType::Path,
       "folder with the face models (face-api weights, UltraFace, the converted model cache); empty: the first of "
       "$XDG_DATA_HOME/facecat/models, $XDG_DATA_DIRS/facecat/models (/usr/local/share, /usr/share) and, only "
       "when run from its build folder, the build tree's models that holds them (--show-config says which)"},
      {"faces.recognition_model", "FACECAT_RECOGNITION_MODEL", "", OptType::Path,
       "a dlib_face_recognition_resnet_model_v1.dat to use instead of the face-api weights"},
      {"faces.shape_predictor", "FACECAT_SHAPE_PREDICTOR",
       "/usr/share/dlib/shape_predictor_68_face_landmarks.dat", OptType::Path, "68-point landmark model"},
      {"faces.pipeline", "FACECAT_PIPELINE", "default", OptType::String, "named detect pipeline"},
      {"faces.max_pixels", "FACECAT_MAX_PIXELS", "100000000", OptType::Int,
       "images with more pixels than this are refused (decompression bombs)"},
      {"faces.decode", "FACECAT_DECODE", "reduced", OptType::String,
       "reduced: decode large JPEGs at 1/2, 1/4 or 1/8 when min_face allows it; full: always at full size"},
      {"faces.detector", "FACECAT_DETECTOR", "ultraface", OptType::String,
       "the detector of new pipelines (a catalog's stored pipeline keeps its own). hog: dlib's HOG over the whole "
       "image; tiny+hog: face-api's tiny face detector proposes faces and HOG "
       "confirms each on a small crop (the same faces on the test photos; 1.1-1.6x less CPU; needs the tiny "
       "detector's weights); ultraface: UltraFace RFB-320 (a small CNN) finds faces at a coarse scale, HOG confirms "
       "each on a crop (the faces hog finds on the test photos, for less CPU; needs its model: scripts/setup)"},
      {"faces.min_face", "FACECAT_MIN_FACE", "80", OptType::Int,
       "smallest face to find, in original-image pixels (a floor: see faces.min_face_fraction)"},
      {"faces.min_face_fraction", "FACECAT_MIN_FACE_FRACTION", "0.02", OptType::Double,
       "smallest face to find as a fraction of the image's long side; the larger of this and faces.min_face "
       "sets the detection scale (0 = faces.min_face alone)"},
      {"faces.descriptor_backend", "FACECAT_DESCRIPTOR_BACKEND", "auto", OptType::String,
       "auto (OpenCV DNN when it agrees with dlib within 1e-4 at load), dlib or opencv"},
      {"faces.upsample", "FACECAT_UPSAMPLE", "0", OptType::Int, "HOG pyramid upsampling steps"},
      {"faces.crop_margin", "FACECAT_CROP_MARGIN", "0.3", OptType::Double, "margin around a face crop"},
      {"faces.tolerance", "FACECAT_TOLERANCE", "0.5", OptType::Double, "match distance threshold"},
      {"faces.jitter", "FACECAT_JITTER", "1", OptType::Int,
       "facecat-detect: describe each face as the mean of this many jittered chips (1..100; 1 = no jitter; a "
       "pipeline key: another value is another pipeline version)"},
      {"faces.match_jitter", "FACECAT_MATCH_JITTER", "1", OptType::Int,
       "facecat-match: describe each target face as the mean of this many jittered chips (1 = no jitter)"},
      {"faces.threads", "FACECAT_DETECT_THREADS", "0", OptType::Int, "detect threads; 0 = one per core"},
      // [vk]
      {"vk.token", "VKAPPS_TOKEN", "", OptType::Secret,
       "VK access token (never on the command line; config.ini must not be readable by others)"},
      {"vk.community_token", "VK_COMMUNITY_TOKEN", "", OptType::Secret, "VK community token for messages.send"},
      {"vk.api_base", "FACECAT_VK_API_BASE", "https://api.vk.com/method", OptType::String, "VK API base URL"},
      {"vk.api_version", "FACECAT_VK_API_VERSION", "5.199", OptType::String, "VK API version"},
      {"vk.rps", "FACECAT_VK_RPS", "3", OptType::Double, "request rate limit (requests per second)"},
      {"vk.photos_dir", "FACECAT_VK_PHOTOS_DIR", "$XDG_DATA_HOME/facecat/vk", OptType::Path,
       "where profile photos are saved"},
      {"vk.community_rps", "FACECAT_VK_COMMUNITY_RPS", "20", OptType::Double,
       "request rate limit for the community token (facecat-vk notify)"},
      {"vk.max_age", "FACECAT_VK_MAX_AGE", "7d", OptType::String,
       "facecat-vk fetch skips people fetched more recently than this (e.g. 90m, 12h, 7d; 0 = always fetch)"},
      {"vk.download_concurrency", "FACECAT_VK_DOWNLOADS", "8", OptType::Int, "photo downloads at once"},
      {"vk.timeout_s", "FACECAT_VK_TIMEOUT", "30", OptType::Int, "timeout of one API call or download (seconds)"},
      {"vk.retry_base_ms", "FACECAT_VK_RETRY_BASE_MS", "500", OptType::Int,
       "first retry delay after errors 6/10/5xx and timeouts; doubles per attempt, with jitter"},
      // [video]
      {"video.threshold", "FACECAT_VIDEO_THRESHOLD", "27", OptType::Double, "content detector threshold"},
      {"video.min_scene_len", "FACECAT_VIDEO_MIN_SCENE_LEN", "15", OptType::Int, "minimum scene length (frames)"},
      {"video.frames_dir", "FACECAT_VIDEO_FRAMES_DIR", "$XDG_DATA_HOME/facecat/frames", OptType::Path,
       "where representative frames are saved"},
      {"video.detector", "FACECAT_VIDEO_DETECTOR", "content", OptType::String,
       "scene detectors, comma-separated: content, adaptive, threshold (fades to black)"},
      {"video.adaptive_threshold", "FACECAT_VIDEO_ADAPTIVE_THRESHOLD", "3", OptType::Double,
       "adaptive detector: ratio of a frame's score to its neighbours' that makes a cut"},
      {"video.fade_threshold", "FACECAT_VIDEO_FADE_THRESHOLD", "12", OptType::Double,
       "threshold detector: mean 8-bit intensity below which a frame is black"},
      {"video.frames_per_scene", "FACECAT_VIDEO_FRAMES_PER_SCENE", "1", OptType::Int,
       "representative frames saved per scene"},
      {"video.jpeg_quality", "FACECAT_VIDEO_JPEG_QUALITY", "92", OptType::Int, "JPEG quality of saved frames"},
      {"video.threads", "FACECAT_VIDEO_THREADS", "0", OptType::Int, "decoder threads; 0 = one per core"},
      {"video.frame_memory_mb", "FACECAT_VIDEO_FRAME_MEMORY_MB", "512", OptType::Int,
       "memory for full-resolution frames kept while detecting (then no second decode for them), and an eighth of it "
       "for their JPEGs (the rest go to an unnamed temp file in frames_dir); 0 = none"},
      // [cluster]
      {"cluster.hosts", "FACECAT_CLUSTER_HOSTS", "", OptType::String,
       "scripts/facecat-parallel: worker hosts for GNU parallel -S, comma-separated (host, user@host, N/host)"},
      {"cluster.path_map", "FACECAT_CLUSTER_PATH_MAP", "", OptType::String,
       "HOST:FROM=TO,...: the catalog's path FROM is TO on HOST (its shared mount point differs)"},
      {"cluster.remote_bin", "FACECAT_CLUSTER_REMOTE_BIN", "", OptType::String,
       "folder of the facecat tools on the workers (empty: their PATH)"},
      {"cluster.ssh", "FACECAT_CLUSTER_SSH", "ssh", OptType::String,
       "ssh command GNU parallel uses (--ssh), e.g. ssh -F /etc/facecat/ssh_config -o ConnectTimeout=10"},
      {"cluster.jobs", "FACECAT_CLUSTER_JOBS", "1", OptType::Int,
       "facecat-detect processes per host (each uses faces.threads cores of its host)"},
      {"cluster.chunk", "FACECAT_CLUSTER_CHUNK", "100", OptType::Int, "files per job (each job loads the models once)"},
      {"cluster.crops", "FACECAT_CLUSTER_CROPS", "true", OptType::Bool,
       "workers write crops to faces.CroppedFacesPath (mapped per host: keep it on the shared mount); false: none"},
      // [search] (facecat-match, facecat-cluster)
      {"search.faiss_min", "FACECAT_FAISS_MIN", "10000000", OptType::Int,
       "use the FAISS index (persisted beside the catalog) from this many descriptors on; 0 = always exact"},
      {"search.nprobe", "FACECAT_FAISS_NPROBE", "0", OptType::Int,
       "FAISS lists searched per query; 0 = nlist/32 (at least 16), measured to keep recall@1 >= 99%"},
      {"search.top", "FACECAT_MATCH_TOP", "5", OptType::Int, "candidates shown per target face (people and faces)"},
      // [clustering] (facecat-cluster)
      {"clustering.threshold", "FACECAT_CLUSTER_THRESHOLD", "0.5", OptType::Double,
       "faces closer than this are linked in the clustering graph"},
      {"clustering.min_size", "FACECAT_CLUSTER_MIN_SIZE", "2", OptType::Int,
       "smaller clusters do not become suggested people"},
      {"clustering.neighbours", "FACECAT_CLUSTER_NEIGHBOURS", "10", OptType::Int,
       "nearest neighbours per face in the clustering graph"},
      {"clustering.shared_weights", "FACECAT_CLUSTER_SHARED_WEIGHTS", "true", OptType::Bool,
       "weight each edge by the neighbours its two faces share (false: every edge counts 1, as in dlib)"},
      {"clustering.lone_margin", "FACECAT_CLUSTER_LONE_MARGIN", "0.05", OptType::Double,
       "a face left alone joins a cluster when half of it (at least 2) are its mutual nearest neighbours closer than "
       "threshold + this; 0 = never"},
      // [log]
      {"log.level", "FACECAT_LOG_LEVEL", "info", OptType::String, "trace, debug, info, warn, error or off"},
      {"log.file", "FACECAT_LOG_FILE", "", OptType::Path, "also log to this rotating file"},
      // [privacy]
      {"privacy.mode", "FACECAT_PRIVACY_MODE", "private", OptType::String,
       "who may read what facecat creates (catalog, crops, chips, reports, downloads, logs): private (owner only: "
       "0600 files, 0700 folders), group (also the group may read: 0640, 0750) or umask (as the umask says)"},
  };
  return specs;
}

// ", did you mean 'faces.min_face'?" for a mistyped key.
static std::string key_hint(const std::string& key) {
  std::vector<std::string> keys;
  for (const auto& s : option_specs()) keys.emplace_back(s.key);
  return util::did_you_mean(key, keys);
}

const OptionSpec* find_option(const std::string& key) {
  for (const auto& s : option_specs())
    if (key == s.key) return &s;
  // Keys are matched case-insensitively as a convenience (RootPathForScanning vs rootpathforscanning).
  for (const auto& s : option_specs())
    if (util::to_lower(key) == util::to_lower(s.key)) return &s;
  return nullptr;
}

std::string expand_user_path(const std::string& s) {
  auto env_or = [](const char* name, const std::string& fallback) {
    const char* v = std::getenv(name);
    return (v && *v) ? std::string(v) : fallback;
  };
  std::string home = env_or("HOME", "/tmp");
  std::string r = s;
  auto replace = [&](const std::string& var, const std::string& val) {
    for (size_t pos; (pos = r.find(var)) != std::string::npos;) r.replace(pos, var.size(), val);
  };
  replace("$XDG_DATA_HOME", env_or("XDG_DATA_HOME", home + "/.local/share"));
  replace("$XDG_CONFIG_HOME", env_or("XDG_CONFIG_HOME", home + "/.config"));
  replace("$HOME", home);
  if (r == "~" || util::starts_with(r, "~/")) r = home + r.substr(1);
  return r;
}

Result<std::map<std::string, Config::IniEntry>> Config::parse_ini(const std::string& text, const std::string& name,
                                                                  std::vector<std::string>* warnings) {
  std::map<std::string, IniEntry> out;
  std::string section;
  std::istringstream in(text);
  std::string raw;
  int lineno = 0;
  while (std::getline(in, raw)) {
    ++lineno;
    if (raw.size() > 65536) return make_error(name + ":" + std::to_string(lineno) + ": line too long", exit_code::usage);
    auto line = util::trim(raw);
    if (line.empty() || line[0] == ';' || line[0] == '#') continue;
    if (line[0] == '[') {
      if (line.back() != ']')
        return make_error(name + ":" + std::to_string(lineno) + ": expected ']' to close the section name",
                          exit_code::usage);
      section = util::trim(line.substr(1, line.size() - 2));
      if (section.empty())
        return make_error(name + ":" + std::to_string(lineno) + ": empty section name", exit_code::usage);
      continue;
    }
    auto eq = line.find('=');
    if (eq == std::string::npos)
      return make_error(name + ":" + std::to_string(lineno) + ": expected 'key = value' or '[section]'",
                        exit_code::usage);
    if (section.empty())
      return make_error(name + ":" + std::to_string(lineno) + ": key outside of any [section]", exit_code::usage);
    auto key = util::trim(line.substr(0, eq));
    auto value = util::trim(line.substr(eq + 1));
    if (value.size() >= 2 && ((value.front() == '"' && value.back() == '"') ||
                              (value.front() == '\'' && value.back() == '\'')))
      value = value.substr(1, value.size() - 2);
    auto full = section + "." + key;
    const OptionSpec* spec = find_option(full);
    if (!spec) {
      if (warnings)
        warnings->push_back(name + ":" + std::to_string(lineno) + ": unknown key '" + key + "' in [" + section +
                            "] (ignored" + key_hint(full) + "; facecat-catalog --show-config lists the known keys)");
      continue;
    }
    out[spec->key] = IniEntry{value, lineno};
  }
  return out;
}

static Result<void> check_value(const OptionSpec& spec, const std::string& v, const std::string& origin) {
  auto bad = [&](const char* what) {
    return make_error(origin + ": " + spec.key + " = '" + v + "' is not " + what, exit_code::usage);
  };
  switch (spec.type) {
    case OptType::Int:
      if (!util::parse_int(v)) return bad("an integer");
      break;
    case OptType::Double:
      if (!util::parse_double(v)) return bad("a number");
      break;
    case OptType::Bool:
      if (!util::parse_bool(v)) return bad("a boolean (use true or false)");
      break;
    default:
      break;
  }
  return {};
}

Result<Config> Config::load(const LoadOptions& opts) {
  Config cfg;
  // 4. defaults
  for (const auto& s : option_specs()) {
    std::string v = s.def;
    if (s.type == OptType::Path) v = expand_user_path(v);
    cfg.values_[s.key] = Value{v, "default"};
  }
  // 3. config.ini
  std::optional<std::filesystem::path> file;
  bool required = false;
  if (opts.config_file) {
    file = *opts.config_file;
    required = true;
  } else if (const char* e = std::getenv("FACECAT_CONFIG"); e && *e) {
    file = e;
    required = true;
  } else if (std::filesystem::exists("config.ini")) {
    file = "config.ini";
  } else {
    auto xdg = std::filesystem::path(expand_user_path("$XDG_CONFIG_HOME/facecat/config.ini"));
    if (std::filesystem::exists(xdg)) file = xdg;
  }
  if (file) {
    auto text = util::read_file(*file, 1 << 20);
    if (!text) {
      if (required) return make_error("cannot read config file " + text.error().message, exit_code::usage);
      file.reset();
    } else {
      auto abs = std::filesystem::absolute(*file).lexically_normal();
      auto entries = parse_ini(*text, abs.string(), &cfg.warnings_);
      if (!entries) return entries.error();
      struct stat st {};
      bool others_can_read = ::stat(abs.c_str(), &st) == 0 && (st.st_mode & (S_IRGRP | S_IROTH));
      for (auto& [k, e] : *entries) {
        const OptionSpec* spec = find_option(k);
        std::string origin = abs.string() + ":" + std::to_string(e.line);
        if (spec->type == OptType::Secret && !e.value.empty() && others_can_read)
          return make_error(origin + ": " + k + " is a secret but " + abs.string() +
                                " is readable by others; run: chmod 600 " + abs.string(),
                            exit_code::usage);
        std::string v = e.value;
        if (spec->type == OptType::Path && !v.empty()) {
          v = expand_user_path(v);
          // Relative paths in config.ini are relative to the file, not to the current directory.
          if (std::filesystem::path(v).is_relative()) v = (abs.parent_path() / v).lexically_normal().string();
        }
        FACECAT_TRY(check_value(*spec, v, origin));
        cfg.values_[spec->key] = Value{v, origin};
      }
      cfg.file_ = abs;
    }
  }
  // 2. environment
  for (const auto& s : option_specs()) {
    const char* e = std::getenv(s.env);
    if (!e) continue;
    std::string v = e;
    if (s.type == OptType::Path && !v.empty()) v = expand_user_path(v);
    std::string origin = std::string("environment ") + s.env;
    FACECAT_TRY(check_value(s, v, origin));
    cfg.values_[s.key] = Value{v, origin};
  }
  // 1. command line
  for (const auto& [k, v] : opts.overrides) {
    const OptionSpec* spec = find_option(k);
    if (!spec) return make_error("unknown config key '" + k + "'" + key_hint(k), exit_code::usage);
    FACECAT_TRY(check_value(*spec, v, "command line"));
    cfg.values_[spec->key] = Value{v, "command line"};
  }
  // faces.models_dir not set (or set empty): search where installed software keeps its data (core/models_dir.hpp).
  if (cfg.values_["faces.models_dir"].value.empty()) {
    auto found = find_models_dir();
    cfg.values_["faces.models_dir"] = Value{found.dir.string(), found.origin};
  }
  return cfg;
}

const std::string& Config::get(const std::string& key) const {
  auto it = values_.find(key);
  if (it == values_.end()) throw std::logic_error("no such config key: " + key);
  return it->second.value;
}
const std::string& Config::origin(const std::string& key) const {
  auto it = values_.find(key);
  if (it == values_.end()) throw std::logic_error("no such config key: " + key);
  return it->second.origin;
}
std::filesystem::path Config::get_path(const std::string& key) const { return get(key); }
int64_t Config::get_int(const std::string& key) const { return util::parse_int(get(key)).value_or(0); }
double Config::get_double(const std::string& key) const { return util::parse_double(get(key)).value_or(0.0); }
bool Config::get_bool(const std::string& key) const { return util::parse_bool(get(key)).value_or(false); }
void Config::set(const std::string& key, std::string value, std::string origin) {
  values_[key] = Value{std::move(value), std::move(origin)};
}

std::string Config::show() const {
  std::string out;
  for (const auto& s : option_specs()) {
    const auto& v = values_.at(s.key);
    std::string shown = v.value;
    if (s.type == OptType::Secret && !shown.empty()) shown = "******** (set)";
    out += "(" + v.origin + ") " + s.key + " = " + shown + "\n";
  }
  return out;
}

}  // namespace facecat
