#include "tools/face_config.hpp"

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
