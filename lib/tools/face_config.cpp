#include "tools/face_config.hpp"

#include "core/exit_codes.hpp"
#include "core/tool.hpp"
#include "faces_store/pipeline.hpp"

namespace facecat::tools {

face::AnalyzerConfig analyzer_config(const Config& cfg) {
  face::AnalyzerConfig ac;
  ac.model.models_dir = cfg.get_path("faces.models_dir");
  ac.model.user_dat = cfg.get_path("faces.recognition_model");
  ac.model.backend = cfg.get("faces.descriptor_backend");
  ac.shape_predictor = cfg.get_path("faces.shape_predictor");
  return ac;
}

face::DetectParams detect_params(const Config& cfg) {
  // The ranges a detect pipeline accepts hold in every tool that finds faces (match, scenes, vk, digikam): a bad
  // value from the config, the environment or --set is a usage error (exit 2), not something to run with.
  faces_store::PipelineParams probe;
  for (const auto& [key, cfg_key] : {std::pair{"decode", "faces.decode"}, std::pair{"detector", "faces.detector"},
                                     std::pair{"min_face", "faces.min_face"},
                                     std::pair{"min_face_fraction", "faces.min_face_fraction"},
                                     std::pair{"upsample", "faces.upsample"},
                                     std::pair{"crop_margin", "faces.crop_margin"},
                                     std::pair{"jitter", "faces.jitter"}}) {
    auto r = faces_store::set_param(probe, key, cfg.get(cfg_key));
    if (!r) throw Fatal(cfg.origin(cfg_key) + ": " + cfg_key + ": " + r.error().message, exit_code::usage);
  }
  face::DetectParams dp;
  dp.min_face = static_cast<int>(cfg.get_int("faces.min_face"));
  dp.min_face_fraction = cfg.get_double("faces.min_face_fraction");
  dp.upsample = static_cast<int>(cfg.get_int("faces.upsample"));
  dp.max_pixels = cfg.get_int("faces.max_pixels");
  dp.reduced_decode = cfg.get("faces.decode") != "full";
  dp.crop_margin = cfg.get_double("faces.crop_margin");
  dp.detector = cfg.get("faces.detector");
  return dp;
}

}  // namespace facecat::tools
