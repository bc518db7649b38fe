#include <spdlog/spdlog.h>

#include "catalog/catalog.hpp"
#include "cluster/cluster.hpp"
#include "core/exit_codes.hpp"
#include "core/output.hpp"
#include "core/signals.hpp"
#include "core/tool.hpp"
#include "search/faces.hpp"
#include "tools/cluster_tool.hpp"
#include "tools/common.hpp"

namespace facecat::tools {

int cluster_main(int argc, char** argv) {
  CLI::App app{"facecat-cluster: group the catalog's faces into suggested people (chinese whispers over a k-NN graph).\n"
               "Incremental: new faces join close existing clusters and people; confirmed faces never move.\n"
               "Prints one JSON summary on stdout."};
  app.set_version_flag("--version", FACECAT_VERSION);
  CommonOptions common;
  add_common_options(app, common);
  double threshold = -1;
  int min_size = -1, k = -1;
  bool full = false;
  std::string model;
  app.add_option("--threshold", threshold, "link faces closer than this " + env_help("clustering.threshold"));
  app.add_option("--min-size", min_size, "smallest cluster that becomes a suggested person " +
                                             env_help("clustering.min_size"));
  app.add_option("-k,--neighbours", k, "neighbours per face in the graph " + env_help("clustering.neighbours"));
  app.add_flag("--full", full, "re-cluster the faces of suggested (unnamed) people from scratch; ids stay stable");
  app.add_option("--model", model, "descriptor model id (needed when the catalog holds several)");
  if (!parse_command_line(app, argc, argv)) return exit_code::ok;
  std::map<std::string, std::string> flags;
  if (threshold >= 0) flags["clustering.threshold"] = std::to_string(threshold);
  if (min_size >= 0) flags["clustering.min_size"] = std::to_string(min_size);
  if (k >= 0) flags["clustering.neighbours"] = std::to_string(k);
  Config cfg;
  if (!setup_tool("facecat-cluster", common, flags, cfg)) return exit_code::ok;

  auto cat = open_catalog(cfg, catalog::Mode::Write);
  auto model_id = value_or_throw(search::pick_model(cat.db(), model));
  if (model_id.empty()) {
    emit(json{{"event", "clustered"}, {"face_count", 0}});
    spdlog::info("no faces with descriptors in the catalog; run facecat-detect first");
    return exit_code::ok;
  }
  cluster::Options o;
  o.threshold = cfg.get_double("clustering.threshold");
  o.min_size = static_cast<int>(std::max<int64_t>(1, cfg.get_int("clustering.min_size")));
  o.k = static_cast<int>(std::max<int64_t>(1, cfg.get_int("clustering.neighbours")));
  o.shared_weights = cfg.get_bool("clustering.shared_weights");
  o.lone_margin = std::max(0.0, cfg.get_double("clustering.lone_margin"));
  o.full = full;
  o.engine.faiss_min = static_cast<size_t>(std::max<int64_t>(0, cfg.get_int("search.faiss_min")));
  o.engine.nprobe = static_cast<int>(cfg.get_int("search.nprobe"));
  // the graph is built over subsets of the faces that change every run: FAISS indexes stay in memory here
  catalog::Transaction tx(cat.db());
  auto st = value_or_throw(cluster::run(cat.db(), model_id, o));
  throw_if_interrupted();
  tx.commit();
  emit(json{{"event", "clustered"},
            {"model", model_id},
            {"face_count", st.faces},
            {"anchor_count", st.anchors},
            {"candidate_count", st.candidates},
            {"joined_count", st.joined},
            {"clustered_count", st.clustered},
            {"new_cluster_count", st.new_clusters},
            {"kept_cluster_count", st.kept_clusters},
            {"unclustered_count", st.unclustered},
            {"created_person_count", st.people_created},
            {"removed_person_count", st.people_removed},
            {"threshold", o.threshold},
            {"seconds", st.seconds}});
  spdlog::info("{} faces: {} joined existing people/clusters, {} in {} new clusters, {} left unclustered ({:.2f} s)",
               st.faces, st.joined, st.clustered, st.new_clusters, st.unclustered, st.seconds);
  return exit_code::ok;
}

}  // namespace facecat::tools
